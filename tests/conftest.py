"""Shared fixtures: one local SparkSession for the whole run, a moto server, config builders."""

from __future__ import annotations

import csv
import datetime as dt
import os
import socket
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakeloader.catalog.local import LocalCatalog
from lakeloader.manifest import Manifest, PartitionStats
from lakeloader.sample import SCHEMA_DDL

# Spark and boto3 must never reach a real AWS account from tests.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """The one SparkSession of the test run (local, 2 cores, small shuffles).

    Its Hive metastore (used only by tests of Hive table sources) is a Derby database in a temp dir.
    """
    from lakeloader.session import build_session

    hive = tmp_path_factory.mktemp("hive")
    extra = {
        "spark.sql.shuffle.partitions": "4",
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={hive}/metastore_db;create=true",
        "spark.sql.warehouse.dir": str(hive / "warehouse"),
    }
    session = build_session("lakeloader-tests", extra, local=True)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto server on 127.0.0.1 at a free port, for S3 / Glue / Athena / EMR; its URL."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def checkout_snapshot(tmp_path_factory) -> Path:
    """A copy of what deploy-step and schedule package, so concurrent edits of the checkout cannot change it."""
    import shutil

    root = tmp_path_factory.mktemp("checkout")
    here = Path(__file__).resolve().parents[1]
    for name in ("setup.py", "pyproject.toml", "constraints.txt"):
        shutil.copy2(here / name, root / name)
    for name in ("lib", "jobs", "bootstrap"):
        shutil.copytree(here / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return root


@pytest.fixture(scope="session")
def code_bundle(checkout_snapshot, tmp_path_factory):
    """The wheel, code zip, job, constraints and bootstrap scripts, built once for the test run."""
    from lakeloader.emr import build_code

    return build_code(checkout_snapshot, tmp_path_factory.mktemp("dist"))


def events_table(**overrides: Any) -> dict[str, Any]:
    """A table config for the sample events CSV; keys in `overrides` replace the defaults."""
    table = {
        "database": "demo",
        "source": {
            "path": "unused",
            "format": "csv",
            "options": {"header": True, "escape": '"'},
            "schema": SCHEMA_DDL,
            "on_bad_records": "quarantine",
        },
        "partitions": [{"name": "dt", "from": "event_ts", "transform": "date"}, {"name": "country"}],
        "checks": [
            {"kind": "not_null", "column": "event_id"},
            {"kind": "unique", "columns": ["event_id"]},
            {"kind": "accepted_values", "column": "device", "values": ["ios", "android", "web"]},
        ],
    }
    table.update(overrides)
    return table


def build_manifest(partitions: Sequence[PartitionStats] = (), **fields: Any) -> Manifest:
    """A run's manifest for tests: a published run of demo.events, every field overridable by keyword."""
    defaults: dict[str, Any] = {
        "run_id": "r1",
        "database": "demo",
        "table": "events",
        "mode": "overwrite_partitions",
        "run_date": "2026-01-02",
        "status": "published",
        "table_location": "file:///wh/demo/events",
        "partition_keys": ["dt"],
        "schema": [],
        "input_uri": "in",
        "input_files": 1,
        "input_bytes": 1,
        "rows_read": 0,
        "rows_written": sum(p.rows for p in partitions),
        "bad_rows": 0,
        "quarantine_location": None,
    }
    return Manifest(**{**defaults, "partitions": list(partitions), **fields})


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a config YAML under tmp_path (warehouse and catalog inside it); returns its path."""

    def write(tables: dict[str, Any], **top: Any) -> str:
        body = {
            "warehouse": str(tmp_path / "warehouse"),
            "catalog": {"kind": "local", "path": str(tmp_path / "catalog.sqlite")},
            "tables": tables,
            **top,
        }
        path = tmp_path / "lakeloader.yaml"
        path.write_text(yaml.safe_dump(body, sort_keys=False))
        return str(path)

    return write


def expected_from_csv(folder: Path) -> dict[tuple[str, str | None], tuple[int, Decimal]]:
    """(date, country) -> (rows, sum of amount) computed from the raw files, skipping malformed lines."""
    out: dict[tuple[str, str | None], list] = defaultdict(lambda: [0, Decimal(0)])
    for f in sorted(folder.glob("*.csv")):
        with f.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                try:
                    int(row["event_id"])
                    ts = dt.datetime.strptime(row["event_ts"], "%Y-%m-%d %H:%M:%S")
                    amount = Decimal(row["amount"]) if row["amount"] else None
                except (ValueError, InvalidOperation):
                    continue
                acc = out[(ts.date().isoformat(), row["country"] or None)]
                acc[0] += 1
                acc[1] += amount or 0
    return {k: (v[0], v[1]) for k, v in out.items()}


def events_contents(cfg: str) -> dict:
    """(dt, country) -> (rows, sum of amount) of the published demo.events, queried like a user would."""
    from lakeloader.catalog import open_catalog
    from lakeloader.config import load_config
    from lakeloader.query import open_engine

    config = load_config(cfg)
    rows = (
        open_engine(config, open_catalog(config))
        .query("SELECT dt, country, count(*), coalesce(sum(amount), 0) FROM demo.events GROUP BY 1, 2")
        .rows
    )
    return {(d.isoformat(), c): (n, s) for d, c, n, s in rows}


class SpyCatalog(LocalCatalog):
    """A LocalCatalog that records which writes it was asked for."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.calls: list[str] = []

    def create_table(self, database: str, table_input: dict[str, Any]) -> None:
        self.calls.append("create_table")
        super().create_table(database, table_input)

    def update_table(self, database: str, table_input: dict[str, Any]) -> None:
        self.calls.append("update_table")
        super().update_table(database, table_input)

    def put_partitions(self, database: str, table: str, partitions: Any) -> None:
        self.calls.append("put_partitions")
        super().put_partitions(database, table, partitions)


