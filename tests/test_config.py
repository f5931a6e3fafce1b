"""load_config / parse_config: typed settings, and errors that name the file and the key path."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import events_table
from lakeloader.config import (
    AwsConfig,
    CatalogConfig,
    CheckConfig,
    Config,
    PartitionRule,
    QueryConfig,
    SourceConfig,
    TableConfig,
    load_config,
    parse_config,
    render_source_path,
    resolve_input,
)
from lakeloader.errors import ConfigError, UsageError


def raw_config(tmp_path: Path, **table_overrides: Any) -> dict[str, Any]:
    return {
        "warehouse": str(tmp_path / "warehouse"),
        "catalog": {"kind": "local", "path": str(tmp_path / "catalog.sqlite")},
        "tables": {"events": events_table(**table_overrides)},
    }


def config_error(raw: dict[str, Any], source: str = "conf/test.yaml") -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, source)
    return str(info.value)


# --------------------------------------------------------------------------- a valid config


def test_valid_config_round_trip(write_config, tmp_path):
    path = write_config(
        {
            "events": events_table(
                mode="append",
                target_file_mb=128,
                checks=[
                    {"kind": "not_null", "column": "event_id"},
                    {"kind": "unique", "columns": ["event_id", "dt"]},
                    {"kind": "accepted_values", "column": "device", "values": ["ios", "web"], "severity": "warn"},
                    {"kind": "range", "column": "amount", "min": 0, "max": 1000.5},
                    {"kind": "row_count_change", "max_pct": 50},
                ],
                partitions=[
                    {"name": "dt", "from": "event_ts", "transform": "date"},
                    {"name": "country"},
                    {"name": "b", "from": "user_id", "transform": "bucket:16"},
                ],
            )
        },
        aws={"region": "eu-west-1", "endpoint_url": "http://127.0.0.1:5000"},
        spark={"spark.sql.shuffle.partitions": 8},
    )
    cfg = load_config(path)

    assert isinstance(cfg, Config)
    assert cfg.source_file == path
    assert cfg.warehouse == "file://" + str(tmp_path / "warehouse")
    assert cfg.catalog == CatalogConfig(kind="local", path=str(tmp_path / "catalog.sqlite"))
    assert cfg.aws == AwsConfig(region="eu-west-1", endpoint_url="http://127.0.0.1:5000")
    assert cfg.query == QueryConfig()
    assert cfg.spark == {"spark.sql.shuffle.partitions": "8"}  # Spark settings are strings
    assert list(cfg.tables) == ["events"]

    t = cfg.table("events")
    assert isinstance(t, TableConfig)
    assert (t.name, t.database, t.mode, t.target_file_mb) == ("events", "demo", "append", 128)
    # defaults
    assert (t.format, t.compression, t.max_records_per_file, t.schema_evolution, t.location) == (
        "parquet",
        "snappy",
        0,
        "append",
        None,
    )
    assert t.source == SourceConfig(
        path="unused",
        format="csv",
        options={"header": True, "escape": '"'},
        schema=events_table()["source"]["schema"],
        on_bad_records="quarantine",
    )
    # `from` in YAML is `from_` in Python
    assert t.partitions == [
        PartitionRule(name="dt", from_="event_ts", transform="date"),
        PartitionRule(name="country"),
        PartitionRule(name="b", from_="user_id", transform="bucket:16"),
    ]
    assert [r.source_column for r in t.partitions] == ["event_ts", "country", "user_id"]
    assert [r.buckets for r in t.partitions] == [None, None, 16]

    assert t.checks[0] == CheckConfig(kind="not_null", column="event_id")
    assert t.checks[1].key_columns == ["event_id", "dt"]
    assert t.checks[2].severity == "warn"
    assert t.checks[3].min == 0.0 and isinstance(t.checks[3].min, float)
    assert t.checks[3].max == 1000.5
    assert t.checks[4].max_pct == 50.0
    assert [c.severity for c in t.checks] == ["error", "error", "warn", "error", "error"]

    assert cfg.table_location(t) == "file://" + str(tmp_path / "warehouse" / "demo" / "events")
    assert cfg.admin_location(t) == "file://" + str(tmp_path / "warehouse" / "_lakeloader" / "demo" / "events")


def test_defaults_when_optional_sections_are_absent(tmp_path):
    cfg = parse_config({"warehouse": str(tmp_path), "tables": {"events": events_table()}}, "x.yaml")
    assert cfg.aws == AwsConfig(region="us-east-1", endpoint_url=None, retry_mode="standard", max_attempts=10)
    assert cfg.query.engine == "duckdb" and cfg.query.timeout_s == 600.0
    assert cfg.catalog.kind == "local"
    assert cfg.catalog.path == os.path.abspath(".lakeloader/catalog.sqlite")
    assert cfg.spark == {}
    t = cfg.tables["events"]
    assert (t.mode, t.format, t.target_file_mb) == ("overwrite_partitions", "parquet", 256)


def test_relative_warehouse_and_catalog_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = parse_config(
        {"warehouse": "lake/wh/", "catalog": {"path": "meta/cat.sqlite"}, "tables": {"events": events_table()}}
    )
    assert cfg.warehouse == f"file://{tmp_path}/lake/wh"
    assert cfg.catalog.path == f"{tmp_path}/meta/cat.sqlite"
    assert os.path.isabs(cfg.catalog.path)


@pytest.mark.parametrize(
    ("warehouse", "expected"),
    [
        ("file:///data/wh/", "file:///data/wh"),
        ("s3://bucket/prefix/", "s3://bucket/prefix"),
        ("s3a://bucket/prefix", "s3://bucket/prefix"),
        ("/abs/wh", "file:///abs/wh"),
    ],
)
def test_warehouse_normalised(warehouse, expected):
    cfg = parse_config({"warehouse": warehouse, "tables": {"events": events_table()}})
    assert cfg.warehouse == expected


def test_warehouse_home_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = parse_config({"warehouse": "~/wh", "tables": {"events": events_table()}})
    assert cfg.warehouse == f"file://{tmp_path}/wh"


def test_catalog_path_home_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = parse_config({"warehouse": "/wh", "catalog": {"path": "~/cat.sqlite"}, "tables": {"events": events_table()}})
    assert cfg.catalog.path == f"{tmp_path}/cat.sqlite"


def test_warehouse_unsupported_scheme(tmp_path):
    raw = raw_config(tmp_path)
    raw["warehouse"] = "ftp://host/wh"
    assert config_error(raw) == (
        "config error: conf/test.yaml: warehouse: 'ftp://host/wh': use a local path, file://, or s3://bucket/prefix"
    )


# --------------------------------------------------------------------------- errors naming file and key


def test_unknown_key_suggests_closest(tmp_path):
    raw = raw_config(tmp_path, partitons=[])
    msg = config_error(raw)
    assert msg == "config error: conf/test.yaml: tables.events.partitons: unknown key (did you mean 'partitions'?)"


def test_unknown_nested_key_names_full_path(tmp_path):
    raw = raw_config(tmp_path)
    raw["tables"]["events"]["source"]["on_bad_record"] = "drop"
    assert "conf/test.yaml: tables.events.source.on_bad_record: unknown key (did you mean 'on_bad_records'?)" in (
        config_error(raw)
    )
    raw = raw_config(tmp_path, partitions=[{"name": "dt", "form": "event_ts", "transform": "date"}])
    assert "conf/test.yaml: tables.events.partitions[0].form: unknown key (did you mean 'from'?)" in config_error(raw)


def test_unknown_top_level_key(tmp_path):
    raw = raw_config(tmp_path)
    raw["qurey"] = {"engine": "duckdb"}
    assert config_error(raw) == "config error: conf/test.yaml: qurey: unknown key (did you mean 'query'?)"


def test_wrong_type(tmp_path):
    msg = config_error(raw_config(tmp_path, target_file_mb="big"))
    assert msg == "config error: conf/test.yaml: tables.events.target_file_mb: expected int, got str 'big'"


@pytest.mark.parametrize(
    ("override", "key", "expected"),
    [
        ({"target_file_mb": True}, "target_file_mb", "expected int, got bool True"),
        ({"target_file_mb": 1.5}, "target_file_mb", "expected int, got float 1.5"),
        ({"partitions": "dt"}, "partitions", "expected a list, got str 'dt'"),
        ({"source": "s3://x"}, "source", "expected a mapping, got str 's3://x'"),
        ({"checks": [{"kind": "unique", "columns": "id"}]}, "checks[0].columns", "expected a list, got str 'id'"),
        ({"database": None}, "database", "expected str, got nothing"),
    ],
)
def test_wrong_types_name_the_key(tmp_path, override, key, expected):
    msg = config_error(raw_config(tmp_path, **override))
    assert msg == f"config error: conf/test.yaml: tables.events.{key}: {expected}"


def test_bad_enum_suggests(tmp_path):
    msg = config_error(raw_config(tmp_path, mode="apend"))
    assert msg == (
        "config error: conf/test.yaml: tables.events.mode: 'apend' is not one of "
        "append | overwrite_partitions | overwrite (did you mean 'append'?)"
    )


def test_bad_check_kind_suggests(tmp_path):
    msg = config_error(raw_config(tmp_path, checks=[{"kind": "not_nul", "column": "x"}]))
    assert "tables.events.checks[0].kind: 'not_nul' is not one of" in msg
    assert "(did you mean 'not_null'?)" in msg


@pytest.mark.parametrize("transform", ["dayz", "bucket:0", "bucket:", "bucket:-1", "bucket:x", "DATE"])
def test_bad_transform(tmp_path, transform):
    raw = raw_config(
        tmp_path, partitions=[{"name": "country"}, {"name": "p", "from": "event_ts", "transform": transform}]
    )
    msg = config_error(raw)
    assert msg.startswith(
        f"config error: conf/test.yaml: tables.events.partitions[1].transform: {transform!r} is not one of "
        "date, hour, month, year, bucket:N"
    )


def test_transform_without_from(tmp_path):
    msg = config_error(raw_config(tmp_path, partitions=[{"name": "dt", "transform": "date"}]))
    assert msg == (
        "config error: conf/test.yaml: tables.events.partitions[0].from: transform 'date' needs 'from: <input column>'"
    )


def test_duplicate_partition_names(tmp_path):
    msg = config_error(raw_config(tmp_path, partitions=[{"name": "dt"}, {"name": "country"}, {"name": "dt"}]))
    assert msg == "config error: conf/test.yaml: tables.events.partitions[2].name: 'dt' is used twice"


def test_no_partitions(tmp_path):
    msg = config_error(raw_config(tmp_path, partitions=[]))
    assert msg == "config error: conf/test.yaml: tables.events.partitions: at least one partition rule is required"


def test_uppercase_table_name(tmp_path):
    raw = raw_config(tmp_path)
    raw["tables"] = {"Events": events_table()}
    msg = config_error(raw)
    assert msg.startswith("config error: conf/test.yaml: tables.Events: table names are lowercase")


def test_uppercase_database_name(tmp_path):
    msg = config_error(raw_config(tmp_path, database="Demo"))
    assert msg.startswith("config error: conf/test.yaml: tables.events.database: 'Demo': lowercase")


def test_uppercase_partition_name(tmp_path):
    msg = config_error(raw_config(tmp_path, partitions=[{"name": "Country"}]))
    assert msg.startswith("config error: conf/test.yaml: tables.events.partitions[0].name: 'Country': lowercase")


def test_missing_source_path(tmp_path):
    raw = raw_config(tmp_path)
    del raw["tables"]["events"]["source"]["path"]
    assert config_error(raw) == (
        "config error: conf/test.yaml: tables.events.source.path: missing required key "
        "(or source.table, to read a Hive metastore table)"
    )


def test_missing_warehouse(tmp_path):
    raw = raw_config(tmp_path)
    del raw["warehouse"]
    assert config_error(raw) == "config error: conf/test.yaml: missing required key 'warehouse'"


@pytest.mark.parametrize("tables", [None, {}, ["events"]])
def test_tables_required(tmp_path, tables):
    raw = raw_config(tmp_path)
    raw["tables"] = tables
    assert config_error(raw) == "config error: conf/test.yaml: 'tables' must be a mapping with at least one table"


def test_non_positive_target_file_mb(tmp_path):
    msg = config_error(raw_config(tmp_path, target_file_mb=0))
    assert msg == "config error: conf/test.yaml: tables.events.target_file_mb: must be a positive number of MiB"


@pytest.mark.parametrize("template", ["in/{date}/", "in/{0}/", "in/{run_date", "in/{run_date!z}"])
def test_bad_run_date_placeholder(tmp_path, template):
    raw = raw_config(tmp_path)
    raw["tables"]["events"]["source"]["path"] = template
    msg = config_error(raw)
    assert msg.startswith("config error: conf/test.yaml: tables.events.source.path: bad placeholder")
    assert "{run_date:<strftime>}" in msg


@pytest.mark.parametrize("template", ["in/{run_date.foo}/", "in/{run_date[0]}/"])
def test_bad_run_date_placeholder_attribute_or_index(tmp_path, template):
    raw = raw_config(tmp_path)
    raw["tables"]["events"]["source"]["path"] = template
    msg = config_error(raw)
    assert "tables.events.source.path: bad placeholder" in msg


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ({"kind": "not_null"}, "not_null needs 'column'"),
        ({"kind": "unique"}, "unique needs 'columns: [..]' (or 'column')"),
        ({"kind": "unique", "columns": []}, "unique needs 'columns: [..]' (or 'column')"),
        ({"kind": "accepted_values", "values": ["a"]}, "accepted_values needs 'column'"),
        ({"kind": "accepted_values", "column": "device"}, "accepted_values needs 'values'"),
        ({"kind": "range", "min": 0}, "range needs 'column'"),
        ({"kind": "range", "column": "amount"}, "range needs 'min', 'max' or both"),
        ({"kind": "row_count_change"}, "row_count_change needs 'max_pct'"),
    ],
)
def test_check_missing_required_field(tmp_path, check, message):
    raw = raw_config(tmp_path, checks=[{"kind": "not_null", "column": "event_id"}, check])
    assert config_error(raw) == f"config error: conf/test.yaml: tables.events.checks[1]: {message}"


def test_accepted_values_empty_list_is_a_config_error(tmp_path):
    raw = raw_config(tmp_path, checks=[{"kind": "accepted_values", "column": "device", "values": []}])
    assert "tables.events.checks[0]" in config_error(raw)


@pytest.mark.parametrize(
    ("value", "seconds"), [(None, 3600.0), ("30m", 1800.0), ("1h30m", 5400.0), ("7d", 604800.0), (0, 0.0), ("0", 0.0)]
)
def test_retain_for_is_a_duration_defaulting_to_one_hour(tmp_path, value, seconds):
    raw = raw_config(tmp_path) if value is None else raw_config(tmp_path, retain_for=value)
    assert parse_config(raw).tables["events"].retain_for_s == seconds


@pytest.mark.parametrize("value", ["1 hour", "90", 3600, "-1h", "h", True, ""])
def test_a_bad_retain_for_is_a_one_line_config_error(tmp_path, value):
    msg = config_error(raw_config(tmp_path, retain_for=value))
    assert msg == (
        f"config error: conf/test.yaml: tables.events.retain_for: {value!r} is not a duration like "
        "1h, 30m, 1h30m, 45s, 7d or 0"
    )


def test_unique_with_single_column_is_accepted(tmp_path):
    cfg = parse_config(raw_config(tmp_path, checks=[{"kind": "unique", "column": "event_id"}]))
    assert cfg.tables["events"].checks[0].key_columns == ["event_id"]


# --------------------------------------------------------------------------- file-level errors


def test_malformed_yaml_names_file_line_and_column(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("warehouse: /wh\ntables:\n  events: [1, 2\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert msg.startswith(f"config error: {path}:4:1: malformed YAML: ")
    assert "\n" not in msg


def test_malformed_yaml_bad_indentation(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("warehouse: /wh\n  tables: x\n")
    with pytest.raises(ConfigError, match=rf"^config error: {path}:2:9: malformed YAML: "):
        load_config(str(path))


def test_file_not_found(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"config error: {path}: file not found"


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "list"), ("", "NoneType"), ("just text\n", "str")])
def test_top_level_not_a_mapping(tmp_path, text, kind):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"config error: {path}: expected a mapping at the top level, got {kind}"


def test_error_from_file_names_the_file(write_config):
    path = write_config({"events": events_table(mode="apend")})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"config error: {path}: tables.events.mode: 'apend'")


# --------------------------------------------------------------------------- --set overrides


def test_set_overrides(write_config, tmp_path):
    path = write_config({"events": events_table()})
    cfg = load_config(
        path,
        ["tables.events.mode=append", "tables.events.target_file_mb=64", "aws.endpoint_url=http://127.0.0.1:9"],
    )
    t = cfg.table("events")
    assert t.mode == "append"
    assert t.target_file_mb == 64
    assert cfg.aws.endpoint_url == "http://127.0.0.1:9"
    # the file itself is untouched
    assert yaml.safe_load(Path(path).read_text())["tables"]["events"].get("mode") is None


def test_set_override_is_validated(write_config):
    path = write_config({"events": events_table()})
    with pytest.raises(ConfigError) as info:
        load_config(path, ["tables.events.mode=apend"])
    assert f"{path}: tables.events.mode: 'apend' is not one of" in str(info.value)


def test_set_override_value_may_contain_equals(write_config):
    path = write_config({"events": events_table()})
    cfg = load_config(path, ["tables.events.source.path=hdfs:///in/k=v/{run_date:%Y}"])
    assert cfg.table("events").source.path == "hdfs:///in/k=v/{run_date:%Y}"


def test_set_override_without_equals(write_config):
    path = write_config({"events": events_table()})
    with pytest.raises(ConfigError) as info:
        load_config(path, ["tables.events.mode"])
    assert str(info.value) == (
        "config error: --set 'tables.events.mode': expected KEY=VALUE, e.g. tables.events.mode=append"
    )


def test_set_override_through_a_scalar(write_config):
    path = write_config({"events": events_table()})
    with pytest.raises(ConfigError) as info:
        load_config(path, ["warehouse.x=1"])
    assert str(info.value) == f"config error: --set 'warehouse.x=1': 'warehouse' in {path} is not a mapping"


# --------------------------------------------------------------------------- Config.table, source path


def test_table_wrong_name_suggests_closest(tmp_path):
    raw = raw_config(tmp_path)
    raw["tables"]["clicks"] = events_table()
    cfg = parse_config(raw, "conf/test.yaml")
    with pytest.raises(ConfigError) as info:
        cfg.table("evnts")
    assert str(info.value) == (
        "config error: conf/test.yaml: no table 'evnts' under 'tables' (did you mean 'events'?) "
        "(tables: clicks, events)"
    )


def test_table_location_override(tmp_path):
    cfg = parse_config(raw_config(tmp_path, location="s3://other/events/"))
    assert cfg.table_location(cfg.table("events")) == "s3://other/events"
    # bookkeeping stays under the warehouse, never under the table root
    assert cfg.admin_location(cfg.table("events")) == f"file://{tmp_path}/warehouse/_lakeloader/demo/events"


def test_render_source_path():
    day = dt.date(2026, 1, 2)
    assert render_source_path("hdfs:///data/events/{run_date:%Y/%m/%d}/", day) == "hdfs:///data/events/2026/01/02/"
    assert render_source_path("in/{run_date}/x", day) == "in/2026-01-02/x"
    assert render_source_path("in/dt={run_date:%Y%m%d}/{{literal}}", day) == "in/dt=20260102/{literal}"
    assert render_source_path("no/placeholder", day) == "no/placeholder"


def test_input_override_takes_the_same_templates_and_a_bad_one_names_input():
    day = dt.date(2026, 1, 2)
    assert resolve_input("in/{run_date}/", None, day) == "in/2026-01-02/"
    assert (
        resolve_input("in/{run_date}/", "hdfs:///x/{run_date:%Y/%m}/{{01,02}}/*", day) == "hdfs:///x/2026/01/{01,02}/*"
    )
    with pytest.raises(UsageError, match=r"^usage error: --input 'x/\{a,b\}': bad placeholder .* written \{\{a,b\}\}"):
        resolve_input("in/", "x/{a,b}", day)


@pytest.mark.parametrize(("section", "key"), [("spark", "spark"), ("emr", "emr.spark_conf"), ("tags", "emr.tags")])
def test_a_yaml_boolean_in_a_string_map_is_refused_not_turned_into_True(write_config, section, key):
    extra: dict[str, Any] = {
        "spark": {"spark": {"spark.sql.adaptive.enabled": True}},
        "emr": {"emr": {"spark_conf": {"spark.sql.adaptive.enabled": True}}},
        "tags": {"emr": {"tags": {"spark.sql.adaptive.enabled": False}}},
    }[section]
    path = write_config({"events": events_table()}, **extra)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    value = "False" if section == "tags" else "True"
    assert str(info.value) == (
        f"config error: {path}: {key}.spark.sql.adaptive.enabled: expected a string, got bool {value}; "
        f'quote it: "{value.lower()}"'
    )
    path = write_config({"events": events_table()}, spark={"spark.sql.adaptive.enabled": "true", "x.n": 4})
    assert load_config(path).spark == {"spark.sql.adaptive.enabled": "true", "x.n": "4"}  # numbers stay accepted


def test_the_athena_engine_with_a_local_catalog_is_refused_in_one_line(write_config, capsys):
    """Athena reads only Glue: with a local catalog it could never see what lakeloader registers."""
    from lakeloader.cli import main

    path = write_config({"events": events_table()}, query={"engine": "athena"})
    with pytest.raises(ConfigError, match=r"query.engine: athena reads the Glue catalog, but catalog.kind is local"):
        load_config(path)
    assert main(["query", "--config", path, "SELECT 1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "set catalog.kind: glue, or query.engine: duckdb" in err
    glue = write_config({"events": events_table()}, catalog={"kind": "glue"}, query={"engine": "athena"})
    assert load_config(glue).query.engine == "athena"
    assert load_config(glue, ["catalog.kind=local", "query.engine=duckdb"]).catalog.kind == "local"
