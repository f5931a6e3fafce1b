"""`format: delta`: the Delta log read with delta-rs, the Glue definition, local queries over the log.

Most tables here are written with `deltalake` (delta-rs) to keep them small and fast; the Spark write
through delta-spark (jars of jvm/pom.xml) is tested in test_spark_write_delta_round_trip and
tests/test_pipeline_delta.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from conftest import SpyCatalog, events_table
from lakeloader import delta
from lakeloader.catalog.local import LocalCatalog
from lakeloader.catalog.tables import delta_table_input, is_delta_table, table_input
from lakeloader.config import AwsConfig, TableConfig, parse_config
from lakeloader.delta import (
    DELTA_SPARK_CONF,
    delta_available,
    delta_version,
    restore_delta,
    snapshot_partitions,
    write_delta,
)
from lakeloader.errors import ConfigError, InputError, QueryError, SchemaError
from lakeloader.hive import HIVE_DEFAULT_PARTITION
from lakeloader.query.duckdb import DuckDBEngine
from lakeloader.register import ensure_delta_table, planned_delta_columns

COLS = [{"Name": "id", "Type": "bigint"}, {"Name": "amount", "Type": "decimal(12,2)"}]
KEYS = [{"Name": "dt", "Type": "date"}, {"Name": "country", "Type": "string"}]
AMOUNT = pa.decimal128(12, 2)
D1, D2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
# (id, amount, dt, country): a null date, a null country, and a value that needs escaping in a path.
ROWS = [
    (1, "1.10", D1, "de"),
    (2, "2.20", D1, "de"),
    (3, "3.30", D1, "a/b"),
    (4, None, D2, "a/b"),
    (5, "5.50", D2, None),
    (6, "6.60", None, "fr"),
    (7, "7.70", None, "fr"),
]


def arrow(rows: list[tuple]) -> pa.Table:
    ids, amounts, dts, countries = zip(*rows, strict=False)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "amount": pa.array([Decimal(a) if a else None for a in amounts], AMOUNT),
            "dt": pa.array(dts, pa.date32()),
            "country": pa.array(countries, pa.string()),
        }
    )


def table_config(**overrides: Any) -> TableConfig:
    cfg = parse_config({"warehouse": "/wh", "tables": {"events": events_table(format="delta", **overrides)}}, "t.yaml")
    return cfg.tables["events"]


@pytest.fixture
def root(tmp_path) -> str:
    """A Delta table of ROWS partitioned by dt, country; its file:// URI (what config.table_location gives)."""
    path = tmp_path / "wh" / "demo" / "events"
    write_deltalake(str(path), arrow(ROWS), partition_by=["dt", "country"])
    return f"file://{path}"


@pytest.fixture
def catalog(tmp_path) -> LocalCatalog:
    return LocalCatalog(str(tmp_path / "catalog.sqlite"))


def counts(engine: DuckDBEngine) -> list[tuple]:
    return engine.query(
        "SELECT dt, country, count(*) AS n, sum(id) AS ids FROM demo.events GROUP BY dt, country "
        "ORDER BY dt NULLS LAST, country NULLS LAST"
    ).rows


# --------------------------------------------------------------------------- the Delta log


def test_snapshot_partitions_rows_per_partition(root):
    got = snapshot_partitions(root, ["dt", "country"])
    assert [(p.values, p.files, p.rows) for p in got] == [
        (["2026-01-01", "a/b"], 1, 1),
        (["2026-01-01", "de"], 1, 2),
        (["2026-01-02", HIVE_DEFAULT_PARTITION], 1, 1),
        (["2026-01-02", "a/b"], 1, 1),
        ([HIVE_DEFAULT_PARTITION, "fr"], 1, 2),
    ]
    by_values = {tuple(p.values): p for p in got}
    # The location is the directory the files are in, '/' escaped as in the path; bytes are the files' sizes.
    ab = by_values[("2026-01-01", "a/b")]
    assert ab.location == f"{root}/dt=2026-01-01/country=a%2Fb"
    files = list(Path(ab.location[len("file://") :]).glob("*.parquet"))
    assert ab.bytes == sum(f.stat().st_size for f in files) > 0
    assert by_values[(HIVE_DEFAULT_PARTITION, "fr")].location == f"{root}/dt={HIVE_DEFAULT_PARTITION}/country=fr"