@pytest.fixture(scope="session")
def hdfs(tmp_path_factory):
    """A local single-node HDFS (own JVM, free loopback port, own temp dir) for the whole run; its URI.

    Skips only when java itself is missing; missing jars fail (`make install` fetches them).
    """
    from lakeloader import hdfs_local

    why = hdfs_local.java_missing()
    if why:
        pytest.skip(why)
    cluster = hdfs_local.start(tmp_path_factory.mktemp("hdfs"))
    yield cluster.uri
    cluster.stop()


def hdfs_put(spark, local: Path, uri: str) -> None:
    """Replace `uri` on HDFS with a copy of a local file or directory, through Spark's own Hadoop client."""
    jvm = spark.sparkContext._jvm
    dst = jvm.org.apache.hadoop.fs.Path(uri)
    fs = dst.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    fs.delete(dst, True)
    fs.mkdirs(dst.getParent())
    fs.copyFromLocalFile(False, True, jvm.org.apache.hadoop.fs.Path(str(local)), dst)


# The rows of the legacy Hive table `legacy_db.events`: (ds, id, amount, ts, day, country); two inserts per ds.
LEGACY_ROWS = [
    ("2024-01-01", 1, "10.50", "2024-01-01 08:00:00", "2024-01-01", "DE"),
    ("2024-01-01", 2, "-3.25", "2024-01-01 09:30:00", "2024-01-01", "FR"),
    ("2024-01-02", 3, "99999999.99", "2024-01-02 00:00:01", "2024-01-02", "DE"),
    ("2024-01-02", 4, None, "2024-01-02 23:59:59", "2024-01-01", None),
    ("2024-01-02", 5, "0.01", "2024-01-02 12:00:00", "2024-01-02", "US"),
    ("2024-01-03", 6, "7.00", "2024-01-03 06:00:00", "2024-01-03", "US"),
]


@pytest.fixture(scope="session")
def legacy_hive(spark, hdfs):
    """A legacy Hive database `legacy_db` in the test metastore with data on the test HDFS; its location.

    `events`: external, Parquet, partitioned by `ds` (one directory per day, two files each), typed
    decimal / timestamp / date columns; `clicks_text`: the same rows in a text (SerDe) table; `dims`:
    unpartitioned. All created with Spark SQL, as a Hive user would.
    """
    from lakeloader.metastore import hive_session

    hive = hive_session(spark)
    root = f"{hdfs}/legacy"
    # The test process's SparkContext is often started by an in-process CLI run (tests/test_aws_e2e.py comes
    # first) before this module's `spark` fixture, so the Hive client uses Derby's default metastore under
    # .lakeloader/ rather than the fixture's temp one, and it outlives the run: a second `make test` in the
    # same checkout meets the first one's tables, which point at a dead HDFS. Start over.
    hive.sql("DROP DATABASE IF EXISTS legacy_db CASCADE")
    hive.sql("CREATE DATABASE legacy_db")
    columns = "id BIGINT, amount DECIMAL(12,2), ts TIMESTAMP, day DATE, country STRING"
    hive.sql(
        f"CREATE EXTERNAL TABLE legacy_db.events ({columns}) PARTITIONED BY (ds STRING) "
        f"STORED AS PARQUET LOCATION '{root}/events'"
    )
    hive.sql(
        f"CREATE EXTERNAL TABLE legacy_db.clicks_text ({columns}) PARTITIONED BY (ds STRING) "
        f"ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' STORED AS TEXTFILE LOCATION '{root}/clicks_text'"
    )
    hive.sql(
        f"CREATE EXTERNAL TABLE legacy_db.dims (code STRING, seen TIMESTAMP) STORED AS PARQUET LOCATION '{root}/dims'"
    )
    for ds in sorted({r[0] for r in LEGACY_ROWS}):
        rows = [r for r in LEGACY_ROWS if r[0] == ds]
        for half in (rows[:1], rows[1:]):  # two files per partition
            if not half:
                continue
            values = ", ".join(
                f"({i}, {'NULL' if a is None else f'CAST({a} AS DECIMAL(12,2))'}, TIMESTAMP'{ts}', DATE'{d}', "
                f"{'NULL' if c is None else repr(c)})"
                for _, i, a, ts, d, c in half
            )
            for table in ("events", "clicks_text"):
                hive.sql(f"INSERT INTO legacy_db.{table} PARTITION (ds='{ds}') VALUES {values}")
    hive.sql("INSERT INTO legacy_db.dims VALUES ('a', TIMESTAMP'2024-01-01 00:00:00')")
    return root
