"""spark_errors: a real Spark failure's cause chain names its error class and its Java exception."""

from __future__ import annotations

import pytest

from lakeloader.spark_errors import (
    ACCESS_DENIED,
    BLOCK_MISSING,
    MALFORMED_RECORD,
    Cause,
    cause_chain,
    find,
    hdfs_refused,
    input_file_vanished,
    storage_failure,
)

pytestmark = pytest.mark.spark


def failure(action) -> BaseException:
    with pytest.raises(Exception) as info:
        action()
    return info.value


def test_a_malformed_row_in_a_write_is_found_by_its_error_class(spark, tmp_path):
    (tmp_path / "in.csv").write_text("id,n\n1,2\nx,y\n")
    df = spark.read.option("header", True).option("mode", "FAILFAST").schema("id INT, n INT").csv(str(tmp_path))
    chain = cause_chain(failure(lambda: df.write.parquet(str(tmp_path / "out"))))
    hit = find(chain, error_class=MALFORMED_RECORD)
    assert hit is not None and hit.error_class.startswith(MALFORMED_RECORD + ".")
    assert "Malformed records are detected" in hit.message
    assert not input_file_vanished(chain)


def test_an_input_file_deleted_before_the_write_is_recognised(spark, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.csv").write_text("id\n1\n")
    df = spark.read.option("header", True).schema("id INT").csv(str(src))
    (src / "a.csv").unlink()
    chain = cause_chain(failure(lambda: df.write.parquet(str(tmp_path / "out"))))
    assert input_file_vanished(chain)
    assert find(chain, error_class=MALFORMED_RECORD) is None


def test_a_python_error_has_no_java_causes():
    assert cause_chain(ValueError("plain Python")) == []


# What HDFS's client raises, as the tests on a real HDFS (test_hdfs_faults.py) see it: on the driver the
# exception itself; from a task, only its text inside the job's abort message.
DENIED = 'Permission denied: user=alice, access=READ, inode="/secure/a.csv":bob:bob:-rwx------\n\tat org.apache'
MISSING = "Could not obtain block: BP-1-127.0.0.1-1:blk_1073741825_1001 file=/landing/a.csv No live nodes contain"


@pytest.mark.parametrize(
    ("chain", "reason"),
    [
        (
            [Cause(ACCESS_DENIED, None, DENIED)],
            'permission denied on HDFS (user=alice, access=READ, inode="/secure/a.csv":bob:bob:-rwx------)',
        ),
        (
            [Cause("org.apache.spark.SparkException", None, f"Job aborted: Lost task 0.0: {ACCESS_DENIED}: {DENIED}")],
            'permission denied on HDFS (user=alice, access=READ, inode="/secure/a.csv":bob:bob:-rwx------)',
        ),
        (
            [Cause("org.apache.spark.SparkException", None, f"Job aborted: {BLOCK_MISSING}: {MISSING}")],
            "no live DataNode holds a block of /landing/a.csv (a DataNode is down or unreachable)",
        ),
        (
            [Cause(ACCESS_DENIED, None, "Access to /secure refused by a plugin\n\tat org.apache")],
            "permission denied on HDFS (Access to /secure refused by a plugin)",
        ),
        ([Cause("java.io.IOException", None, "Connection reset by peer")], None),
        ([], None),
    ],
    ids=[
        "denied-on-driver",
        "denied-in-a-task",
        "block-missing-in-a-task",
        "denied-other-text",
        "other-io-error",
        "not-java",
    ],
)
def test_hdfs_refusals_are_named_in_one_line(chain, reason):
    assert hdfs_refused(chain) == reason


def test_an_s3_failure_is_the_innermost_cause_an_s3_client_raised():
    chain = [
        Cause("org.apache.spark.SparkException", "TASK_WRITE_FAILED", "Task failed while writing rows"),
        Cause("org.apache.hadoop.fs.s3a.AWSServiceThrottledException", None, "upload part: 503 SlowDown"),
        Cause("com.amazonaws.services.s3.model.AmazonS3Exception", None, "Please reduce your request rate."),
    ]
    assert storage_failure(chain) == chain[2]
    assert storage_failure(chain[:1]) is None
    assert storage_failure([]) is None