def test_snapshot_partitions_null_and_empty_string_are_one_partition(tmp_path):
    path = str(tmp_path / "t")
    write_deltalake(path, pa.table({"id": [1, 2, 3], "c": pa.array([None, "", "x"], pa.string())}), partition_by=["c"])
    got = snapshot_partitions(path, ["c"])
    assert [(p.values, p.files, p.rows) for p in got] == [([HIVE_DEFAULT_PARTITION], 2, 2), (["x"], 1, 1)]


def test_snapshot_partitions_typed_values_use_the_logs_spelling(tmp_path):
    path = str(tmp_path / "t")
    data = pa.table({"id": [1, 2], "ok": [True, False], "y": pa.array([2024, 2025], pa.int32())})
    write_deltalake(path, data, partition_by=["ok", "y"])
    assert [p.values for p in snapshot_partitions(path, ["ok", "y"])] == [["false", "2025"], ["true", "2024"]]


def test_snapshot_partitions_after_overwrite_and_append_reads_only_live_files(root):
    path = root[len("file://") :]
    before = {tuple(p.values): p for p in snapshot_partitions(root, ["dt", "country"])}
    write_deltalake(path, arrow([(10, "1.00", D1, "de")]), mode="overwrite", predicate="country = 'de'")
    write_deltalake(path, arrow([(11, "1.00", D2, "a/b"), (12, "1.00", D2, "nl")]), mode="append")
    after = {tuple(p.values): (p.files, p.rows) for p in snapshot_partitions(root, ["dt", "country"])}
    assert after[("2026-01-01", "de")] == (1, 1)  # replaced: 2 rows became 1
    assert after[("2026-01-02", "a/b")] == (2, 2)  # appended to
    assert after[("2026-01-02", "nl")] == (1, 1)  # new
    assert after[("2026-01-01", "a/b")] == (1, 1)  # untouched
    # The replaced file is still on disk until VACUUM; the log no longer lists it.
    old_dir = Path(before[("2026-01-01", "de")].location[len("file://") :])
    assert len(list(old_dir.glob("*.parquet"))) == 2


def test_snapshot_partitions_without_stats_counts_from_footers(root):
    # Per-file stats are optional in the Delta protocol; drop them from the log.
    log_file = Path(root[len("file://") :]) / "_delta_log" / f"{0:020d}.json"
    actions = [json.loads(line) for line in log_file.read_text().splitlines()]
    for a in actions:
        a.get("add", {}).pop("stats", None)
    log_file.write_text("\n".join(json.dumps(a) for a in actions) + "\n")
    assert [p.rows for p in snapshot_partitions(root, ["dt", "country"])] == [1, 2, 1, 1, 2]


def test_snapshot_partitions_refuses_other_keys(root):
    with pytest.raises(InputError, match=r"partitioned by \['dt', 'country'\], not \['country'\]"):
        snapshot_partitions(root, ["country"])


def test_no_delta_table_is_one_line_error(tmp_path):
    with pytest.raises(InputError) as info:
        delta_version(f"file://{tmp_path}/nothing")
    assert str(info.value) == f"input error: file://{tmp_path}/nothing: no Delta table there (no _delta_log/)"


def test_delta_version_counts_commits(root):
    assert delta_version(root) == 0
    write_deltalake(root[len("file://") :], arrow(ROWS[:1]), mode="append")
    assert delta_version(root) == 1


def test_delta_version_of_no_table_when_missing_ok(tmp_path):
    assert delta_version(f"file://{tmp_path}/nothing", missing_ok=True) == -1


