"""Athena partition projection: config, validation, table properties, and registration without partitions."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from typing import Any

import boto3
import pytest

from conftest import SpyCatalog, events_table
from lakeloader.catalog.symlinks import SymlinkCatalog
from lakeloader.catalog.tables import projection_parameters, table_input
from lakeloader.config import ProjectionConfig, TableConfig, load_config, parse_config
from lakeloader.errors import CatalogError, ConfigError
from lakeloader.manifest import PartitionStats
from lakeloader.projection import unreachable
from lakeloader.register import Published, ensure_table, publish_partitions

ROOT = "s3://lake/warehouse/demo/events"
SYM = "s3://lake/warehouse/_lakeloader/demo/events/symlink"  # Config.symlink_location
COLS = [{"Name": "event_id", "Type": "bigint"}, {"Name": "amount", "Type": "decimal(12,2)"}]
KEYS = [{"Name": "dt", "Type": "date"}, {"Name": "country", "Type": "string"}]

# The four projection types over four partition keys: the example in conf/README.md.
PARTITIONS = [
    {"name": "dt", "from": "event_ts", "transform": "date"},
    {"name": "country"},
    {"name": "bucket", "from": "user_id", "transform": "bucket:16"},
    {"name": "tenant"},
]
PROJECTION = {
    "dt": {"type": "date", "range": "2020-01-01,NOW", "format": "yyyy-MM-dd", "interval": 1, "unit": "DAYS"},
    "country": {"type": "enum", "values": ["US", "GB", "DE"]},
    "bucket": {"type": "integer", "range": "0,15"},
    "tenant": {"type": "injected"},
}
SIMPLE = {"dt": {"type": "date", "range": "2020-01-01,NOW"}, "country": {"type": "enum", "values": ["US", "GB"]}}


def table_config(**overrides: Any) -> TableConfig:
    cfg = parse_config({"warehouse": "/wh", "tables": {"events": events_table(**overrides)}}, "conf/test.yaml")
    return cfg.tables["events"]


def projected(projection: dict[str, Any], partitions: Any = None) -> TableConfig:
    """The events table with `partition_projection` (and, when given, other partition rules)."""
    extra = {"partitions": partitions} if partitions is not None else {}
    return table_config(partition_projection=projection, **extra)


def config_error(projection: Any, partitions: Any = None) -> str:
    with pytest.raises(ConfigError) as info:
        projected(projection, partitions)
    return str(info.value)


def one_date(**entry: Any) -> dict[str, Any]:
    """SIMPLE with the `dt` entry replaced."""
    return {**SIMPLE, "dt": entry}


# --------------------------------------------------------------------------- parsing


def test_parses_every_projection_type():
    t = projected(PROJECTION, PARTITIONS)
    assert t.partition_projection == {
        "dt": ProjectionConfig(type="date", range="2020-01-01,NOW", format="yyyy-MM-dd", interval=1, unit="DAYS"),
        "country": ProjectionConfig(type="enum", values=["US", "GB", "DE"]),
        "bucket": ProjectionConfig(type="integer", range="0,15"),
        "tenant": ProjectionConfig(type="injected"),
    }


def test_no_projection_by_default():
    assert table_config().partition_projection == {}


def test_date_format_defaults_to_iso_date():
    t = projected(SIMPLE)
    assert t.partition_projection["dt"].format is None
    assert t.partition_projection["dt"].date_format == "yyyy-MM-dd"


def test_load_config_reads_projection_from_yaml(write_config):
    path = write_config({"events": events_table(partitions=PARTITIONS, partition_projection=PROJECTION)})
    t = load_config(path).table("events")
    assert t.partition_projection["bucket"] == ProjectionConfig(type="integer", range="0,15")


def test_errors_name_the_file(write_config):
    path = write_config({"events": events_table(partition_projection={"dt": SIMPLE["dt"]})})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"config error: {path}: tables.events.partition_projection: ")


@pytest.mark.parametrize(
    ("partitions", "entry"),
    [
        # identity partitions: lakeloader does not know the values' format, so any date format is accepted
        ([{"name": "day"}], {"type": "date", "range": "20200101,NOW", "format": "yyyyMMdd"}),
        ([{"name": "y", "from": "ts", "transform": "year"}], {"type": "integer", "range": "2020,2030"}),
        (
            [{"name": "y", "from": "ts", "transform": "year"}],
            {"type": "date", "range": "2020,NOW", "format": "yyyy", "interval": 1, "unit": "YEARS"},
        ),
        (
            [{"name": "m", "from": "ts", "transform": "month"}],
            {"type": "date", "range": "2020-01,NOW", "format": "yyyy-MM"},
        ),
        (
            [{"name": "h", "from": "ts", "transform": "hour"}],
            {"type": "date", "range": "2020-01-01-00,NOW", "format": "yyyy-MM-dd-HH", "interval": 1, "unit": "HOURS"},
        ),
        ([{"name": "dt", "from": "ts", "transform": "date"}], {"type": "date", "range": "NOW-3YEARS,NOW+1MONTH"}),
        ([{"name": "dt", "from": "ts", "transform": "date"}], {"type": "date", "range": " NOW - 7 DAYS , NOW"}),
        ([{"name": "n"}], {"type": "integer", "range": "-1,0001", "interval": 2, "digits": 4}),
        ([{"name": "b", "from": "id", "transform": "bucket:4"}], {"type": "integer", "range": "0,3", "digits": 1}),
        ([{"name": "b", "from": "id", "transform": "bucket:4"}], {"type": "enum", "values": ["0", "1", "2", "3"]}),
        ([{"name": "t"}], {"type": "injected"}),
    ],
)
def test_valid_entries(partitions, entry):
    name = partitions[0]["name"]
    assert projected({name: entry}, partitions).partition_projection[name].type == entry["type"]


# --------------------------------------------------------------------------- validation errors

P = "config error: conf/test.yaml: tables.events.partition_projection"


def test_every_partition_key_needs_an_entry():
    assert config_error({"dt": SIMPLE["dt"]}) == (
        f"{P}: no entry for partition 'country'; Athena needs one for every partition key"
    )


def test_missing_entries_are_all_named():
    msg = config_error({"dt": SIMPLE["dt"]}, PARTITIONS)
    assert msg.endswith(
        "no entry for partition 'country', 'bucket', 'tenant'; Athena needs one for every partition key"
    )


def test_entry_for_a_non_partition_is_an_error():
    assert config_error({**SIMPLE, "contry": {"type": "injected"}}) == (
        f"{P}.contry: 'contry' is not a partition of this table (did you mean 'country'?) (partitions: dt, country)"
    )


@pytest.mark.parametrize(
    ("projection", "expected"),
    [
        (["dt"], f"{P}: expected a mapping, got list ['dt']"),
        ({**SIMPLE, "dt": "date"}, f"{P}.dt: expected a mapping, got str 'date'"),
        (one_date(range="2020-01-01,NOW"), f"{P}.dt.type: missing required key"),
        (
            one_date(type="datetime", range="x"),
            f"{P}.dt.type: 'datetime' is not one of date | integer | enum | injected",
        ),
        (one_date(type="date", rnage="2020-01-01,NOW"), f"{P}.dt.rnage: unknown key (did you mean 'range'?)"),
        (one_date(type="date", range="2020-01-01,NOW", unit="DAY"), f"{P}.dt.unit: 'DAY' is not one of YEARS |"),
        (one_date(type="date", range="2020-01-01,NOW", interval="1"), f"{P}.dt.interval: expected int, got str '1'"),
        (
            {**SIMPLE, "country": {"type": "enum", "values": ["US", 1]}},
            f"{P}.country.values[1]: expected str, got int 1",
        ),
    ],
)
def test_shape_errors(projection, expected):
    assert config_error(projection).startswith(expected)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"type": "date"}, '.dt.range: type date needs range: "<start>,<end>", e.g. "2020-01-01,NOW"'),
        ({"type": "date", "range": "2020-01-01"}, ".dt.range: '2020-01-01' is not \"<start>,<end>\""),
        ({"type": "date", "range": "2020-01-01,NOW,NOW"}, ".dt.range: '2020-01-01,NOW,NOW' is not \"<start>,<end>\""),
        (
            {"type": "date", "range": "2020/01/01,NOW"},
            ".dt.range: '2020/01/01' is neither a date in format 'yyyy-MM-dd' nor NOW[+-<n><UNIT>]",
        ),
        (
            {"type": "date", "range": "2020-01-01,NOW-3DECADES"},
            ".dt.range: 'NOW-3DECADES' is neither a date in format 'yyyy-MM-dd' nor NOW[+-<n><UNIT>]",
        ),
        (
            {"type": "date", "range": "20200101,NOW", "format": "yyyyMMdd"},
            ".dt.format: 'yyyyMMdd' does not match the values transform 'date' writes (yyyy-MM-dd)",
        ),
        ({"type": "date", "range": "2020-01-01,NOW", "interval": 0}, ".dt.interval: must be a positive integer"),
        (
            {"type": "date", "range": "2020-01-01,NOW", "digits": 2},
            ".dt.digits: does not apply to type date (it takes range, format, interval, unit)",
        ),
        (
            {"type": "date", "range": "2020-01-01,NOW", "values": ["x"]},
            ".dt.values: does not apply to type date (it takes range, format, interval, unit)",
        ),
        (
            {"type": "integer", "range": "0,9"},
            ".dt.type: transform 'date' writes dates, not integers; use type: date",
        ),
    ],
)
def test_date_entry_errors(entry, expected):
    assert config_error(one_date(**entry)) == f"{P}{expected}"


def test_hour_precision_needs_interval_and_unit():
    partitions = [{"name": "h", "from": "ts", "transform": "hour"}]
    entry = {"type": "date", "range": "2020-01-01-00,NOW", "format": "yyyy-MM-dd-HH", "interval": 1}
    assert config_error({"h": entry}, partitions) == (
        f"{P}.h: format 'yyyy-MM-dd-HH' is not day or month precision, so Athena needs interval and unit"
    )


def test_year_precision_needs_interval_and_unit():
    partitions = [{"name": "y", "from": "ts", "transform": "year"}]
    msg = config_error({"y": {"type": "date", "range": "2020,NOW", "format": "yyyy"}}, partitions)
    assert msg == f"{P}.y: format 'yyyy' is not day or month precision, so Athena needs interval and unit"


def test_hour_transform_needs_its_format():
    partitions = [{"name": "h", "from": "ts", "transform": "hour"}]
    msg = config_error({"h": {"type": "date", "range": "2020-01-01,NOW"}}, partitions)
    assert msg == f"{P}.h.format: 'yyyy-MM-dd' does not match the values transform 'hour' writes (yyyy-MM-dd-HH)"


def test_date_projection_on_a_bucket_partition_is_refused():
    msg = config_error({**PROJECTION, "bucket": {"type": "date", "range": "2020-01-01,NOW"}}, PARTITIONS)
    assert msg == (
        f"{P}.bucket.type: transform 'bucket:16' writes bucket numbers, not dates; use type: integer, range: \"0,15\""
    )


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"type": "integer"}, '.bucket.range: type integer needs range: "<min>,<max>", e.g. "0,15"'),
        ({"type": "integer", "range": "0-15"}, """.bucket.range: '0-15' is not "<min>,<max>" with two integers"""),
        ({"type": "integer", "range": "0,x"}, """.bucket.range: '0,x' is not "<min>,<max>" with two integers"""),
        ({"type": "integer", "range": "15,0"}, ".bucket.range: '15,0': the minimum is greater than the maximum"),
        ({"type": "integer", "range": "0,15", "digits": 0}, ".bucket.digits: must be a positive integer"),
        (
            {"type": "integer", "range": "0,15", "digits": 2},
            ".bucket.digits: transform 'bucket:16' writes bucket numbers without leading zeros; drop digits",
        ),
        (
            {"type": "integer", "range": "0,15", "unit": "DAYS"},
            ".bucket.unit: does not apply to type integer (it takes range, interval, digits)",
        ),
        ({"type": "enum"}, ".bucket.values: type enum needs a non-empty list of values"),
        ({"type": "enum", "values": []}, ".bucket.values: type enum needs a non-empty list of values"),
        (
            {"type": "enum", "values": ["1", "2,3"]},
            ".bucket.values[1]: '2,3' cannot be projected (empty, or contains ',')",
        ),
        ({"type": "enum", "values": [""]}, ".bucket.values[0]: '' cannot be projected (empty, or contains ',')"),
        (
            {"type": "enum", "values": ["1"], "range": "0,1"},
            ".bucket.range: does not apply to type enum (it takes values)",
        ),
        (
            {"type": "injected", "values": ["1"]},
            ".bucket.values: does not apply to type injected (it takes no other keys)",
        ),
    ],
)
def test_integer_enum_injected_errors(entry, expected):
    assert config_error({**PROJECTION, "bucket": entry}, PARTITIONS) == f"{P}{expected}"


# --------------------------------------------------------------------------- table properties


def test_parameters_for_every_type():
    assert projection_parameters(projected(PROJECTION, PARTITIONS), SYM) == {
        "projection.enabled": "true",
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": "2020-01-01,NOW",
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
        "projection.country.type": "enum",
        "projection.country.values": "US,GB,DE",
        "projection.bucket.type": "integer",
        "projection.bucket.range": "0,15",
        "projection.tenant.type": "injected",
        "storage.location.template": f"{SYM}/dt=${{dt}}/country=${{country}}/bucket=${{bucket}}/tenant=${{tenant}}/",
    }


def test_parameters_date_defaults():
    assert projection_parameters(projected(SIMPLE), SYM + "/") == {
        "projection.enabled": "true",
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": "2020-01-01,NOW",
        "projection.country.type": "enum",
        "projection.country.values": "US,GB",
        "storage.location.template": f"{SYM}/dt=${{dt}}/country=${{country}}/",
    }


def test_parameters_integer_interval_and_digits():
    t = projected({"n": {"type": "integer", "range": "1,999", "interval": 5, "digits": 3}}, [{"name": "n"}])
    assert projection_parameters(t, SYM) == {
        "projection.enabled": "true",
        "projection.n.type": "integer",
        "projection.n.range": "1,999",
        "projection.n.interval": "5",
        "projection.n.digits": "3",
        "storage.location.template": f"{SYM}/n=${{n}}/",
    }


def test_parameters_follow_partition_order_not_config_order():
    reordered = {k: PROJECTION[k] for k in reversed(PROJECTION)}
    params = projection_parameters(projected(reordered, PARTITIONS), SYM)
    assert params["storage.location.template"].endswith(
        "/dt=${dt}/country=${country}/bucket=${bucket}/tenant=${tenant}/"
    )


def test_no_projection_no_parameters():
    assert projection_parameters(table_config(), SYM) == {}


# --------------------------------------------------------------------------- registration


@pytest.fixture
def catalog(tmp_path):
    return SpyCatalog(str(tmp_path / "catalog.sqlite"))


def test_ensure_table_stores_projection_parameters(catalog):
    t = projected(SIMPLE)
    ensure_table(catalog, t, COLS, KEYS, ROOT, SYM)
    got = catalog.get_table("demo", "events")
    assert got == table_input("events", COLS, KEYS, ROOT, projection_parameters(t, SYM))
    assert got["Parameters"]["projection.enabled"] == "true"
    assert got["Parameters"]["storage.location.template"] == f"{SYM}/dt=${{dt}}/country=${{country}}/"
    assert got["Parameters"]["classification"] == "parquet"  # the Parquet table properties are still there
    # Each projected location holds a manifest of Parquet files, read through the symlink input format.
    assert got["StorageDescriptor"]["InputFormat"] == "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
    assert got["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert got["StorageDescriptor"]["Location"] == ROOT  # a lister of the table root still finds only data


def test_ensure_table_needs_the_symlink_root_for_a_projected_table(catalog):
    with pytest.raises(ValueError, match="symlink root"):
        ensure_table(catalog, projected(SIMPLE), COLS, KEYS, ROOT)


def test_ensure_table_unchanged_projection_does_not_update(catalog):
    t = projected(SIMPLE)
    ensure_table(catalog, t, COLS, KEYS, ROOT, SYM)
    ensure_table(catalog, t, COLS, KEYS, ROOT, SYM)
    assert catalog.calls == ["create_table"]


def test_ensure_table_adds_projection_to_an_existing_table(catalog):
    ensure_table(catalog, table_config(), COLS, KEYS, ROOT)
    catalog.update_table("demo", table_input("events", COLS, KEYS, ROOT, {"owner": "data-eng"}))
    catalog.calls.clear()
    t = projected(SIMPLE)
    assert ensure_table(catalog, t, COLS, KEYS, ROOT, SYM) == COLS
    assert catalog.calls == ["update_table"]
    params = catalog.get_table("demo", "events")["Parameters"]
    assert params["owner"] == "data-eng"  # set elsewhere: kept
    assert {k: params[k] for k in projection_parameters(t, SYM)} == projection_parameters(t, SYM)


def test_ensure_table_follows_changed_projection(catalog):
    ensure_table(catalog, projected(SIMPLE), COLS, KEYS, ROOT, SYM)
    wider = {**SIMPLE, "country": {"type": "enum", "values": ["US", "GB", "FR"]}}
    ensure_table(catalog, projected(wider), COLS, KEYS, ROOT, SYM)
    assert catalog.get_table("demo", "events")["Parameters"]["projection.country.values"] == "US,GB,FR"


def test_ensure_table_removes_projection_the_config_dropped(catalog):
    ensure_table(catalog, projected(SIMPLE), COLS, KEYS, ROOT, SYM)
    current = catalog.get_table("demo", "events")
    catalog.update_table("demo", {**current, "Parameters": {**current["Parameters"], "owner": "data-eng"}})
    ensure_table(catalog, table_config(), COLS, KEYS, ROOT, SYM)
    params = catalog.get_table("demo", "events")["Parameters"]
    assert not [k for k in params if k.startswith("projection.") or k == "storage.location.template"]
    assert params["owner"] == "data-eng"
    assert catalog.get_table("demo", "events")["StorageDescriptor"]["InputFormat"].endswith("MapredParquetInputFormat")


def test_ensure_table_with_projection_still_evolves_columns(catalog):
    t = projected(SIMPLE)
    ensure_table(catalog, t, COLS, KEYS, ROOT, SYM)
    new = [*COLS, {"Name": "device", "Type": "string"}]
    assert ensure_table(catalog, t, new, KEYS, ROOT, SYM) == new
    got = catalog.get_table("demo", "events")
    assert got["StorageDescriptor"]["Columns"] == new
    assert got["Parameters"]["projection.enabled"] == "true"


@pytest.mark.parametrize("mode", ["append", "overwrite_partitions", "overwrite"])
def test_publish_registers_no_partitions_but_writes_manifests(catalog, tmp_path, mode):
    sym, data = f"file://{tmp_path}/symlink", tmp_path / "events/dt=2026-01-01/country=US/_v=r1"
    data.mkdir(parents=True)
    (data / "part-0.snappy.parquet").write_bytes(b"PAR1")
    t = projected(SIMPLE)
    lake = SymlinkCatalog(catalog)
    ensure_table(lake, t, COLS, KEYS, ROOT, sym)
    parts = [PartitionStats(["2026-01-01", "US"], f"file://{data}", 1, 10, 100)]
    pub = publish_partitions(lake, replace(t, mode=mode), COLS, parts, "r1")
    assert pub == Published(created=1, replaced=0, removed=0)
    assert "put_partitions" not in catalog.calls and catalog.get_partitions("demo", "events") == []
    manifest = tmp_path / "symlink/dt=2026-01-01/country=US/symlink.txt"
    assert manifest.read_text() == f"file://{data}/part-0.snappy.parquet\n"
    assert [(p["Values"], p["StorageDescriptor"]["Location"]) for p in lake.get_partitions("demo", "events")] == [
        (["2026-01-01", "US"], f"file://{data}")
    ]


# --------------------------------------------------------------------------- Glue (moto)


@pytest.mark.aws
def test_glue_table_carries_projection_parameters(moto_endpoint):
    from lakeloader.catalog.glue import GlueCatalog
    from lakeloader.config import AwsConfig

    aws = AwsConfig(endpoint_url=moto_endpoint)
    glue = GlueCatalog(aws)
    db = f"db_{uuid.uuid4().hex[:12]}"
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    sym = f"s3://{bucket}/warehouse/_lakeloader/{db}/events/symlink"
    t = table_config(database=db, partitions=PARTITIONS, partition_projection=PROJECTION)
    keys = [*KEYS, {"Name": "bucket", "Type": "int"}, {"Name": "tenant", "Type": "string"}]
    lake = SymlinkCatalog(glue, aws)
    ensure_table(lake, t, COLS, keys, ROOT, sym)
    expected = projection_parameters(t, sym)
    meta = glue.get_table(db, "events")
    assert {k: meta["Parameters"].get(k) for k in expected} == expected
    assert meta["StorageDescriptor"]["InputFormat"] == "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
    assert publish_partitions(lake, t, COLS, [], "r1") == Published(0, 0, 0)
    assert glue.get_partitions(db, "events") == []


# --------------------------------------------------------------------------- partitions Athena can reach

NOW = dt.datetime(2026, 11, 25, 10, 30)


def reach(projection: dict[str, Any], partitions: Any, values: list[list[str]]) -> list[str]:
    return [why for _, why in unreachable(projected(projection, partitions), values, NOW)]


def test_everything_inside_the_projection_is_reachable():
    values = [["2026-11-25", "US", "0", "acme"], ["2020-01-01", "DE", "15", "x y"]]
    assert reach(PROJECTION, PARTITIONS, values) == []
    assert unreachable(table_config(), [["anything", "at all"]]) == []  # no projection: nothing to check


@pytest.mark.parametrize(
    ("values", "why"),
    [
        (["2019-12-31", "US", "0", "a"], "dt=2019-12-31: outside the projected range 2020-01-01,NOW"),
        (["2026-11-26", "US", "0", "a"], "dt=2026-11-26: outside the projected range 2020-01-01,NOW"),
        (["__HIVE_DEFAULT_PARTITION__", "US", "0", "a"], "dt=__HIVE_DEFAULT_PARTITION__: a NULL or empty key"),
        (["2026-11-01", "FR", "0", "a"], "country=FR: not one of the enum values (US,GB,DE)"),
        (["2026-11-01", "US", "16", "a"], "bucket=16: outside the projected range 0,15"),
        (["2026-11-01", "US", "3", "a/b"], "tenant=a/b: contains '/'"),
    ],
)
def test_a_partition_outside_the_projection_is_named_with_the_reason(values, why):
    found = reach(PROJECTION, PARTITIONS, [["2026-11-01", "US", "1", "a"], values])
    assert len(found) == 1 and found[0].startswith(why)


@pytest.mark.parametrize(
    ("entry", "value", "reachable"),
    [
        ({"type": "integer", "range": "1,999", "digits": 3}, "007", True),
        ({"type": "integer", "range": "1,999", "digits": 3}, "7", False),  # Athena looks for n=007
        ({"type": "integer", "range": "1,999"}, "07", False),
        ({"type": "integer", "range": "0,100", "interval": 5}, "35", True),
        ({"type": "integer", "range": "0,100", "interval": 5}, "36", False),
        ({"type": "integer", "range": "0,9"}, "x", False),
    ],
)
def test_integer_projection_reachability(entry, value, reachable):
    assert (reach({"n": entry}, [{"name": "n"}], [[value]]) == []) is reachable


@pytest.mark.parametrize(
    ("rng", "extra", "value", "reachable"),
    [
        ("NOW-3DAYS,NOW", {}, "2026-11-22", True),  # bounds are truncated to the format's day
        ("NOW-3DAYS,NOW", {}, "2026-11-21", False),
        ("NOW-3DAYS,NOW+1DAY", {}, "2026-11-26", True),
        ("NOW-1MONTH,NOW", {}, "2026-10-25", True),
        ("NOW-1MONTH,NOW", {}, "2026-10-24", False),
        ("NOW-1YEAR,NOW", {}, "2025-11-25", True),
        ("2026-01-01,2026-12-31", {"interval": 7, "unit": "DAYS"}, "2026-01-08", True),
        ("2026-01-01,2026-12-31", {"interval": 7, "unit": "DAYS"}, "2026-01-09", False),
        ("2026-01-01,2026-12-31", {}, "2026-1-9", False),  # Athena projects 2026-01-09
        ("2026-01-01,2026-12-31", {}, "Jan 9", False),
    ],
)
def test_date_projection_reachability(rng, extra, value, reachable):
    projection = {"dt": {"type": "date", "range": rng, **extra}, "country": {"type": "injected"}}
    assert (reach(projection, None, [[value, "US"]]) == []) is reachable


def test_hour_projection_steps_are_counted_from_the_range_start():
    entry = {"type": "date", "range": "2026-11-01-00,NOW", "format": "yyyy-MM-dd-HH", "interval": 6, "unit": "HOURS"}
    partitions = [{"name": "hr", "from": "event_ts", "transform": "hour"}]
    assert reach({"hr": entry}, partitions, [["2026-11-02-18"]]) == []
    assert reach({"hr": entry}, partitions, [["2026-11-02-19"]])[0].startswith("hr=2026-11-02-19: not a step of")
    assert reach({"hr": entry}, partitions, [["2026-11-25-12"]])[0].startswith("hr=2026-11-25-12: outside")


def test_a_failed_publish_restores_the_previous_manifests(catalog, tmp_path):
    sym = f"file://{tmp_path}/symlink"
    t = projected(SIMPLE)
    lake = SymlinkCatalog(catalog)
    ensure_table(lake, t, COLS, KEYS, ROOT, sym)

    def version(name: str, files: int) -> str:
        d = tmp_path / name
        d.mkdir(parents=True)
        for i in range(files):
            (d / f"part-{i}.parquet").write_bytes(b"PAR1")
        return f"file://{d}"

    old = version("us/_v=r1", 1)
    publish_partitions(lake, t, COLS, [PartitionStats(["2026-01-01", "US"], old, 1, 1, 1)], "r1")
    new, broken = version("us/_v=r2", 2), version("gb/_v=r2", 0)
    parts = [PartitionStats(["2026-01-01", "US"], new, 2, 2, 2), PartitionStats(["2026-01-01", "GB"], broken, 0, 0, 0)]
    with pytest.raises(CatalogError, match="partition 2026-01-01/GB: no data files"):
        publish_partitions(lake, t, COLS, parts, "r2")
    assert {tuple(p["Values"]): p["StorageDescriptor"]["Location"] for p in lake.get_partitions("demo", "events")} == {
        ("2026-01-01", "US"): old
    }


def test_projection_on_a_delta_table_is_refused():
    with pytest.raises(ConfigError) as info:
        table_config(format="delta", partition_projection=SIMPLE)
    assert str(info.value) == (f"{P}: does not apply to format: delta (Athena reads its partitions from the log)")
