"""stats.partition_stats: per-partition rows, NULLs, min and max of written files, by the driver or one Spark job."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from lakeloader import stats, storage

pytestmark = pytest.mark.spark

SCHEMA = "p STRING, id BIGINT, name STRING, amount DECIMAL(10,2), day DATE, nothing STRING"
ROWS = [
    ("a", 3, "x", Decimal("1.50"), dt.date(2026, 1, 2), None),
    ("a", 1, None, Decimal("-2.00"), dt.date(2026, 1, 1), None),
    ("a", 7, "zz", None, dt.date(2026, 3, 1), None),
    ("a", 5, "b", Decimal("9.99"), None, None),
    ("a", None, "m", Decimal("0.01"), dt.date(2025, 12, 31), None),
    ("b", 10, "q", Decimal("4.00"), dt.date(2026, 2, 2), None),
    ("c", None, None, None, None, None),  # a partition of NULLs only
]


def expected(spark, df):
    """The same statistics, computed by Spark over the data itself (text, as in the manifest)."""
    cols = ["id", "name", "amount", "day", "nothing"]
    aggs = [F.count(F.lit(1)).alias("rows")]
    for c in cols:
        aggs += [(F.count(F.lit(1)) - F.count(c)).alias(f"{c}_n"), F.min(c).alias(f"{c}_lo"), F.max(c).alias(f"{c}_hi")]
    out = {}
    for r in df.groupBy("p").agg(*aggs).collect():
        text = {c: {"nulls": r[f"{c}_n"], "min": _text(r[f"{c}_lo"]), "max": _text(r[f"{c}_hi"])} for c in cols}
        out[r["p"]] = (r["rows"], text)
    return out


def _text(v):
    return None if v is None else str(v)


@pytest.fixture(params=[10, None], ids=["driver", "job"])
def expected_files(request):
    """Both ways the footers get read: by the driver's threads (a run expected to have few files) and by a
    Spark job (many, or an unknown number)."""
    return request.param


def test_statistics_equal_the_datas_per_partition_with_several_files_and_null_only_columns(
    spark, tmp_path, expected_files
):
    df = spark.createDataFrame(ROWS, SCHEMA)
    root = f"file://{tmp_path}/t"
    # Two rows per file: partition a is three files, so the statistics are merged across files (and tasks).
    df.repartition(3, "p").write.partitionBy("p").option("maxRecordsPerFile", 2).parquet(f"{root}/w")
    locations = [((p,), f"{root}/w/p={p}") for p in ("a", "b", "c", "missing")]
    got = stats.partition_stats(spark, root, locations, None, expected_files)
    assert [g.values for g in got] == [["a"], ["b"], ["c"], ["missing"]]
    assert [g.files for g in got] == [3, 1, 1, 0]
    want = expected(spark, df)
    for g in got[:3]:
        assert (g.rows, g.columns) == want[g.values[0]]
        listed = storage.list_files(g.location, suffix=".parquet")
        assert g.bytes == sum(f.size for f in listed)
    assert got[3].rows == 0 and got[3].columns == {}
    # Null-only: every value NULL, so no min or max, and the NULLs all counted.
    assert got[2].columns["nothing"] == {"nulls": 1, "min": None, "max": None}
    assert got[0].columns["nothing"] == {"nulls": 5, "min": None, "max": None}


def _jobs_run(spark, call):
    sc, group = spark.sparkContext, f"lakeloader-stats-{uuid.uuid4()}"
    sc.setJobGroup(group, "statistics")
    try:
        out = call()
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    return out, list(sc.statusTracker().getJobIdsForGroup(group))


def test_a_run_of_few_files_is_read_by_the_driver_without_a_job(spark, tmp_path):
    df = spark.createDataFrame(ROWS, SCHEMA)
    root = f"file://{tmp_path}/t"
    df.write.partitionBy("p").parquet(root + "/w")
    few = stats.DRIVER_MAX_FILES
    got, jobs = _jobs_run(spark, lambda: stats.partition_stats(spark, root, [(("a",), f"{root}/w/p=a")], None, few))
    assert got[0].rows == 5 and jobs == []


@pytest.mark.parametrize("expected", [stats.DRIVER_MAX_FILES + 1, None], ids=["many", "unknown"])
def test_a_run_of_many_files_is_read_by_one_job_not_the_driver(spark, tmp_path, monkeypatch, expected):
    """Their footers are read in Spark's Python workers (one job), not in the driver process."""
    df = spark.createDataFrame(ROWS, SCHEMA)
    root = f"file://{tmp_path}/t"
    df.write.partitionBy("p").parquet(root + "/w")

    def refuse(*_a, **_k):
        raise AssertionError("the driver read footers")

    monkeypatch.setattr(storage, "parquet_footers", refuse)
    got, jobs = _jobs_run(
        spark, lambda: stats.partition_stats(spark, root, [(("a",), f"{root}/w/p=a")], None, expected)
    )
    assert got[0].rows == 5 and len(jobs) == 1