@pytest.mark.spark
def test_restore_undoes_later_commits(spark, root, catalog):
    path = root[len("file://") :]
    write_deltalake(path, arrow([(10, "1.00", D1, "de")]), mode="overwrite", predicate="country = 'de'")
    write_deltalake(path, arrow([(11, "1.00", D2, "nl")]), mode="append")
    assert restore_delta(spark, root, 0) == 3  # a new commit that brings back version 0's files
    assert [(p.values, p.rows) for p in snapshot_partitions(root, ["dt", "country"])] == [
        (["2026-01-01", "a/b"], 1),
        (["2026-01-01", "de"], 2),
        (["2026-01-02", HIVE_DEFAULT_PARTITION], 1),
        (["2026-01-02", "a/b"], 1),
        ([HIVE_DEFAULT_PARTITION, "fr"], 2),
    ]
    assert restore_delta(spark, root, 3) == 3  # already there: no commit


def test_storage_options_for_s3():
    aws = AwsConfig(region="eu-west-1", endpoint_url="http://127.0.0.1:5000")
    opts = delta.storage_options("s3a://bucket/wh/t", aws)
    assert {k: opts[k] for k in ("AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ALLOW_HTTP")} == {
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "AWS_ALLOW_HTTP": "true",
    }
    assert opts["AWS_ACCESS_KEY_ID"] == os.environ["AWS_ACCESS_KEY_ID"]  # resolved by boto3, passed on
    assert delta.storage_options("file:///wh/t", aws) == {}


# --------------------------------------------------------------------------- Glue definition


def test_delta_table_input_fields():
    ti = delta_table_input("events", COLS, KEYS, "s3://bucket/wh/demo/events")
    assert ti == {
        "Name": "events",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"EXTERNAL": "TRUE", "table_type": "DELTA", "spark.sql.sources.provider": "delta"},
        "PartitionKeys": [],
        "StorageDescriptor": {
            "Columns": [*COLS, *KEYS],
            "Location": "s3://bucket/wh/demo/events",
            "InputFormat": "org.apache.hadoop.mapred.SequenceFileInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveSequenceFileOutputFormat",
            "Compressed": False,
            "NumberOfBuckets": -1,
            "StoredAsSubDirectories": False,
            "SerdeInfo": {
                "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                "Parameters": {"serialization.format": "1", "path": "s3://bucket/wh/demo/events"},
            },
        },
    }


def test_is_delta_table():
    assert is_delta_table(delta_table_input("t", COLS, KEYS, "s3://b/t"))
    assert is_delta_table({"Parameters": {"table_type": "delta"}})  # Athena's CREATE
    assert is_delta_table({"Parameters": {"spark.sql.sources.provider": "DELTA"}})  # Spark / Trino
    assert not is_delta_table(table_input("t", COLS, KEYS, "s3://b/t"))
    assert not is_delta_table({"Parameters": {"table_type": "ICEBERG"}})


def test_ensure_delta_table_creates_without_partitions(catalog, root):
    ensure_delta_table(catalog, table_config(), COLS, KEYS, root, {"lakeloader.run_id": "r1"})
    got = catalog.get_table("demo", "events")
    expected = delta_table_input("events", COLS, KEYS, root)
    expected["Parameters"]["lakeloader.run_id"] = "r1"
    assert got == expected
    assert catalog.get_partitions("demo", "events") == []


def test_ensure_delta_table_evolves_and_keeps_foreign_parameters(tmp_path):
    catalog = SpyCatalog(str(tmp_path / "c.sqlite"))
    t = table_config()
    ensure_delta_table(catalog, t, COLS, KEYS, "s3://b/t")
    ensure_delta_table(catalog, t, COLS, KEYS, "s3://b/t")
    assert catalog.calls == ["create_table"]  # unchanged: no update
    owned = catalog.get_table("demo", "events")
    owned["Parameters"]["owner"] = "data-eng"  # set elsewhere
    catalog.update_table("demo", owned)
    catalog.calls.clear()
    wider = [{"Name": "device", "Type": "string"}, *COLS]
    assert planned_delta_columns(catalog, t, wider, KEYS) == [*COLS, *KEYS, {"Name": "device", "Type": "string"}]
    ensure_delta_table(catalog, t, wider, KEYS, "s3://b/t")
    got = catalog.get_table("demo", "events")
    assert catalog.calls == ["update_table"]
    assert got["StorageDescriptor"]["Columns"] == [*COLS, *KEYS, {"Name": "device", "Type": "string"}]
    assert got["Parameters"]["owner"] == "data-eng"
    assert got["Parameters"]["table_type"] == "DELTA"


