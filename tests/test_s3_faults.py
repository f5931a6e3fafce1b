"""S3 faults during a run (issue #18.3): every S3 call of Spark (s3a), DuckDB (httpfs) and boto3 goes through
a fault-injecting proxy in front of the moto server. A run either publishes exactly the right rows or fails
with one line and publishes nothing; a rerun without faults converges; no multipart upload is left open.
docs/reliability.md's fault matrix names these tests."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from conftest import events_table, expected_from_csv
from lakeloader import jvm
from lakeloader.cli import main
from lakeloader.sample import generate
from s3_fault_proxy import FaultProxy

REGION = "us-east-1"


def duckdb_only(method: str, path: str, headers: Any) -> bool:
    """DuckDB's httpfs requests (the audit's reads), by their User-Agent."""
    return headers.get("User-Agent", "").startswith("duckdb/")


def s3_client(endpoint: str, attempts: int = 3) -> Any:
    config = BotoConfig(retries={"mode": "standard", "total_max_attempts": attempts})
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION, config=config)


# --------------------------------------------------------------------------- the proxy and each layer


@pytest.mark.aws
def test_the_proxy_injects_per_method_deterministically_and_counts(moto_endpoint):
    bucket = f"px-{uuid.uuid4().hex[:8]}"
    direct = s3_client(moto_endpoint)
    direct.create_bucket(Bucket=bucket)
    direct.put_object(Bucket=bucket, Key="k", Body=b"x")

    def decisions(seed: int) -> list:
        proxy = FaultProxy(moto_endpoint, {"GET": {"503": 0.3, "500": 0.2, "reset": 0.1}}, seed=seed)
        return [proxy.decide("GET", f"/{bucket}/k{i % 7}") for i in range(200)] + [proxy.decide("PUT", "/x")]

    first = decisions(1)
    assert first == decisions(1) and first != decisions(2)  # a seed fixes the faults, another changes them
    assert first[-1] is None  # PUT has no rates of its own and there is no "*"
    got = Counter(first[:-1])
    assert 40 < got["503"] < 80 and 20 < got["500"] < 60 and 5 < got["reset"] < 35

    with FaultProxy(moto_endpoint, {"GET": {"503": 1.0}}) as proxy:
        s3 = s3_client(proxy.url, attempts=4)
        s3.put_object(Bucket=bucket, Key="k", Body=b"y")  # PUT is not faulted
        with pytest.raises(ClientError, match="SlowDown"):
            s3.get_object(Bucket=bucket, Key="k")
    assert proxy.injected == Counter({("GET", "503"): 4})  # botocore's bound: 4 attempts, not more
    assert proxy.forwarded["PUT"] == 1 and proxy.forwarded["GET"] == 0


@pytest.mark.aws
def test_boto3_rides_out_503_500_resets_and_slow_answers(moto_endpoint):
    bucket = "px-boto3-faults"  # fixed paths: the seed then fixes every fault the test meets
    s3_client(moto_endpoint).create_bucket(Bucket=bucket)
    rates = {"*": {"503": 0.15, "500": 0.1, "reset": 0.1, "slow": 0.05}}
    with FaultProxy(moto_endpoint, rates, seed=3, slow_s=0.05) as proxy:
        s3 = s3_client(proxy.url, attempts=10)  # lakeloader's default aws.max_attempts
        for i in range(12):
            s3.put_object(Bucket=bucket, Key=f"k{i}", Body=str(i).encode())
        assert [s3.get_object(Bucket=bucket, Key=f"k{i}")["Body"].read() for i in range(12)] == [
            str(i).encode() for i in range(12)
        ]
    assert {fault for _, fault in proxy.injected} == {"503", "500", "reset", "slow"}


@pytest.mark.aws
def test_duckdb_reads_through_503_500_resets_and_slow_answers(moto_endpoint, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lakeloader.catalog.local import LocalCatalog
    from lakeloader.catalog.tables import partition_input, table_input
    from lakeloader.config import AwsConfig
    from lakeloader.query.duckdb import DuckDBEngine

    bucket = "px-duckdb-faults"  # fixed paths: the seed then fixes every fault the test meets
    s3 = s3_client(moto_endpoint)
    s3.create_bucket(Bucket=bucket)
    for i in range(8):
        path = tmp_path / f"{i}.parquet"
        pq.write_table(pa.table({"id": list(range(i * 100, i * 100 + 100))}), path)
        s3.put_object(Bucket=bucket, Key=f"t/part-{i}.parquet", Body=path.read_bytes())
    catalog = LocalCatalog(str(tmp_path / "catalog.sqlite"))
    catalog.ensure_database("d")
    columns = [{"Name": "id", "Type": "bigint"}]
    catalog.create_table("d", table_input("t", columns, [{"Name": "p", "Type": "string"}], f"s3://{bucket}"))
    catalog.put_partitions("d", "t", [partition_input(["x"], f"s3://{bucket}/t", columns)])
    # Only DuckDB's reads of the data files meet faults: the listing (boto3) is the test above's subject.
    rates = {"*": {"503": 0.25, "500": 0.1, "reset": 0.1, "slow": 0.05}}
    with FaultProxy(moto_endpoint, rates, seed=2, slow_s=0.05, match=duckdb_only) as proxy:
        engine = DuckDBEngine(catalog, AwsConfig(region=REGION, endpoint_url=proxy.url))
        assert engine.query("SELECT count(*), sum(id) FROM d.t").rows == [(800, sum(range(800)))]
        assert engine.query("SELECT count(*) FROM d.t WHERE id % 2 = 0").rows == [(400,)]
    assert {fault for _, fault in proxy.injected} >= {"503", "500", "reset"}


# --------------------------------------------------------------------------- the whole pipeline


@pytest.fixture(scope="module")
def lake(moto_endpoint, tmp_path_factory):
    jvm.require("spark", "s3a (these tests)")  # make install fetched them: a missing jar is a failure, not a skip
    bucket = f"faults-{uuid.uuid4().hex[:8]}"
    s3_client(moto_endpoint).create_bucket(Bucket=bucket)
    inp = tmp_path_factory.mktemp("faults-input") / "events"
    generate(inp, rows=1_500, files=2, days=2, bad_rows=2, seed=13)
    return {"bucket": bucket, "endpoint": moto_endpoint, "input": inp}


def run(write_config, lake, endpoint: str, database: str, *extra: str) -> int:
    # Partitioned by day only: two partitions, so a run makes few S3 requests and the test stays fast.
    by_day = [{"name": "dt", "from": "event_ts", "transform": "date"}]
    cfg = write_config(
        {"events": events_table(database=database, partitions=by_day)},
        warehouse=f"s3://{lake['bucket']}/warehouse",
        catalog={"kind": "glue"},
        # Fewer botocore attempts than the default 10 keep a test's retries (standard mode: up to 20 s apart) short.
        aws={"region": REGION, "endpoint_url": endpoint, "max_attempts": 5},
    )
    return main(["run", "--config", cfg, "--table", "events", "--input", str(lake["input"]), "--run-id", "r1", *extra])


def published_rows(lake, database: str) -> Counter:
    """Rows per partition of what the Glue table points at, read straight from moto (no faults)."""
    import pyarrow.parquet as pq
    from pyarrow import fs as pafs

    glue = boto3.client("glue", endpoint_url=lake["endpoint"], region_name=REGION)
    s3 = pafs.S3FileSystem(endpoint_override=lake["endpoint"].split("://")[1], scheme="http", region=REGION)
    rows: Counter = Counter()
    try:
        pages = list(glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName="events"))
    except glue.exceptions.EntityNotFoundException:
        return rows
    for page in pages:
        for part in page["Partitions"]:
            location = part["StorageDescriptor"]["Location"][len("s3://") :]
            for f in s3.get_file_info(pafs.FileSelector(location, recursive=False)):
                rows[tuple(part["Values"])] += pq.read_metadata(f.path, filesystem=s3).num_rows
    return rows


def expected_rows(lake) -> Counter:
    """Rows per day of the input (the table's one partition column)."""
    rows: Counter = Counter()
    for (day, _), (n, _) in expected_from_csv(lake["input"]).items():
        rows[(day,)] += n
    return rows


def open_uploads(lake) -> list[str]:
    s3 = s3_client(lake["endpoint"])
    return [u["Key"] for u in s3.list_multipart_uploads(Bucket=lake["bucket"]).get("Uploads", [])]


def assert_failed_in_one_line_and_published_nothing(err: str, lake, database: str) -> str:
    """The error line of a failed run, after checking it is one line and nothing was published."""
    assert "Traceback" not in err, err[-3000:]
    line = err.strip().splitlines()[-1]
    assert line.split(":")[0].endswith("error"), line  # "<kind> error: what, where"
    assert published_rows(lake, database) == Counter()
    glue = boto3.client("glue", endpoint_url=lake["endpoint"], region_name=REGION)
    names = [t["Name"] for t in glue.get_tables(DatabaseName=database)["TableList"]]
    assert "events" not in names and not [n for n in names if "staging" in n]
    return line


def check_run_under_faults(
    write_config, lake, capsys, rates: dict, seed: int = 0, **proxy_kw: Any
) -> tuple[int, str, Counter]:
    """One run through the proxy: exactly the input's rows published, or one line and nothing; no multipart
    upload left open; then a rerun without faults converges. (exit code, error line, what was injected)."""
    database = f"faults_{uuid.uuid4().hex[:6]}"
    line = ""
    with FaultProxy(lake["endpoint"], rates, seed=seed, **proxy_kw) as proxy:
        rc = run(write_config, lake, proxy.url, database)
        err = capsys.readouterr().err
        injected = Counter(proxy.injected)
        if rc == 0:
            assert published_rows(lake, database) == expected_rows(lake)
        else:
            line = assert_failed_in_one_line_and_published_nothing(err, lake, database)
        assert open_uploads(lake) == []
        proxy.rates = {}
        assert run(write_config, lake, proxy.url, database) == 0, capsys.readouterr().err[-3000:]
    capsys.readouterr()
    assert published_rows(lake, database) == expected_rows(lake)
    assert open_uploads(lake) == []
    return rc, line, injected


@pytest.mark.spark
@pytest.mark.aws
@pytest.mark.e2e
def test_a_run_under_s3_faults_publishes_exactly_its_rows_or_nothing(write_config, lake, capsys):
    """A few of every fault on every S3 request (s3a's writes, boto3's manifests, DuckDB's audit reads)."""
    rates = {"*": {"503": 0.05, "500": 0.03, "reset": 0.03, "slow": 0.02}}
    _, _, injected = check_run_under_faults(write_config, lake, capsys, rates, seed=18, slow_s=0.2)
    assert sum(injected.values()) >= 3, injected  # the run met faults (the seed fixes which)


@pytest.mark.spark
@pytest.mark.aws
@pytest.mark.e2e
def test_an_audit_whose_reads_keep_failing_fails_in_one_line_and_publishes_nothing(
    write_config, lake, capsys, monkeypatch
):
    """DuckDB's retries exhausted on every data file: the audit cannot count, so the run publishes nothing."""
    from lakeloader.query import duckdb as engine

    monkeypatch.setitem(engine.HTTP_RETRY_SETTINGS, "http_retry_wait_ms", 10)  # as many retries, shorter pauses
    rc, line, injected = check_run_under_faults(write_config, lake, capsys, {"GET": {"503": 1.0}}, match=duckdb_only)
    assert rc != 0 and line.startswith("query error: ") and "503" in line, line
    assert injected[("GET", "503")] >= 7  # DuckDB's first try and its 6 retries


@pytest.mark.spark
@pytest.mark.aws
@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_runs_under_heavy_s3_faults_publish_exactly_their_rows_or_nothing(write_config, lake, capsys, seed):
    """Three times the fast variant's rates, several seeds."""
    rates = {"*": {"503": 0.15, "500": 0.08, "reset": 0.07, "slow": 0.03}}
    _, _, injected = check_run_under_faults(write_config, lake, capsys, rates, seed=seed, slow_s=0.3)
    assert sum(injected.values()) >= 10, injected


@pytest.mark.spark
@pytest.mark.aws
@pytest.mark.e2e
@pytest.mark.slow
def test_an_s3a_write_whose_part_uploads_keep_failing_fails_in_one_line_and_publishes_nothing(
    write_config, lake, capsys
):
    """Every multipart part upload answered 503: s3a gives up within its bound (session.py), the run says so."""

    def part_uploads(method: str, path: str, headers: Any) -> bool:
        return "uploadId=" in path and "partNumber=" in path

    rc, line, injected = check_run_under_faults(write_config, lake, capsys, {"PUT": {"503": 1.0}}, match=part_uploads)
    assert rc != 0 and line.startswith("storage error: writing s3://") and "nothing was published" in line, line
    assert 0 < injected[("PUT", "503")] <= 4 * 7 * 4  # SDK x S3A throttle attempts, per task in flight
