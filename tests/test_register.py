"""Registering a run: schema evolution of the table definition and publishing partition locations."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from conftest import SpyCatalog, events_table
from lakeloader.catalog.local import LocalCatalog
from lakeloader.catalog.tables import partition_input, table_input
from lakeloader.config import TableConfig, parse_config
from lakeloader.errors import CatalogError, SchemaError
from lakeloader.manifest import PartitionStats
from lakeloader.register import Published, ensure_table, evolve_columns, publish_partitions

COLS = [{"Name": "event_id", "Type": "bigint"}, {"Name": "amount", "Type": "decimal(12,2)"}]
KEYS = [{"Name": "dt", "Type": "date"}, {"Name": "country", "Type": "string"}]
ROOT = "file:///wh/demo/events"


def table_config(**overrides: Any) -> TableConfig:
    cfg = parse_config({"warehouse": "/wh", "tables": {"events": events_table(**overrides)}}, "test.yaml")
    return cfg.tables["events"]


@pytest.fixture
def catalog(tmp_path):
    return SpyCatalog(str(tmp_path / "catalog.sqlite"))


def stats(dt: str, country: str, run: str, rows: int = 1) -> PartitionStats:
    return PartitionStats([dt, country], f"{ROOT}/dt={dt}/country={country}/_v={run}", 1, rows, 100)


def locations(catalog: LocalCatalog) -> dict[tuple[str, ...], str]:
    return {tuple(p["Values"]): p["StorageDescriptor"]["Location"] for p in catalog.get_partitions("demo", "events")}


# --------------------------------------------------------------------------- evolve_columns


def test_evolve_appends_new_columns_at_the_end():
    new = [{"Name": "device", "Type": "string"}, *COLS, {"Name": "status", "Type": "string"}]
    assert evolve_columns(COLS, new, "append", "demo.events") == [
        *COLS,
        {"Name": "device", "Type": "string"},
        {"Name": "status", "Type": "string"},
    ]


def test_evolve_same_columns_unchanged():
    assert evolve_columns(COLS, list(reversed(COLS)), "append", "demo.events") == COLS


def test_evolve_refuses_removed_column():
    with pytest.raises(SchemaError) as info:
        evolve_columns(COLS, COLS[:1], "append", "demo.events")
    msg = str(info.value)
    assert msg.startswith("schema error: demo.events: column 'amount' (decimal(12,2)) is missing from this run's input")
    assert "schema_evolution: overwrite" in msg


def test_evolve_refuses_changed_type():
    new = [COLS[0], {"Name": "amount", "Type": "double"}]
    with pytest.raises(SchemaError) as info:
        evolve_columns(COLS, new, "append", "demo.events")
    assert str(info.value).startswith(
        "schema error: demo.events: column 'amount' changed type from decimal(12,2) to double"
    )


def test_evolve_overwrite_replaces():
    new = [{"Name": "amount", "Type": "double"}, {"Name": "device", "Type": "string"}]
    out = evolve_columns(COLS, new, "overwrite", "demo.events")
    assert out == new
    out[0]["Type"] = "int"  # a copy, not the caller's dicts
    assert new[0]["Type"] == "double"


# --------------------------------------------------------------------------- ensure_table


def test_ensure_table_creates(catalog):
    t = table_config()
    assert ensure_table(catalog, t, COLS, KEYS, ROOT) == COLS
    assert catalog.calls == ["create_table"]
    assert catalog.get_table("demo", "events") == table_input("events", COLS, KEYS, ROOT)


def test_ensure_table_creates_with_compression(catalog):
    ensure_table(catalog, table_config(compression="zstd"), COLS, KEYS, ROOT)
    got = catalog.get_table("demo", "events")
    assert got["Parameters"]["parquet.compression"] == "ZSTD"


def test_ensure_table_unchanged_schema_does_not_update(catalog):
    t = table_config()
    ensure_table(catalog, t, COLS, KEYS, ROOT)
    assert ensure_table(catalog, t, COLS, KEYS, ROOT) == COLS
    assert catalog.calls == ["create_table"]


def test_ensure_table_evolves(catalog):
    t = table_config()
    ensure_table(catalog, t, COLS, KEYS, ROOT)
    catalog.update_table(
        "demo", table_input("events", COLS, KEYS, ROOT, {"owner": "data-eng"})
    )  # a parameter set elsewhere
    catalog.calls.clear()
    new = [{"Name": "device", "Type": "string"}, *COLS]
    merged = ensure_table(catalog, t, new, KEYS, ROOT)
    assert merged == [*COLS, {"Name": "device", "Type": "string"}]
    assert catalog.calls == ["update_table"]
    got = catalog.get_table("demo", "events")
    assert got["StorageDescriptor"]["Columns"] == merged
    assert got["PartitionKeys"] == KEYS
    assert got["Parameters"]["owner"] == "data-eng"  # kept


def test_ensure_table_refuses_changed_partition_keys(catalog):
    t = table_config()
    ensure_table(catalog, t, COLS, KEYS, ROOT)
    catalog.calls.clear()
    with pytest.raises(SchemaError) as info:
        ensure_table(catalog, t, COLS, [{"Name": "dt", "Type": "date"}], ROOT)
    assert str(info.value) == (
        "schema error: demo.events: partition keys differ from the registered table "
        "(dt date, country string registered, dt date now); a new layout needs a new table"
    )
    assert catalog.calls == []
    assert catalog.get_table("demo", "events")["PartitionKeys"] == KEYS


def test_ensure_table_refuses_changed_partition_key_type_even_with_overwrite(catalog):
    ensure_table(catalog, table_config(), COLS, KEYS, ROOT)
    with pytest.raises(SchemaError, match="partition keys differ"):
        ensure_table(
            catalog,
            table_config(schema_evolution="overwrite"),
            COLS,
            [{"Name": "dt", "Type": "string"}, KEYS[1]],
            ROOT,
        )


def test_ensure_table_refuses_removed_column(catalog):
    t = table_config()
    ensure_table(catalog, t, COLS, KEYS, ROOT)
    with pytest.raises(SchemaError, match="column 'event_id'"):
        ensure_table(catalog, t, COLS[1:], KEYS, ROOT)
    assert catalog.get_table("demo", "events")["StorageDescriptor"]["Columns"] == COLS


def test_ensure_table_overwrite_policy_replaces_columns(catalog):
    ensure_table(catalog, table_config(), COLS, KEYS, ROOT)
    new = [{"Name": "amount", "Type": "double"}]
    assert ensure_table(catalog, table_config(schema_evolution="overwrite"), new, KEYS, ROOT) == new
    assert catalog.get_table("demo", "events")["StorageDescriptor"]["Columns"] == new


# --------------------------------------------------------------------------- publish_partitions


@pytest.fixture
def registered(catalog):
    ensure_table(catalog, table_config(), COLS, KEYS, ROOT)
    return catalog


def test_publish_creates(registered):
    t = table_config()
    parts = [stats("2026-01-01", "a", "r1"), stats("2026-01-01", "b", "r1")]
    pub = publish_partitions(registered, t, COLS, parts, "r1")
    assert pub == Published(created=2, replaced=0, removed=0)
    assert locations(registered) == {tuple(p.values): p.location for p in parts}
    got = registered.get_partitions("demo", "events")[0]
    assert got == partition_input(["2026-01-01", "a"], parts[0].location, COLS, {"lakeloader.run_id": "r1"})


def test_publish_replaces_touched_partitions_only(registered):
    t = table_config()
    publish_partitions(registered, t, COLS, [stats("2026-01-01", "a", "r1"), stats("2026-01-01", "b", "r1")], "r1")
    pub = publish_partitions(
        registered, t, COLS, [stats("2026-01-01", "a", "r2"), stats("2026-01-02", "a", "r2")], "r2"
    )
    assert (pub.created, pub.replaced, pub.removed) == (1, 1, 0)
    assert locations(registered) == {
        ("2026-01-01", "a"): f"{ROOT}/dt=2026-01-01/country=a/_v=r2",
        ("2026-01-01", "b"): f"{ROOT}/dt=2026-01-01/country=b/_v=r1",  # not touched
        ("2026-01-02", "a"): f"{ROOT}/dt=2026-01-02/country=a/_v=r2",
    }


def test_publish_same_run_again_replaces_in_place(registered):
    t = table_config()
    parts = [stats("2026-01-01", "a", "r1")]
    publish_partitions(registered, t, COLS, parts, "r1")
    pub = publish_partitions(registered, t, COLS, parts, "r1")
    assert pub == Published(created=0, replaced=1, removed=0)


def test_publish_overwrite_removes_partitions_not_written(registered):
    t = table_config()
    first = [stats("2026-01-01", "a", "r1"), stats("2026-01-01", "b", "r1"), stats("2026-01-02", "c", "r1")]
    publish_partitions(registered, t, COLS, first, "r1")
    pub = publish_partitions(
        registered,
        replace(t, mode="overwrite"),
        COLS,
        [stats("2026-01-01", "a", "r2"), stats("2026-01-03", "d", "r2")],
        "r2",
    )
    assert (pub.created, pub.replaced, pub.removed) == (1, 1, 2)
    assert locations(registered) == {
        ("2026-01-01", "a"): f"{ROOT}/dt=2026-01-01/country=a/_v=r2",
        ("2026-01-03", "d"): f"{ROOT}/dt=2026-01-03/country=d/_v=r2",
    }


@pytest.mark.parametrize("mode", ["append", "overwrite_partitions"])
def test_publish_other_modes_keep_partitions_not_written(registered, mode):
    t = table_config()
    publish_partitions(registered, t, COLS, [stats("2026-01-01", "a", "r1"), stats("2026-01-01", "b", "r1")], "r1")
    pub = publish_partitions(registered, replace(t, mode=mode), COLS, [stats("2026-01-02", "a", "r2")], "r2")
    assert pub == Published(created=1, replaced=0, removed=0)
    assert len(locations(registered)) == 3


def test_publish_case_distinct_values(registered):
    t = table_config()
    pub = publish_partitions(
        registered, t, COLS, [stats("2026-01-01", "a", "r1"), stats("2026-01-01", "A", "r1")], "r1"
    )
    assert (pub.created, pub.replaced) == (2, 0)
    assert set(locations(registered)) == {("2026-01-01", "a"), ("2026-01-01", "A")}


class _FailingPut(LocalCatalog):
    """Partition writes that fail half-way on the second call, like a Glue batch failing mid-publish."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.puts = 0

    def put_partitions(self, database, table, partitions):
        self.puts += 1
        if self.puts == 2:
            super().put_partitions(database, table, partitions[:1])
            raise CatalogError("BatchCreatePartition demo.events: InternalServiceException")
        super().put_partitions(database, table, partitions)


def test_failed_publish_restores_the_catalog(tmp_path):
    catalog = _FailingPut(str(tmp_path / "c.sqlite"))
    table = table_config()
    ensure_table(catalog, table, COLS, KEYS, ROOT)
    publish_partitions(catalog, table, COLS, [stats("2026-01-01", "us", "r1")], "r1")
    before = locations(catalog)
    with pytest.raises(CatalogError):
        publish_partitions(
            catalog, table, COLS, [stats("2026-01-01", "us", "r2"), stats("2026-01-02", "us", "r2")], "r2"
        )
    assert locations(catalog) == before