def test_planned_delta_columns_refuses_drop_and_type_change(catalog):
    t = table_config()
    ensure_delta_table(catalog, t, COLS, KEYS, "s3://b/t")
    with pytest.raises(SchemaError, match="column 'amount' .* is missing from this run's input"):
        planned_delta_columns(catalog, t, COLS[:1], KEYS)
    with pytest.raises(SchemaError, match="column 'dt' changed type from date to string"):
        planned_delta_columns(catalog, t, COLS, [{"Name": "dt", "Type": "string"}, KEYS[1]])
    replaced = [{"Name": "id", "Type": "string"}]
    assert planned_delta_columns(catalog, table_config(schema_evolution="overwrite"), replaced, KEYS) == [
        *replaced,
        *KEYS,
    ]


def test_a_table_registered_by_spark_gets_its_columns(catalog):
    # What Spark's Hive catalog stores for `CREATE TABLE ... USING delta`: a placeholder schema and location.
    spark_made = delta_table_input("events", [{"Name": "col", "Type": "array<string>"}], [], "s3://b/t-__PLACEHOLDER__")
    del spark_made["Parameters"]["table_type"]
    spark_made["Parameters"]["spark.sql.create.version"] = "3.5.1"
    catalog.ensure_database("demo")
    catalog.create_table("demo", spark_made)
    ensure_delta_table(catalog, table_config(), COLS, KEYS, "s3://b/t")
    got = catalog.get_table("demo", "events")
    assert got["StorageDescriptor"]["Columns"] == [*COLS, *KEYS]
    assert got["StorageDescriptor"]["Location"] == "s3://b/t"
    assert got["StorageDescriptor"]["SerdeInfo"]["Parameters"]["path"] == "s3://b/t"
    assert got["Parameters"]["table_type"] == "DELTA" and got["Parameters"]["spark.sql.create.version"] == "3.5.1"


def test_planned_delta_columns_refuses_a_parquet_table(catalog):
    catalog.ensure_database("demo")
    catalog.create_table("demo", table_input("events", COLS, KEYS, "s3://b/t"))
    with pytest.raises(SchemaError) as info:
        planned_delta_columns(catalog, table_config(), COLS, KEYS)
    assert str(info.value) == (
        "schema error: demo.events: the catalog has it as a parquet table; "
        "format: delta needs a new table name (or drop the old table first)"
    )


# --------------------------------------------------------------------------- local queries (DuckDB)


def test_query_reads_the_delta_log(catalog, root):
    ensure_delta_table(catalog, table_config(), COLS, KEYS, root)
    engine = DuckDBEngine(catalog)
    assert counts(engine) == [
        (D1, "a/b", 1, 3),
        (D1, "de", 2, 3),
        (D2, "a/b", 1, 4),
        (D2, None, 1, 5),
        (None, "fr", 2, 13),
    ]
    res = engine.query("SELECT id, amount, dt, country FROM demo.events WHERE country = 'a/b' ORDER BY id")
    assert res.columns == ["id", "amount", "dt", "country"]
    assert res.rows == [(3, Decimal("3.30"), D1, "a/b"), (4, None, D2, "a/b")]


def test_query_sees_only_live_files_after_overwrite_and_append(catalog, root):
    ensure_delta_table(catalog, table_config(), COLS, KEYS, root)
    engine = DuckDBEngine(catalog)
    counts(engine)
    path = root[len("file://") :]
    write_deltalake(path, arrow([(10, "1.00", D1, "de")]), mode="overwrite", predicate="country = 'de'")
    write_deltalake(path, arrow([(11, "1.00", None, "fr")]), mode="append")
    assert counts(engine) == [
        (D1, "a/b", 1, 3),
        (D1, "de", 1, 10),
        (D2, "a/b", 1, 4),
        (D2, None, 1, 5),
        (None, "fr", 3, 24),
    ]


