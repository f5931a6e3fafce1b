"""SymlinkCatalog: a projected table's partitions live as symlink manifests; every other table is untouched."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import boto3
import pytest

from conftest import SpyCatalog
from lakeloader.catalog.symlinks import SymlinkCatalog, partition_dir, symlink_root
from lakeloader.catalog.tables import partition_input, table_input
from lakeloader.errors import CatalogError

COLS = [{"Name": "id", "Type": "bigint"}]
KEYS = [{"Name": "dt", "Type": "string"}, {"Name": "city", "Type": "string"}]


def projected_table(sym: str) -> dict:
    params = {
        "projection.enabled": "true",
        "projection.dt.type": "injected",
        "projection.city.type": "injected",
        "storage.location.template": f"{sym}/dt=${{dt}}/city=${{city}}/",
    }
    return table_input("events", COLS, KEYS, "s3://lake/events", params)


@pytest.fixture
def lake(tmp_path) -> tuple[SymlinkCatalog, SpyCatalog, Path]:
    inner = SpyCatalog(str(tmp_path / "catalog.sqlite"))
    inner.ensure_database("db")
    return SymlinkCatalog(inner), inner, tmp_path


def version(tmp_path: Path, name: str, files: int = 2) -> str:
    """A version directory with `files` Parquet files (and a file that is not Parquet); its URI."""
    d = tmp_path / "data" / name
    d.mkdir(parents=True)
    for i in range(files):
        (d / f"part-{i:05d}.snappy.parquet").write_bytes(b"PAR1")
    (d / "_SUCCESS").write_bytes(b"")
    return f"file://{d}"


def live(catalog, table: str = "events") -> dict[tuple, str]:
    return {tuple(p["Values"]): p["StorageDescriptor"]["Location"] for p in catalog.get_partitions("db", table)}


def test_symlink_root_is_read_from_the_table_definition():
    t = projected_table("s3://lake/_lakeloader/db/events/symlink")
    assert symlink_root(t) == "s3://lake/_lakeloader/db/events/symlink"
    assert symlink_root(table_input("events", COLS, KEYS, "s3://lake/events")) is None
    off = {**t, "Parameters": {**t["Parameters"], "projection.enabled": "false"}}
    assert symlink_root(off) is None


def test_a_table_without_projection_keeps_its_partitions_in_the_catalog(lake):
    catalog, inner, tmp = lake
    catalog.create_table("db", table_input("events", COLS, KEYS, "s3://lake/events"))
    catalog.put_partitions("db", "events", [partition_input(["2026-01-01", "Oslo"], "s3://lake/v1", COLS)])
    assert live(inner) == {("2026-01-01", "Oslo"): "s3://lake/v1"}
    assert live(catalog) == live(inner)
    catalog.delete_partitions("db", "events", [["2026-01-01", "Oslo"]])
    assert live(inner) == {}


def test_projected_partitions_are_manifests_listing_the_version_files(lake):
    catalog, inner, tmp = lake
    sym = f"file://{tmp}/symlink"
    catalog.create_table("db", projected_table(sym))
    v1, v2 = version(tmp, "a/_v=r1"), version(tmp, "b/_v=r1", files=1)
    catalog.put_partitions(
        "db", "events",
        [partition_input(["2026-01-01", "São Paulo"], v1, COLS), partition_input(["2026-01-01", "a=b c"], v2, COLS)],
    )  # fmt: skip
    assert "put_partitions" not in inner.calls and inner.get_partitions("db", "events") == []
    # Values appear verbatim in the path, the way Athena substitutes them into the template.
    manifest = tmp / "symlink/dt=2026-01-01/city=São Paulo/symlink.txt"
    assert manifest.read_text().splitlines() == [f"{v1}/part-00000.snappy.parquet", f"{v1}/part-00001.snappy.parquet"]
    assert live(catalog) == {("2026-01-01", "São Paulo"): v1, ("2026-01-01", "a=b c"): v2}


def test_a_republished_partition_points_at_the_new_version_only(lake):
    catalog, _, tmp = lake
    catalog.create_table("db", projected_table(f"file://{tmp}/symlink"))
    old, new = version(tmp, "p/_v=r1", files=3), version(tmp, "p/_v=r2", files=1)
    catalog.put_partitions("db", "events", [partition_input(["d", "x"], old, COLS)])
    catalog.put_partitions("db", "events", [partition_input(["d", "x"], new, COLS)])
    assert (tmp / "symlink/dt=d/city=x/symlink.txt").read_text() == f"{new}/part-00000.snappy.parquet\n"
    assert live(catalog) == {("d", "x"): new}


def test_delete_partitions_and_delete_table_remove_manifests(lake):
    catalog, inner, tmp = lake
    catalog.create_table("db", projected_table(f"file://{tmp}/symlink"))
    v = version(tmp, "v")
    catalog.put_partitions("db", "events", [partition_input(["d", c], v, COLS) for c in ("x", "y")])
    catalog.delete_partitions("db", "events", [["d", "x"], ["d", "missing"]])
    assert live(catalog) == {("d", "y"): v}
    catalog.delete_table("db", "events")
    assert inner.get_table("db", "events") is None
    assert not (tmp / "symlink").exists()


def test_a_location_without_data_files_is_refused_naming_the_partition(lake):
    catalog, _, tmp = lake
    catalog.create_table("db", projected_table(f"file://{tmp}/symlink"))
    empty = version(tmp, "empty", files=0)
    with pytest.raises(CatalogError, match=r"db\.events: partition d/x: no data files in file://"):
        catalog.put_partitions("db", "events", [partition_input(["d", "x"], empty, COLS)])
    assert live(catalog) == {}


def test_stray_files_in_the_manifest_tree_are_ignored_with_a_warning(lake, caplog):
    catalog, _, tmp = lake
    catalog.create_table("db", projected_table(f"file://{tmp}/symlink"))
    v = version(tmp, "v")
    catalog.put_partitions("db", "events", [partition_input(["d", "x"], v, COLS)])
    (tmp / "symlink/dt=d/symlink.txt").write_text("s3://elsewhere/f.parquet\n")  # one level short
    (tmp / "symlink/dt=d/city=x/notes.txt").write_text("hello")
    with caplog.at_level(logging.WARNING):
        assert live(catalog) == {("d", "x"): v}
    assert "not a partition manifest of db.events" in caplog.text


def test_switching_projection_on_and_off_moves_the_partitions(lake):
    catalog, inner, tmp = lake
    plain = table_input("events", COLS, KEYS, "s3://lake/events", {"owner": "x"})
    catalog.create_table("db", plain)
    v1, v2 = version(tmp, "v1"), version(tmp, "v2")
    catalog.put_partitions(
        "db", "events", [partition_input(["d", "x"], v1, COLS), partition_input(["d", "y"], v2, COLS)]
    )
    catalog.update_table("db", projected_table(f"file://{tmp}/symlink"))
    assert inner.get_partitions("db", "events") == []  # projection on: nothing registered
    assert live(catalog) == {("d", "x"): v1, ("d", "y"): v2}
    catalog.update_table("db", plain)
    assert live(inner) == {("d", "x"): v1, ("d", "y"): v2}
    assert not (tmp / "symlink/dt=d").exists()


def test_partition_dir_uses_values_verbatim():
    assert partition_dir("s3://b/sym/", ["dt", "city"], ["2026-01-01", "New York"]) == (
        "s3://b/sym/dt=2026-01-01/city=New York"
    )


def test_backend_attributes_stay_reachable(lake):
    catalog, inner, _ = lake
    assert catalog.path == inner.path


@pytest.mark.aws
def test_manifests_on_s3_name_s3_files(moto_endpoint):
    from lakeloader.catalog.glue import GlueCatalog
    from lakeloader.config import AwsConfig

    aws = AwsConfig(endpoint_url=moto_endpoint)
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    bucket, db = f"lake-{uuid.uuid4().hex[:8]}", f"db_{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    for i in range(2):
        s3.put_object(Bucket=bucket, Key=f"events/dt=d/city=x/_v=r1/part-{i}.parquet", Body=b"PAR1")
    glue = GlueCatalog(aws)
    catalog = SymlinkCatalog(glue, aws)
    catalog.ensure_database(db)
    catalog.create_table(db, projected_table(f"s3://{bucket}/_lakeloader/{db}/events/symlink"))
    location = f"s3://{bucket}/events/dt=d/city=x/_v=r1"
    catalog.put_partitions(db, "events", [partition_input(["d", "x"], location, COLS)])
    body = s3.get_object(Bucket=bucket, Key=f"_lakeloader/{db}/events/symlink/dt=d/city=x/symlink.txt")["Body"]
    assert body.read().decode().splitlines() == [f"{location}/part-0.parquet", f"{location}/part-1.parquet"]
    assert glue.get_partitions(db, "events") == []
    assert {tuple(p["Values"]): p["StorageDescriptor"]["Location"] for p in catalog.get_partitions(db, "events")} == {
        ("d", "x"): location
    }


def test_the_table_definition_is_read_once_for_many_partition_calls(lake, monkeypatch):
    catalog, inner, tmp_path = lake
    catalog.create_table("db", projected_table(f"file://{tmp_path}/sym"))
    reads = []
    real = inner.get_table
    monkeypatch.setattr(inner, "get_table", lambda db, t: reads.append(t) or real(db, t))
    for day in ("2026-01-01", "2026-01-02", "2026-01-03"):
        catalog.put_partitions("db", "events", [partition_input([day, "x"], version(tmp_path, f"{day}/_v=r1"), COLS)])
    catalog.delete_partitions("db", "events", [["2026-01-01", "x"]])
    assert set(live(catalog)) == {("2026-01-02", "x"), ("2026-01-03", "x")}
    assert reads == ["events"]
    # A definition changed through the wrapper is read again: projection off moves the partitions back.
    catalog.update_table("db", table_input("events", COLS, KEYS, "s3://lake/events"))
    assert set(live(inner)) == {("2026-01-02", "x"), ("2026-01-03", "x")}
