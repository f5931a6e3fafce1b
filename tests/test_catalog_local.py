"""LocalCatalog: the Glue data model in a SQLite file."""

from __future__ import annotations

import sqlite3

import pytest

from lakeloader.catalog.local import LocalCatalog
from lakeloader.catalog.tables import (
    PARQUET_INPUT,
    PARQUET_OUTPUT,
    PARQUET_SERDE,
    partition_input,
    table_input,
)
from lakeloader.errors import CatalogError

COLUMNS = [{"Name": "event_id", "Type": "bigint"}, {"Name": "amount", "Type": "decimal(12,2)"}]
KEYS = [{"Name": "dt", "Type": "date"}, {"Name": "country", "Type": "string"}]
ROOT = "file:///wh/demo/events"


def part(dt: str, country: str, version: str = "r1") -> dict:
    return partition_input([dt, country], f"{ROOT}/dt={dt}/country={country}/_v={version}", COLUMNS, {"run": version})


@pytest.fixture
def catalog(tmp_path):
    return LocalCatalog(str(tmp_path / "meta" / "catalog.sqlite"))


@pytest.fixture
def events(catalog):
    catalog.ensure_database("demo")
    catalog.create_table("demo", table_input("events", COLUMNS, KEYS, ROOT))
    return catalog


def values(catalog, database: str = "demo", table: str = "events") -> list[list[str]]:
    return [p["Values"] for p in catalog.get_partitions(database, table)]


def test_creates_parent_directory(tmp_path):
    path = tmp_path / "a" / "b" / "catalog.sqlite"
    LocalCatalog(str(path))
    assert path.is_file()


def test_ensure_database_idempotent(catalog):
    catalog.ensure_database("demo")
    catalog.ensure_database("demo")
    catalog.create_table("demo", table_input("t", COLUMNS, KEYS, ROOT))
    catalog.ensure_database("demo")  # does not wipe the database's tables
    assert catalog.get_table("demo", "t")["Name"] == "t"


def test_get_table_round_trips_table_input(events):
    got = events.get_table("demo", "events")
    assert got == table_input("events", COLUMNS, KEYS, ROOT)
    assert got["TableType"] == "EXTERNAL_TABLE"
    assert got["Parameters"] == {"EXTERNAL": "TRUE", "classification": "parquet", "parquet.compression": "SNAPPY"}
    assert got["PartitionKeys"] == KEYS
    sd = got["StorageDescriptor"]
    assert (sd["InputFormat"], sd["OutputFormat"], sd["SerdeInfo"]["SerializationLibrary"]) == (
        PARQUET_INPUT,
        PARQUET_OUTPUT,
        PARQUET_SERDE,
    )
    assert sd["Location"] == ROOT and sd["Columns"] == COLUMNS


def test_get_table_round_trips_parameters(catalog):
    catalog.ensure_database("demo")
    ti = table_input("t", COLUMNS, KEYS, ROOT, {"owner": "data-eng", "note": "Zürich 東京"}, compression="zstd")
    catalog.create_table("demo", ti)
    assert catalog.get_table("demo", "t") == ti


def test_get_table_missing_is_none(events):
    assert events.get_table("demo", "nope") is None
    assert events.get_table("nodb", "events") is None


def test_create_table_twice(events):
    with pytest.raises(CatalogError) as info:
        events.create_table("demo", table_input("events", [{"Name": "x", "Type": "int"}], KEYS, ROOT))
    assert str(info.value) == "catalog error: table demo.events already exists"
    assert events.get_table("demo", "events")["StorageDescriptor"]["Columns"] == COLUMNS  # unchanged


def test_create_table_in_missing_database(catalog):
    with pytest.raises(CatalogError) as info:
        catalog.create_table("nodb", table_input("events", COLUMNS, KEYS, ROOT))
    assert str(info.value) == "catalog error: database 'nodb' does not exist"
    assert catalog.get_table("nodb", "events") is None


def test_same_table_name_in_two_databases(catalog):
    catalog.ensure_database("a")
    catalog.ensure_database("b")
    catalog.create_table("a", table_input("t", COLUMNS, KEYS, "file:///a"))
    catalog.create_table("b", table_input("t", COLUMNS, KEYS, "file:///b"))
    assert catalog.get_table("a", "t")["StorageDescriptor"]["Location"] == "file:///a"
    assert catalog.get_table("b", "t")["StorageDescriptor"]["Location"] == "file:///b"


def test_update_table(events):
    new_cols = COLUMNS + [{"Name": "device", "Type": "string"}]
    events.put_partitions("demo", "events", [part("2026-01-01", "a")])
    events.update_table("demo", table_input("events", new_cols, KEYS, ROOT))
    assert events.get_table("demo", "events")["StorageDescriptor"]["Columns"] == new_cols
    assert values(events) == [["2026-01-01", "a"]]  # partitions are kept


def test_update_missing_table(events):
    with pytest.raises(CatalogError) as info:
        events.update_table("demo", table_input("nope", COLUMNS, KEYS, ROOT))
    assert str(info.value) == "catalog error: table demo.nope does not exist"
    assert events.get_table("demo", "nope") is None


def test_put_partitions_round_trip(events):
    p = part("2026-01-01", "a%2Fb")
    events.put_partitions("demo", "events", [p])
    assert events.get_partitions("demo", "events") == [p]


