"""Run manifests: JSON round trip and storage under a file:// admin location."""

from __future__ import annotations

import json
import os
from dataclasses import replace

from conftest import build_manifest
from lakeloader import manifest as manifests
from lakeloader.manifest import Manifest, PartitionStats


def make_manifest(run_id: str = "r1", status: str = "published", created_at: str = "2026-01-02T03:04:05Z") -> Manifest:
    return build_manifest(
        [
            PartitionStats(
                ["2026-01-01", "a/b"], f"file:///wh/demo/events/dt=2026-01-01/country=a%2Fb/_v={run_id}", 2, 10, 2048
            ),
            PartitionStats(
                ["2026-01-01", "Zürich"], f"file:///wh/demo/events/dt=2026-01-01/country=Zürich/_v={run_id}", 1, 5, 1000
            ),
            PartitionStats(
                ["2026-01-02", "__HIVE_DEFAULT_PARTITION__"],
                f"file:///wh/demo/events/dt=2026-01-02/country=__HIVE_DEFAULT_PARTITION__/_v={run_id}",
                3,
                7,
                4096,
            ),
        ],
        run_id=run_id,
        status=status,
        partition_keys=["dt", "country"],
        schema=[{"Name": "event_id", "Type": "bigint"}, {"Name": "amount", "Type": "decimal(12,2)"}],
        input_uri="hdfs:///data/events/2026/01/02/",
        input_files=4,
        input_bytes=123456,
        rows_read=25,
        rows_written=22,
        bad_rows=3,
        quarantine_location=f"file:///wh/_lakeloader/demo/events/quarantine/{run_id}",
        timings_s={"read": 1.5, "write": 2.25},
        code_version="0.1.0",
        created_at=created_at,
    )


def test_totals():
    m = make_manifest()
    assert m.files == 6
    assert m.bytes == 2048 + 1000 + 4096


def test_json_round_trip():
    m = make_manifest()
    text = m.to_json()
    back = Manifest.from_json(text)
    assert back == m
    assert all(isinstance(p, PartitionStats) for p in back.partitions)
    assert back.partitions[1].values == ["2026-01-01", "Zürich"]


def test_json_is_stable_and_readable():
    m = make_manifest()
    text = m.to_json()
    assert text == make_manifest().to_json()
    raw = json.loads(text)
    assert list(raw) == sorted(raw)  # sorted keys: diffs between runs are readable
    assert raw["partitions"][0] == {
        "values": ["2026-01-01", "a/b"],
        "location": "file:///wh/demo/events/dt=2026-01-01/country=a%2Fb/_v=r1",
        "files": 2,
        "rows": 10,
        "bytes": 2048,
        "columns": {},
    }
    assert "\n  " in text  # indented


def test_json_round_trip_with_nulls_and_defaults():
    m = replace(make_manifest(), quarantine_location=None, timings_s={}, code_version="", created_at="", partitions=[])
    assert Manifest.from_json(m.to_json()) == m
    assert m.files == 0 and m.bytes == 0


def test_save_and_load(tmp_path):
    admin = f"file://{tmp_path}/_lakeloader/demo/events"
    m = make_manifest("run-1")
    uri = manifests.save(m, admin)
    assert uri == f"{admin}/manifests/run-1.json"
    assert (tmp_path / "_lakeloader/demo/events/manifests/run-1.json").read_text(encoding="utf-8") == m.to_json()
    assert manifests.load(admin, "run-1") == m
    # no temporary files left behind
    assert sorted(p.name for p in (tmp_path / "_lakeloader/demo/events/manifests").iterdir()) == ["run-1.json"]


def test_save_replaces_existing(tmp_path):
    admin = f"file://{tmp_path}/admin"
    manifests.save(make_manifest("r1", status="staged"), admin)
    manifests.save(make_manifest("r1", status="published"), admin)
    assert manifests.load(admin, "r1").status == "published"
    assert [m.run_id for m in manifests.history(admin)] == ["r1"]


def test_load_missing_run_returns_none(tmp_path):
    admin = f"file://{tmp_path}/admin"
    assert manifests.load(admin, "nope") is None  # nothing at all yet
    manifests.save(make_manifest("r1"), admin)
    assert manifests.load(admin, "r2") is None


def test_history_oldest_first_and_newest_pages_newest_first(tmp_path):
    admin = f"file://{tmp_path}/admin"
    # saved out of order: history sorts by created_at, then run id
    manifests.save(make_manifest("c", status="published", created_at="2026-01-03T00:00:00Z"), admin)
    manifests.save(make_manifest("a", status="published", created_at="2026-01-01T00:00:00Z"), admin)
    manifests.save(make_manifest("d", status="failed", created_at="2026-01-04T00:00:00Z"), admin)
    manifests.save(make_manifest("b", status="staged", created_at="2026-01-02T00:00:00Z"), admin)
    assert [m.run_id for m in manifests.history(admin)] == ["a", "b", "c", "d"]
    for i, name in enumerate("cadb"):  # the order they were written, seconds apart
        os.utime(tmp_path / f"admin/manifests/{name}.json", (1_000 + i, 1_000 + i))
    page, total = manifests.newest(admin, limit=2)
    assert total == 4 and [m.run_id for m in page] == ["d", "b"]  # the last two written, newest first
    assert page[0] == make_manifest("d", status="failed", created_at="2026-01-04T00:00:00Z")


def test_history_ties_broken_by_run_id(tmp_path):
    admin = f"file://{tmp_path}/admin"
    for run_id in ["r2", "r10", "r1"]:
        manifests.save(make_manifest(run_id, created_at="2026-01-01T00:00:00Z"), admin)
    assert [m.run_id for m in manifests.history(admin)] == ["r1", "r10", "r2"]


def test_history_of_unknown_table_is_empty(tmp_path):
    admin = f"file://{tmp_path}/never-written"
    assert manifests.history(admin) == []
    assert manifests.newest(admin, limit=10) == ([], 0)


def test_history_ignores_non_manifest_files(tmp_path):
    admin = f"file://{tmp_path}/admin"
    manifests.save(make_manifest("r1"), admin)
    (tmp_path / "admin/manifests/notes.txt").write_text("hello")
    (tmp_path / "admin/manifests/.r9.json.swp").write_text("junk")
    assert [m.run_id for m in manifests.history(admin)] == ["r1"]
