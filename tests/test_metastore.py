"""Hive metastore tables as a source: `source: {table, where}` read with partition pruning, on the test HDFS."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from conftest import LEGACY_ROWS
from lakeloader.catalog import open_catalog
from lakeloader.cli import main
from lakeloader.config import SourceConfig, load_config, parse_config
from lakeloader.errors import ConfigError
from lakeloader.listing import list_input
from lakeloader.metastore import hive_session, read_table
from lakeloader.query import open_engine
from lakeloader.source import read_input

pytestmark = pytest.mark.spark

WHERE = "ds = '{run_date:%Y-%m-%d}'"


def hive_table(table: str = "legacy_db.events", where: str | None = WHERE, **overrides) -> dict:
    source = {"table": table, **({"where": where} if where is not None else {})}
    return {"database": "lake", "source": source, "partitions": [{"name": "ds"}], **overrides}


def files_under(spark, uri: str) -> int:
    """Data files below `uri`, listed with Hadoop's own FileSystem (independently of lakeloader)."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    it = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).listFiles(path, True)
    n, prefix = 0, path.toUri().getPath().rstrip("/") + "/"
    while it.hasNext():
        below = it.next().getPath().toUri().getPath().removeprefix(prefix)
        n += not any(part.startswith(("_", ".")) for part in below.split("/"))  # Hive's .hive-staging dirs
    return n


def published(cfg: str, table: str = "lake.events") -> list[tuple]:
    config = load_config(cfg)
    engine = open_engine(config, open_catalog(config))
    return engine.query(f"SELECT ds, id, amount, ts, day, country FROM {table} ORDER BY id").rows


def only_manifest(config, table: str) -> dict:
    """The table's one run manifest, as JSON."""
    (path,) = Path(config.admin_location(config.table(table)).removeprefix("file://")).glob("manifests/*.json")
    return json.loads(path.read_text())


def expected(ds: str) -> list[tuple]:
    return [
        (d, i, None if a is None else Decimal(a), dt.datetime.fromisoformat(ts), dt.date.fromisoformat(day), c)
        for d, i, a, ts, day, c in LEGACY_ROWS
        if d == ds
    ]


def test_run_reads_only_the_run_dates_partition_with_types_carried_over(spark, legacy_hive, write_config, capsys):
    cfg = write_config({"events": hive_table()})
    assert main(["run", "--config", cfg, "--table", "events", "--run-date", "2024-01-02"]) == 0
    assert published(cfg) == expected("2024-01-02")

    config = load_config(cfg)
    glue_types = {
        c["Name"]: c["Type"] for c in open_catalog(config).get_table("lake", "events")["StorageDescriptor"]["Columns"]
    }
    assert glue_types == {
        "id": "bigint",
        "amount": "decimal(12,2)",
        "ts": "timestamp",
        "day": "date",
        "country": "string",
    }
    manifest = only_manifest(config, "events")
    # Pruned: the manifest's input is the files of ds=2024-01-02 only, not the table's.
    assert manifest["input_files"] == files_under(spark, f"{legacy_hive}/events/ds=2024-01-02") >= 2
    assert files_under(spark, f"{legacy_hive}/events") > manifest["input_files"]
    assert manifest["input_uri"] == "legacy_db.events where ds = '2024-01-02'"


def test_partition_filter_reaches_the_scan(spark, legacy_hive):
    src = load_config_source(hive_table())
    df = read_table(spark, src, dt.date(2024, 1, 3), "tables.events")
    plan = df._jdf.queryExecution().executedPlan().toString()
    assert "PartitionFilters: [isnotnull(ds" in plan and "(ds#" in plan and "= 2024-01-03)" in plan
    assert list_input(df, "events").files == 1


def test_rerun_is_a_noop_until_the_runs_partition_changes(spark, legacy_hive, write_config, capsys):
    hive = hive_session(spark)
    hive.sql(
        "CREATE EXTERNAL TABLE legacy_db.rerun (id BIGINT) PARTITIONED BY (ds STRING) "
        f"STORED AS PARQUET LOCATION '{legacy_hive}/rerun'"
    )
    insert = "INSERT INTO legacy_db.rerun PARTITION (ds='{}') VALUES ({})"
    hive.sql(insert.format("2024-01-01", 1))
    cfg = write_config({"rerun": hive_table("legacy_db.rerun")})
    run = ["run", "--config", cfg, "--table", "rerun", "--run-date", "2024-01-01"]
    assert main(run) == 0
    assert "published" in capsys.readouterr().out
    hive.sql(insert.format("2023-12-31", 2))  # another day's partition is not this run date's input
    assert main(run) == 0
    assert "already-published" in capsys.readouterr().out
    hive.sql(insert.format("2024-01-01", 3))
    assert main(run) == 0
    out = capsys.readouterr().out
    assert "published" in out and "already-published" not in out
    config = load_config(cfg)
    rows = open_engine(config, open_catalog(config)).query("SELECT id FROM lake.rerun ORDER BY id").rows
    assert rows == [(1,), (3,)]