def test_query_new_column_in_later_files_is_null_in_earlier_ones(catalog, root):
    path = root[len("file://") :]
    extra = arrow([(20, "1.00", D1, "de")]).append_column("device", pa.array(["ios"]))
    write_deltalake(path, extra, mode="append", schema_mode="merge")
    ensure_delta_table(catalog, table_config(), [*COLS, {"Name": "device", "Type": "string"}], KEYS, root)
    rows = DuckDBEngine(catalog).query("SELECT id, device FROM demo.events WHERE country = 'de' ORDER BY id").rows
    assert rows == [(1, None), (2, None), (20, "ios")]


def test_query_of_a_delta_table_whose_files_are_gone_is_a_query_error(catalog, tmp_path):
    ensure_delta_table(catalog, table_config(), COLS, KEYS, f"file://{tmp_path}/missing")
    with pytest.raises(QueryError) as info:
        DuckDBEngine(catalog).query("SELECT count(*) FROM demo.events")
    assert str(info.value) == (
        f"query error: cannot read table demo.events: file://{tmp_path}/missing: no Delta table there (no _delta_log/)"
    )


# --------------------------------------------------------------------------- Glue and S3 (moto)


@pytest.mark.aws
def test_glue_registration_and_query_on_s3(moto_endpoint):
    from lakeloader.catalog.glue import GlueCatalog

    aws = AwsConfig(endpoint_url=moto_endpoint, region="us-east-1")
    bucket, database = f"delta-{uuid.uuid4().hex[:8]}", f"demo_{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    root = f"s3://{bucket}/wh/{database}/events"
    write_deltalake(root, arrow(ROWS), partition_by=["dt", "country"], storage_options=delta.storage_options(root, aws))
    assert [p.rows for p in snapshot_partitions(root, ["dt", "country"], aws)] == [1, 2, 1, 1, 2]
    assert delta_version(root, aws) == 0

    catalog = GlueCatalog(aws)
    ensure_delta_table(catalog, table_config(database=database), COLS, KEYS, root)
    glue = boto3.client("glue", endpoint_url=moto_endpoint, region_name="us-east-1")
    got = glue.get_table(DatabaseName=database, Name="events")["Table"]
    assert got["TableType"] == "EXTERNAL_TABLE"
    assert got["Parameters"] == {"EXTERNAL": "TRUE", "table_type": "DELTA", "spark.sql.sources.provider": "delta"}
    assert got.get("PartitionKeys", []) == []
    sd = got["StorageDescriptor"]
    assert sd["Location"] == root and sd["SerdeInfo"]["Parameters"]["path"] == root
    assert [(c["Name"], c["Type"]) for c in sd["Columns"]] == [(c["Name"], c["Type"]) for c in [*COLS, *KEYS]]
    assert glue.get_partitions(DatabaseName=database, TableName="events")["Partitions"] == []

    engine = DuckDBEngine(catalog, aws)
    sql = f"SELECT dt, country, count(*) FROM {database}.events GROUP BY 1, 2 ORDER BY 1 NULLS LAST, 2 NULLS LAST"
    assert engine.query(sql).rows == [(D1, "a/b", 1), (D1, "de", 2), (D2, "a/b", 1), (D2, None, 1), (None, "fr", 2)]


# --------------------------------------------------------------------------- Spark side


def test_delta_spark_conf():
    assert DELTA_SPARK_CONF == {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    }


