"""`lakeloader migrate --from-hive`: a reviewable config from a Hive database, that loads and runs."""

from __future__ import annotations

import pytest
import yaml

from lakeloader.cli import main
from lakeloader.config import load_config
from lakeloader.migrate import HiveTable, table_entry


def test_partitioned_table_gets_its_keys_and_a_run_date_where_in_its_values_format():
    t = HiveTable("clicks", [("id", "bigint")], [("region", "string"), ("day", "string")], "region=eu/day=20240102")
    assert table_entry("legacy", t, "lake") == {
        "database": "lake",
        "source": {"table": "legacy.clicks", "where": "day = '{run_date:%Y%m%d}'"},
        "partitions": [{"name": "region"}, {"name": "day"}],
    }


def test_date_typed_key_and_no_sample_default_to_iso_dates():
    t = HiveTable("e", [("id", "bigint")], [("hour", "int"), ("load", "date")])
    assert table_entry("legacy", t, "lake")["source"]["where"] == "load = '{run_date:%Y-%m-%d}'"


def test_unpartitioned_table_is_partitioned_by_day_of_its_first_timestamp_or_skipped():
    t = HiveTable("dims", [("code", "string"), ("seen", "timestamp")], [])
    assert table_entry("legacy", t, "lake") == {
        "database": "lake",
        "source": {"table": "legacy.dims"},
        "partitions": [{"name": "dt", "from": "seen", "transform": "date"}],
    }
    assert table_entry("legacy", HiveTable("kv", [("k", "string")], []), "lake") is None


def test_help_explains(capsys):
    assert main(["migrate", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--from-hive" in out and "never overwritten" in out and "--force" in out


@pytest.mark.spark
def test_migrate_writes_a_config_that_loads_and_runs(spark, legacy_hive, tmp_path, capsys):
    out = tmp_path / "conf" / "migrated.yaml"
    warehouse = tmp_path / "warehouse"
    migrate = ["migrate", "--from-hive", "legacy_db", "--to-database", "lake", "--config", str(out)]
    assert main([*migrate, "--warehouse", str(warehouse)]) == 0
    assert "wrote" in capsys.readouterr().out
    config = load_config(str(out))
    events = config.table("events")
    assert (events.database, events.source.table, events.source.where) == (
        "lake",
        "legacy_db.events",
        "ds = '{run_date:%Y-%m-%d}'",
    )
    assert [p.name for p in events.partitions] == ["ds"]
    assert config.table("dims").partitions[0].from_ == "seen"
    assert {"events", "clicks_text", "dims"} <= set(config.tables)

    # A person runs what was written (catalog moved into the test's temp dir).
    catalog = f"catalog.path={tmp_path / 'catalog.sqlite'}"
    run = ["-q", "run", "--config", str(out), "--table", "events", "--run-date", "2024-01-03", "--set", catalog]
    assert main(run) == 0
    q = ["query", "--config", str(out), "--set", catalog, "--format", "csv", "SELECT id, ds FROM lake.events"]
    assert main(q) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "6,2024-01-03"

    # Never overwritten without --force; with it, replaced.
    before = out.read_text()
    assert main(["-q", *migrate, "--tables", "events"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"usage error: --config {out} exists and is never overwritten; pass --force to replace it"
    assert out.read_text() == before
    assert main(["-q", *migrate, "--tables", "events", "--force"]) == 0
    assert list(yaml.safe_load(out.read_text())["tables"]) == ["events"]


@pytest.mark.spark
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from-hive", "nope_db"], "input error: --from-hive nope_db: no such database in the Hive metastore"),
        (
            ["--from-hive", "legacy_db", "--tables", "evnts"],
            "no table 'evnts' in Hive database 'legacy_db' (did you mean 'events'?)",
        ),
        (["--from-hive", "legacy_db", "--to-database", "Bad-Name"], "--to-database 'Bad-Name'"),
    ],
)
def test_bad_arguments_are_one_line_exit_2_and_write_nothing(spark, legacy_hive, tmp_path, capsys, args, message):
    out = tmp_path / "c.yaml"
    assert main(["-q", "migrate", *args, "--config", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()
