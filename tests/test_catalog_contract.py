"""One contract for every Catalog: LocalCatalog (SQLite) and GlueCatalog (on the moto server) behave alike."""

from __future__ import annotations

import json
import uuid

import pytest

from lakeloader.catalog.base import Catalog
from lakeloader.catalog.tables import partition_input, table_input
from lakeloader.config import AwsConfig
from lakeloader.errors import CatalogError

COLUMNS = [{"Name": "id", "Type": "bigint"}, {"Name": "amount", "Type": "decimal(12,2)"}]
KEYS = [{"Name": "dt", "Type": "string"}, {"Name": "country", "Type": "string"}]
ROOT = "s3://bucket/warehouse/db/events"


@pytest.fixture(params=["local", pytest.param("glue", marks=pytest.mark.aws)])
def catalog(request, tmp_path) -> Catalog:
    if request.param == "local":
        from lakeloader.catalog.local import LocalCatalog

        return LocalCatalog(str(tmp_path / "catalog.sqlite"))
    from lakeloader.catalog.glue import GlueCatalog

    endpoint = request.getfixturevalue("moto_endpoint")
    return GlueCatalog(AwsConfig(endpoint_url=endpoint, region="us-east-1"))


@pytest.fixture
def db(catalog) -> str:
    """A fresh database: the moto server is shared by the whole session."""
    name = f"db_{uuid.uuid4().hex[:12]}"
    catalog.ensure_database(name)
    return name


def events(name: str = "events", columns: list = COLUMNS) -> dict:
    return table_input(name, columns, KEYS, ROOT, parameters={"owner": "tests"})


def parts(n: int, version: str = "v1") -> list[dict]:
    """n partitions over two keys, each pointing at a version directory."""
    out = []
    for i in range(n):
        values = [f"2024-01-{1 + i // 10:02d}", f"c{i % 10}"]
        out.append(partition_input(values, f"{ROOT}/dt={values[0]}/country={values[1]}/_v={version}", COLUMNS))
    return out


def locations(catalog: Catalog, db: str) -> dict[tuple, str]:
    return {tuple(p["Values"]): p["StorageDescriptor"]["Location"] for p in catalog.get_partitions(db, "events")}


def test_ensure_database_is_idempotent(catalog, db):
    catalog.ensure_database(db)
    catalog.ensure_database(db)
    catalog.create_table(db, events())
    assert catalog.get_table(db, "events") is not None


def test_table_round_trip(catalog, db):
    ti = events()
    catalog.create_table(db, ti)
    assert catalog.get_table(db, "events") == ti


def test_create_twice_is_an_error(catalog, db):
    catalog.create_table(db, events())
    with pytest.raises(CatalogError, match=f"{db}.events"):
        catalog.create_table(db, events())


def test_create_in_missing_database_is_an_error(catalog):
    with pytest.raises(CatalogError):
        catalog.create_table(f"nodb_{uuid.uuid4().hex[:12]}", events())


def test_update_replaces_definition(catalog, db):
    catalog.create_table(db, events())
    wider = events(columns=[*COLUMNS, {"Name": "note", "Type": "string"}])
    catalog.update_table(db, wider)
    assert catalog.get_table(db, "events") == wider


def test_update_missing_table_is_an_error(catalog, db):
    with pytest.raises(CatalogError, match=f"{db}.events"):
        catalog.update_table(db, events())


def test_get_missing_table_is_none(catalog, db):
    assert catalog.get_table(db, "nope") is None
    assert catalog.get_table(f"nodb_{uuid.uuid4().hex[:12]}", "nope") is None


def test_put_partitions_creates_then_replaces(catalog, db):
    catalog.create_table(db, events())
    catalog.put_partitions(db, "events", parts(30, "v1"))
    first = locations(catalog, db)
    assert len(first) == 30 and all(loc.endswith("_v=v1") for loc in first.values())

    catalog.put_partitions(db, "events", parts(30, "v2")[:20])
    second = locations(catalog, db)
    assert len(second) == 30
    assert sum(loc.endswith("_v=v2") for loc in second.values()) == 20


def test_partitions_round_trip_sorted(catalog, db):
    catalog.create_table(db, events())
    given = parts(25)
    catalog.put_partitions(db, "events", list(reversed(given)))
    assert catalog.get_partitions(db, "events") == sorted(given, key=lambda p: json.dumps(p["Values"]))


def test_repeated_values_in_one_call_last_wins(catalog, db):
    catalog.create_table(db, events())
    catalog.put_partitions(db, "events", [parts(1, "v1")[0], parts(1, "v2")[0]])
    assert list(locations(catalog, db).values()) == [parts(1, "v2")[0]["StorageDescriptor"]["Location"]]


def test_put_250_partitions_crosses_batches(catalog, db):
    catalog.create_table(db, events())
    catalog.put_partitions(db, "events", parts(250))
    got = catalog.get_partitions(db, "events")
    assert len(got) == 250
    assert len({tuple(p["Values"]) for p in got}) == 250


def test_delete_partitions_more_than_25(catalog, db):
    catalog.create_table(db, events())
    catalog.put_partitions(db, "events", parts(100))
    doomed = [p["Values"] for p in parts(100)[:60]]
    catalog.delete_partitions(db, "events", [*doomed, ["1999-01-01", "missing"]])
    left = locations(catalog, db)
    assert len(left) == 40
    assert not {tuple(v) for v in doomed} & set(left)


def test_delete_partitions_of_missing_table_is_fine(catalog, db):
    catalog.delete_partitions(db, "nope", [["2024-01-01", "c0"]])


def test_get_partitions_of_missing_table_is_empty(catalog, db):
    assert catalog.get_partitions(db, "nope") == []


def test_delete_table_removes_it_and_its_partitions(catalog, db):
    catalog.create_table(db, events())
    catalog.put_partitions(db, "events", parts(30))
    catalog.delete_table(db, "events")
    assert catalog.get_table(db, "events") is None
    catalog.delete_table(db, "events")  # missing is fine
    catalog.create_table(db, events())
    assert catalog.get_partitions(db, "events") == []


def test_put_partitions_on_missing_table_is_an_error(catalog, db):
    with pytest.raises(CatalogError, match=f"{db}.events"):
        catalog.put_partitions(db, "events", parts(3))
    with pytest.raises(CatalogError, match=f"{db}.events"):
        catalog.put_partitions(db, "events", [])