class RecordingWriter:
    """Stands in for DataFrameWriter: records the calls write_delta makes."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __getattr__(self, name: str):
        def call(*args: Any) -> RecordingWriter:
            self.calls.append((name, *args))
            return self

        return call


class FakeFrame:
    def __init__(self) -> None:
        self.write = RecordingWriter()
        self.sparkSession = None


@pytest.mark.parametrize(
    ("mode", "evolution", "expected"),
    [
        ("append", "append", [("mode", "append"), ("option", "mergeSchema", "true")]),
        (
            "overwrite_partitions",
            "append",
            [("mode", "overwrite"), ("option", "partitionOverwriteMode", "dynamic"), ("option", "mergeSchema", "true")],
        ),
        (
            "overwrite",
            "append",
            [("mode", "overwrite"), ("option", "overwriteSchema", "false"), ("option", "mergeSchema", "true")],
        ),
        ("overwrite", "overwrite", [("mode", "overwrite"), ("option", "overwriteSchema", "true")]),
    ],
)
def test_write_delta_writer_settings(monkeypatch, mode, evolution, expected):
    monkeypatch.setattr(delta, "delta_available", lambda spark: True)
    df = FakeFrame()
    write_delta(df, "s3a://b/t", ["dt", "country"], mode, "zstd", 1000, evolution)
    calls = df.write.calls
    assert calls[0] == ("format", "delta")
    assert ("partitionBy", "dt", "country") in calls
    assert ("option", "compression", "zstd") in calls and ("option", "maxRecordsPerFile", 1000) in calls
    assert calls[-1] == ("save", "s3a://b/t")
    settings = [
        c for c in calls if c[0] == "mode" or c[1] in ("partitionOverwriteMode", "overwriteSchema", "mergeSchema")
    ]
    assert settings == expected


@pytest.mark.spark
def test_write_delta_without_delta_jvm_is_one_line_config_error(spark, tmp_path, monkeypatch):
    # The test session has delta-spark (make install); a cluster session without it (EMR's delta-defaults
    # off) is what this stands for.
    assert delta_available(spark)
    monkeypatch.setattr(delta, "delta_available", lambda spark: False)
    df = spark.createDataFrame([(1, "de")], "id bigint, country string")
    with pytest.raises(ConfigError) as info:
        write_delta(df, f"file://{tmp_path}/t", ["country"], "append", "snappy")
    msg = str(info.value)
    assert "\n" not in msg and "io.delta.tables.DeltaTable" in msg and "delta-defaults" in msg
    assert not (tmp_path / "t").exists()


@pytest.mark.spark
def test_spark_write_delta_round_trip(spark, tmp_path, catalog):
    from lakeloader.session import spark_uri

    root = f"file://{tmp_path}/wh/demo/events"
    schema = "id bigint, amount decimal(12,2), dt date, country string"
    df = spark.createDataFrame([(i, Decimal(a) if a else None, d, c) for i, a, d, c in ROWS], schema)
    write_delta(df, spark_uri(spark, root), ["dt", "country"], "overwrite_partitions", "zstd")
    assert [(p.values, p.rows) for p in snapshot_partitions(root, ["dt", "country"])] == [
        (["2026-01-01", "a/b"], 1),
        (["2026-01-01", "de"], 2),
        (["2026-01-02", HIVE_DEFAULT_PARTITION], 1),
        (["2026-01-02", "a/b"], 1),
        ([HIVE_DEFAULT_PARTITION, "fr"], 2),
    ]
    # overwrite_partitions replaces only the partitions in the data.
    again = spark.createDataFrame([(30, Decimal("1.00"), D1, "de")], schema)
    write_delta(again, spark_uri(spark, root), ["dt", "country"], "overwrite_partitions", "zstd")
    assert delta_version(root) == 1
    # Read back with deltalake's file list (its to_pyarrow_table/_dataset can abort the interpreter at exit).
    ids = [i for f in DeltaTable(root).file_uris() for i in pq.read_table(f, columns=["id"])["id"].to_pylist()]
    assert sorted(ids) == [3, 4, 5, 6, 7, 30]
    ensure_delta_table(catalog, table_config(), COLS, KEYS, root)
    assert counts(DuckDBEngine(catalog))[1] == (D1, "de", 1, 30)
