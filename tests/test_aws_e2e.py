"""The AWS path end to end on a moto server: Spark writes s3:// (through s3a), the table lands in Glue,
and an independent reader that knows only the database and table name reads every row back once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest
from pyarrow import fs as pafs

from conftest import events_table, expected_from_csv
from lakeloader import jvm
from lakeloader.cli import main
from lakeloader.sample import generate

pytestmark = [pytest.mark.spark, pytest.mark.aws, pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def lake(moto_endpoint, tmp_path_factory):
    jvm.require("spark", "s3a (these tests)")  # make install fetched them: a missing jar is a failure, not a skip
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    inp = tmp_path_factory.mktemp("aws-input") / "events"
    generate(inp, rows=6_000, files=2, days=2, bad_rows=3, seed=5)
    return {"bucket": bucket, "endpoint": moto_endpoint, "input": inp}


def aws_config(write_config, lake, database: str) -> str:
    return write_config(
        {"events": events_table(database=database)},
        warehouse=f"s3://{lake['bucket']}/warehouse",
        catalog={"kind": "glue"},
        aws={"region": "us-east-1", "endpoint_url": lake["endpoint"]},
    )


def read_through_glue(endpoint: str, database: str, table: str) -> tuple[dict, Counter]:
    """What a reader that only knows the Glue names sees: the table and rows per partition."""
    glue = boto3.client("glue", endpoint_url=endpoint, region_name="us-east-1")
    meta = glue.get_table(DatabaseName=database, Name=table)["Table"]
    s3 = pafs.S3FileSystem(endpoint_override=endpoint.split("://")[1], scheme="http", region="us-east-1")
    rows: Counter = Counter()
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table):
        for part in page["Partitions"]:
            location = part["StorageDescriptor"]["Location"]
            assert location.startswith("s3://")
            listing = s3.get_file_info(pafs.FileSelector(location[len("s3://") :], recursive=False))
            for f in listing:
                rows[tuple(part["Values"])] += pq.read_metadata(f.path, filesystem=s3).num_rows
    return meta, rows


def test_run_to_s3_and_glue_reads_back_every_row_once(write_config, lake, capsys):
    database = f"demo_{uuid.uuid4().hex[:6]}"
    cfg = aws_config(write_config, lake, database)
    assert main(["run", "--config", cfg, "--table", "events", "--input", str(lake["input"])]) == 0
    out = capsys.readouterr().out
    assert f"location   s3://{lake['bucket']}/warehouse/{database}/events" in out

    meta, rows = read_through_glue(lake["endpoint"], database, "events")
    expected = {
        (d, c if c is not None else "__HIVE_DEFAULT_PARTITION__"): n
        for (d, c), (n, _) in expected_from_csv(lake["input"]).items()
    }
    assert dict(rows) == expected
    # Types are what Athena expects for the input's Spark types.
    sd = meta["StorageDescriptor"]
    assert [(c["Name"], c["Type"]) for c in sd["Columns"]] == [
        ("event_id", "bigint"),
        ("event_ts", "timestamp"),
        ("user_id", "string"),
        ("device", "string"),
        ("amount", "decimal(12,2)"),
        ("status", "string"),
    ]
    assert [(k["Name"], k["Type"]) for k in meta["PartitionKeys"]] == [("dt", "date"), ("country", "string")]
    assert meta["Parameters"]["classification"] == "parquet" and meta["TableType"] == "EXTERNAL_TABLE"
    assert sd["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    # The table location holds only data files: bookkeeping lives under _lakeloader/.
    s3 = boto3.client("s3", endpoint_url=lake["endpoint"], region_name="us-east-1")
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=lake["bucket"], Prefix=f"warehouse/{database}/events/"
        )
        for o in page.get("Contents", [])
    ]
    # s3a keeps directory markers (empty keys ending in "/", fs.s3a.directory.marker.retention): no reader
    # takes them for files. Everything else is a data file in a version directory (no _SUCCESS, no __magic).
    files = [k for k in keys if not k.endswith("/")]
    assert files and all("/_v=" in k and Path(k).name.startswith("part-") and k.endswith(".parquet") for k in files)
    manifests = s3.list_objects_v2(Bucket=lake["bucket"], Prefix=f"warehouse/_lakeloader/{database}/events/manifests/")
    assert [o["Key"].rsplit("/", 1)[1].endswith(".json") for o in manifests["Contents"]] == [True]


def test_validate_and_query_read_s3_through_duckdb(write_config, lake, capsys):
    database = f"demo_{uuid.uuid4().hex[:6]}"
    cfg = aws_config(write_config, lake, database)
    assert main(["run", "--config", cfg, "--table", "events", "--input", str(lake["input"])]) == 0
    capsys.readouterr()
    assert main(["validate", "--config", cfg, "--table", "events"]) == 0
    assert "all checks passed" in capsys.readouterr().out
    sql = f"SELECT count(*) AS n, count(DISTINCT dt) AS days FROM {database}.events WHERE country = 'a/b'"
    assert main(["query", "--config", cfg, sql, "--format", "csv"]) == 0
    expected = sum(n for (d, c), (n, _) in expected_from_csv(lake["input"]).items() if c == "a/b")
    assert capsys.readouterr().out.splitlines() == ["n,days", f"{expected},2"]


def test_projected_table_on_s3_registers_no_partitions_and_athena_finds_every_row(write_config, lake, tmp_path, capsys):
    database = f"demo_{uuid.uuid4().hex[:6]}"
    inp = tmp_path / "projected"
    inp.mkdir()
    lines = [f"{i},2026-11-0{1 + i % 2} 10:00:00,u{i},{('US', 'GB', 'DE')[i % 3]},ios,1.25,ok" for i in range(300)]
    (inp / "part-0.csv").write_text("event_id,event_ts,user_id,country,device,amount,status\n" + "\n".join(lines))
    projection = {
        "dt": {"type": "date", "range": "2026-11-01,NOW"},
        "country": {"type": "enum", "values": ["US", "GB", "DE"]},
    }
    cfg = write_config(
        {"events": events_table(database=database, partition_projection=projection)},
        warehouse=f"s3://{lake['bucket']}/warehouse",
        catalog={"kind": "glue"},
        aws={"region": "us-east-1", "endpoint_url": lake["endpoint"]},
    )
    assert main(["run", "--config", cfg, "--table", "events", "--input", str(inp)]) == 0
    capsys.readouterr()
    glue = boto3.client("glue", endpoint_url=lake["endpoint"], region_name="us-east-1")
    assert glue.get_partitions(DatabaseName=database, TableName="events")["Partitions"] == []
    params = glue.get_table(DatabaseName=database, Name="events")["Table"]["Parameters"]
    template = params["storage.location.template"]
    assert (
        template
        == f"s3://{lake['bucket']}/warehouse/_lakeloader/{database}/events/symlink/dt=${{dt}}/country=${{country}}/"
    )
    # What Athena does: substitute projected values, read the manifest there, read the files it lists.
    s3 = pafs.S3FileSystem(endpoint_override=lake["endpoint"].split("://")[1], scheme="http", region="us-east-1")
    rows: Counter = Counter()
    for day in ("2026-10-31", "2026-11-01", "2026-11-02"):
        for country in params["projection.country.values"].split(","):
            location = template.replace("${dt}", day).replace("${country}", country)[len("s3://") :]
            if s3.get_file_info(location + "symlink.txt").type == pafs.FileType.NotFound:
                continue
            with s3.open_input_stream(location + "symlink.txt") as f:
                for target in f.read().decode().splitlines():
                    assert target.startswith(f"s3://{lake['bucket']}/warehouse/{database}/events/")
                    rows[(day, country)] += pq.read_metadata(target[len("s3://") :], filesystem=s3).num_rows
    assert dict(rows) == {(f"2026-11-0{1 + i % 2}", ("US", "GB", "DE")[i % 3]): 50 for i in range(6)}
    # lakeloader's DuckDB engine reads the same manifests from S3.
    assert main(["query", "--config", cfg, f"SELECT count(*) AS n FROM {database}.events", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["n", "300"]


def pending_uploads(s3, bucket: str, prefix: str) -> list[str]:
    return [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])]


def test_killed_write_to_s3_publishes_nothing_and_the_rerun_aborts_its_uploads(write_config, lake, tmp_path, capsys):
    """The S3A committer uploads each file as a multipart upload that only job commit completes: a kill
    before then leaves nothing visible, and the next run aborts what was left (S3 bills it otherwise)."""
    database = f"demo_{uuid.uuid4().hex[:6]}"
    cfg = write_config(
        {"events": events_table(database=database, max_records_per_file=20)},  # ~300 files: a wide window
        warehouse=f"s3://{lake['bucket']}/warehouse",
        catalog={"kind": "glue"},
        aws={"region": "us-east-1", "endpoint_url": lake["endpoint"]},
    )
    argv = ["run", "--config", cfg, "--table", "events", "--input", str(lake["input"]), "--run-id", "k"]
    s3 = boto3.client("s3", endpoint_url=lake["endpoint"], region_name="us-east-1")
    prefix = f"warehouse/{database}/events/"
    with open(tmp_path / "killed.log", "wb") as log:
        # Its own process group: the kill takes the JVM too, as kill -9 of a whole step would.
        proc = subprocess.Popen(
            [sys.executable, "-m", "lakeloader.cli", *argv], stdout=log, stderr=log, start_new_session=True
        )
        deadline, pause = time.monotonic() + 240, 0.02
        while not pending_uploads(s3, lake["bucket"], prefix) and proc.poll() is None:
            assert time.monotonic() < deadline, "no multipart upload started within 240 s"
            time.sleep(pause)
            pause = min(pause * 1.5, 0.2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -9, (tmp_path / "killed.log").read_text()[-2000:]
    assert pending_uploads(s3, lake["bucket"], prefix)  # the kill landed mid-write
    listing = s3.list_objects_v2(Bucket=lake["bucket"], Prefix=prefix).get("Contents", [])
    assert [o["Key"] for o in listing if o["Key"].endswith(".parquet")] == []  # nothing visible
    glue = boto3.client("glue", endpoint_url=lake["endpoint"], region_name="us-east-1")
    with pytest.raises(glue.exceptions.EntityNotFoundException):  # no table, so no partition, to read
        glue.get_table(DatabaseName=database, Name="events")

    assert main(argv) == 0
    capsys.readouterr()
    assert pending_uploads(s3, lake["bucket"], prefix) == []
    _, rows = read_through_glue(lake["endpoint"], database, "events")
    assert sum(rows.values()) == sum(n for n, _ in expected_from_csv(lake["input"]).values())


def test_delta_run_to_s3_registers_a_native_delta_table_in_glue(write_config, lake, capsys):
    """delta-spark writes through s3a to the moto server; Glue gets a native Delta table; DuckDB reads the log."""
    database = f"demo_{uuid.uuid4().hex[:6]}"
    cfg = write_config(
        {"events": events_table(database=database, format="delta")},
        warehouse=f"s3://{lake['bucket']}/warehouse",
        catalog={"kind": "glue"},
        aws={"region": "us-east-1", "endpoint_url": lake["endpoint"]},
    )
    assert main(["run", "--config", cfg, "--table", "events", "--input", str(lake["input"])]) == 0
    capsys.readouterr()
    glue = boto3.client("glue", endpoint_url=lake["endpoint"], region_name="us-east-1")
    meta = glue.get_table(DatabaseName=database, Name="events")["Table"]
    assert meta["Parameters"]["table_type"] == "DELTA" and meta.get("PartitionKeys", []) == []
    assert meta["StorageDescriptor"]["Location"] == f"s3://{lake['bucket']}/warehouse/{database}/events"
    sql = f"SELECT count(*) AS n FROM {database}.events"
    assert main(["query", "--config", cfg, sql, "--format", "csv"]) == 0
    expected = sum(n for n, _ in expected_from_csv(lake["input"]).values())
    assert capsys.readouterr().out.splitlines() == ["n", str(expected)]


def test_an_empty_athena_answer_to_the_audit_is_one_line_exit_1_and_nothing_published(write_config, lake, capsys):
    """moto's Athena answers a query it was not seeded with by no rows: the audit cannot count, so no publish."""
    database = f"demo_{uuid.uuid4().hex[:6]}"
    cfg = write_config(
        {"events": events_table(database=database)},
        warehouse=f"s3://{lake['bucket']}/warehouse",
        catalog={"kind": "glue"},
        query={"engine": "athena", "output_location": f"s3://{lake['bucket']}/athena-results/"},
        aws={"region": "us-east-1", "endpoint_url": lake["endpoint"]},
    )
    assert main(["run", "--config", cfg, "--table", "events", "--input", str(lake["input"])]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "IndexError" not in err
    line = err.strip().splitlines()[-1]  # after the progress log lines: the one error line
    assert line.startswith("query error: athena answered 0 rows where one was expected to: SELECT count(*)"), line
    assert f"FROM {database}.events__lakeloader_staging" in line
    glue = boto3.client("glue", endpoint_url=lake["endpoint"], region_name="us-east-1")
    assert [t["Name"] for t in glue.get_tables(DatabaseName=database)["TableList"]] == []  # no table, no staging
    s3 = boto3.client("s3", endpoint_url=lake["endpoint"], region_name="us-east-1")
    listed = s3.list_objects_v2(Bucket=lake["bucket"], Prefix=f"warehouse/{database}/events/")
    assert [o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith(".parquet")] == []


def test_superseded_s3_versions_wait_out_retain_for_then_vacuum_removes_them(
    write_config, lake, tmp_path, monkeypatch, capsys
):
    import datetime as dt

    from lakeloader import retention

    database = f"demo_{uuid.uuid4().hex[:6]}"
    cfg = aws_config(write_config, lake, database)
    newer = tmp_path / "newer"
    generate(newer, rows=1_000, files=1, days=2, seed=6)  # the same days: it supersedes the first run's partitions
    argv = ["--config", cfg, "--table", "events"]
    assert main(["run", *argv, "--input", str(lake["input"]), "--run-id", "r1"]) == 0
    assert main(["run", *argv, "--input", str(newer), "--run-id", "r2"]) == 0
    s3 = boto3.client("s3", endpoint_url=lake["endpoint"], region_name="us-east-1")

    def data_keys(version: str) -> list[str]:
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=lake["bucket"], Prefix=f"warehouse/{database}/events/"
        )
        keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
        return [k for k in keys if f"/_v={version}/" in k and not k.endswith("/")]

    before = data_keys("r1")
    assert before and data_keys("r2")  # r1's files stay readable for retain_for (1h)
    capsys.readouterr()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=61)
    monkeypatch.setattr(retention, "utcnow", lambda: later)
    assert main(["vacuum", *argv, "--dry-run"]) == 0
    assert "would remove" in capsys.readouterr().out and data_keys("r1")
    assert main(["vacuum", *argv]) == 0
    assert "removed" in capsys.readouterr().out
    # r1's partitions that r2 replaced are gone; what Glue points to is whole: exactly r2 over r1.
    _, rows = read_through_glue(lake["endpoint"], database, "events")
    expected = {
        (d, c if c is not None else "__HIVE_DEFAULT_PARTITION__"): n
        for (d, c), (n, _) in {**expected_from_csv(lake["input"]), **expected_from_csv(newer)}.items()
    }
    assert dict(rows) == expected
    glue = boto3.client("glue", endpoint_url=lake["endpoint"], region_name="us-east-1")
    live = {
        p["StorageDescriptor"]["Location"]
        for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName="events")
        for p in page["Partitions"]
    }
    left = data_keys("r1")  # only r1's partitions that r2 did not write, which are still live
    assert len(left) < len(before) and all(f"s3://{lake['bucket']}/{k.rsplit('/', 1)[0]}" in live for k in left)