def test_text_serde_table_is_pruned_too(spark, legacy_hive, write_config):
    cfg = write_config({"clicks": hive_table("legacy_db.clicks_text", database="lake")})
    assert main(["run", "--config", cfg, "--table", "clicks", "--run-date", "2024-01-02"]) == 0
    assert published(cfg, "lake.clicks") == expected("2024-01-02")
    config = load_config(cfg)
    manifest = only_manifest(config, "clicks")
    assert manifest["input_files"] == files_under(spark, f"{legacy_hive}/clicks_text/ds=2024-01-02") >= 2
    assert files_under(spark, f"{legacy_hive}/clicks_text") > manifest["input_files"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"table": "nope_db.events"}, "no database 'nope_db' in the Hive metastore"),
        ({"table": "legacy_db.nope"}, "no table 'nope' in Hive database 'legacy_db'"),
        (
            {"table": "legacy_db.events", "where": "ds = = '{run_date:%Y-%m-%d}'"},
            "source.where: \"ds = = '2024-01-02'\" is not a SQL condition",
        ),
        ({"table": "legacy_db.events", "where": "dss = '{run_date:%Y-%m-%d}'"}, "source.where: \"dss = '2024-01-02'\""),
    ],
)
def test_bad_table_or_where_is_one_line_exit_2_and_nothing_written(
    spark, legacy_hive, write_config, tmp_path, capsys, source, message
):
    cfg = write_config({"events": {"database": "lake", "source": source, "partitions": [{"name": "ds"}]}})
    assert main(["-q", "run", "--config", cfg, "--table", "events", "--run-date", "2024-01-02"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "warehouse").exists()


def test_a_run_date_without_partitions_is_one_line_exit_2(spark, legacy_hive, write_config, tmp_path, capsys):
    cfg = write_config({"events": hive_table()})
    assert main(["-q", "run", "--config", cfg, "--table", "events", "--run-date", "2030-01-01"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "input error: input not found: no data files at legacy_db.events where ds = '2030-01-01'"
    assert not (tmp_path / "warehouse").exists()


def test_a_file_source_never_starts_a_metastore_client(spark, tmp_path, monkeypatch):
    import lakeloader.metastore

    def refuse(_spark):
        raise AssertionError("a file source asked for the Hive metastore")

    monkeypatch.setattr(lakeloader.metastore, "hive_session", refuse)
    spark.range(3).write.parquet(str(tmp_path / "in"))
    src = SourceConfig(path=str(tmp_path / "in"), format="parquet")
    inp = read_input(spark, src, str(tmp_path / "in"), dt.date(2024, 1, 1), "tables.t")
    assert inp.df.count() == 3 and spark.conf.get("spark.sql.catalogImplementation") == "in-memory"


def test_input_flag_does_not_apply_to_a_table_source(spark, legacy_hive, write_config, capsys):
    cfg = write_config({"events": hive_table()})
    assert main(["run", "--config", cfg, "--table", "events", "--input", "/tmp/x"]) == 2
    assert "this table reads the Hive table legacy_db.events" in capsys.readouterr().err


def load_config_source(table: dict):
    return parse_config({"warehouse": "/tmp/unused", "tables": {"events": table}}).table("events").source


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"table": "legacy_db.events", "path": "/data", "format": "csv"}, "'path', 'format' cannot be set with it"),
        ({"table": "legacy_db.events", "on_bad_records": "drop"}, "'on_bad_records' cannot be set with it"),
        ({"table": "events"}, "source.table: 'events' is not database.table"),
        ({"table": "legacy_db.events", "where": "ds = '{day}'"}, "source.where: bad placeholder"),
        ({"path": "/data", "format": "csv", "where": "x = 1"}, "source.where: filters a Hive 'table' source"),
        ({"path": "/data"}, "source.format: missing required key"),
        ({}, "source.path: missing required key (or source.table"),
    ],
)
def test_source_keys_are_validated(source, message):
    with pytest.raises(ConfigError, match="tables.events.source") as e:
        load_config_source({"database": "lake", "source": source, "partitions": [{"name": "ds"}]})
    assert message in str(e.value)


def test_table_source_config_round_trips(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"warehouse": str(tmp_path), "tables": {"events": hive_table()}}))
    src = load_config(str(path)).table("events").source
    assert (src.table, src.where, src.path, src.format) == ("legacy_db.events", WHERE, None, None)