def test_put_partitions_create_or_replace_by_values(events):
    events.put_partitions("demo", "events", [part("2026-01-01", "a"), part("2026-01-01", "b")])
    events.put_partitions("demo", "events", [part("2026-01-01", "a", "r2"), part("2026-01-02", "a", "r2")])
    got = {tuple(p["Values"]): p["StorageDescriptor"]["Location"] for p in events.get_partitions("demo", "events")}
    assert got == {
        ("2026-01-01", "a"): f"{ROOT}/dt=2026-01-01/country=a/_v=r2",
        ("2026-01-01", "b"): f"{ROOT}/dt=2026-01-01/country=b/_v=r1",
        ("2026-01-02", "a"): f"{ROOT}/dt=2026-01-02/country=a/_v=r2",
    }
    assert [p["Parameters"]["run"] for p in events.get_partitions("demo", "events")] == ["r2", "r1", "r2"]


def test_partitions_are_per_table(catalog):
    catalog.ensure_database("demo")
    catalog.create_table("demo", table_input("t1", COLUMNS, KEYS, ROOT))
    catalog.create_table("demo", table_input("t2", COLUMNS, KEYS, ROOT))
    catalog.put_partitions("demo", "t1", [part("2026-01-01", "a")])
    assert values(catalog, table="t1") == [["2026-01-01", "a"]]
    assert values(catalog, table="t2") == []


def test_case_distinct_values_are_distinct_partitions(events):
    events.put_partitions("demo", "events", [part("2026-01-01", "a"), part("2026-01-01", "A")])
    assert sorted(map(tuple, values(events))) == [("2026-01-01", "A"), ("2026-01-01", "a")]


def test_partitions_ordered_deterministically(tmp_path):
    parts = [part(d, c) for d in ["2026-01-02", "2026-01-01", "2026-01-10"] for c in ["b", "a", "Zürich", "a/b"]]
    orders = []
    for i, batch in enumerate([parts, list(reversed(parts)), parts[5:] + parts[:5]]):
        cat = LocalCatalog(str(tmp_path / f"c{i}.sqlite"))
        cat.ensure_database("demo")
        cat.create_table("demo", table_input("events", COLUMNS, KEYS, ROOT))
        for p in batch:
            cat.put_partitions("demo", "events", [p])
        orders.append(values(cat))
    assert orders[0] == orders[1] == orders[2]
    assert len(orders[0]) == 12
    # grouped by the first key, dates in order
    assert [v[0] for v in orders[0]] == ["2026-01-01"] * 4 + ["2026-01-02"] * 4 + ["2026-01-10"] * 4


def test_put_partitions_on_missing_table_writes_nothing(events):
    with pytest.raises(CatalogError) as info:
        events.put_partitions("demo", "nope", [part("2026-01-01", "a")])
    assert str(info.value) == "catalog error: table demo.nope does not exist"
    assert events.get_partitions("demo", "nope") == []
    with sqlite3.connect(events.path) as db:
        assert db.execute("SELECT count(*) FROM partitions").fetchone() == (0,)


def test_put_partitions_is_all_or_nothing(events):
    events.put_partitions("demo", "events", [part("2026-01-01", "a")])
    bad = {"StorageDescriptor": {}}  # no Values
    with pytest.raises(KeyError):
        events.put_partitions("demo", "events", [part("2026-01-01", "a", "r2"), part("2026-01-02", "b", "r2"), bad])
    assert [p["StorageDescriptor"]["Location"] for p in events.get_partitions("demo", "events")] == [
        f"{ROOT}/dt=2026-01-01/country=a/_v=r1"
    ]


def test_delete_partitions(events):
    events.put_partitions("demo", "events", [part("2026-01-01", "a"), part("2026-01-01", "b"), part("2026-01-02", "a")])
    events.delete_partitions("demo", "events", [["2026-01-01", "b"], ("2026-01-02", "a"), ["2030-01-01", "zz"]])
    assert values(events) == [["2026-01-01", "a"]]
    events.delete_partitions("demo", "events", [])
    assert values(events) == [["2026-01-01", "a"]]


def test_delete_table(events):
    events.put_partitions("demo", "events", [part("2026-01-01", "a")])
    events.delete_table("demo", "events")
    assert events.get_table("demo", "events") is None
    assert events.get_partitions("demo", "events") == []
    events.delete_table("demo", "events")  # missing is fine
    # a recreated table starts without the old partitions
    events.create_table("demo", table_input("events", COLUMNS, KEYS, ROOT))
    assert events.get_partitions("demo", "events") == []


def test_state_persists_across_instances(events):
    events.put_partitions("demo", "events", [part("2026-01-01", "a")])
    again = LocalCatalog(events.path)
    assert again.get_table("demo", "events") == table_input("events", COLUMNS, KEYS, ROOT)
    assert values(again) == [["2026-01-01", "a"]]


def test_unwritable_location(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    path = blocker / "catalog.sqlite"
    with pytest.raises(CatalogError) as info:
        LocalCatalog(str(path))
    assert str(info.value).startswith(f"catalog error: cannot open local catalog {path}: ")


def test_catalog_path_is_a_directory(tmp_path):
    with pytest.raises(CatalogError) as info:
        LocalCatalog(str(tmp_path))
    assert str(info.value).startswith(f"catalog error: cannot open local catalog {tmp_path}: ")
