"""Fault matrix: kill -9 a real `lakeloader run` at each stage; readers never see a mixed partition,
and the rerun converges to exactly one copy of every row (docs/reliability.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import events_contents, events_table, expected_from_csv
from lakeloader import state as table_state
from lakeloader.catalog import open_catalog
from lakeloader.cli import main
from lakeloader.config import load_config
from lakeloader.sample import generate

pytestmark = [pytest.mark.spark, pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fault-inputs")
    generate(root / "a", rows=3_000, files=1, days=2, seed=21)
    generate(root / "b", rows=2_000, files=1, days=3, seed=22, start=__import__("datetime").date(2026, 11, 2))
    return root / "a", root / "b"


@pytest.mark.parametrize("point", ["after-write", "after-audit", "after-publish"])
def test_kill_at_any_stage_then_rerun_converges(point, inputs, write_config, tmp_path, capsys):
    a, b = inputs
    cfg = write_config({"events": events_table()})
    argv = ["run", "--config", cfg, "--table", "events", "--run-date", "2026-11-03"]
    assert main([*argv, "--input", str(a), "--run-id", "ra"]) == 0
    before = events_contents(cfg)
    after = {**expected_from_csv(a), **expected_from_csv(b)}  # b's partitions replace a's

    env = {**os.environ, "LAKELOADER_FAILPOINT": point}
    killed = subprocess.run(
        [sys.executable, "-m", "lakeloader.cli", *argv, "--input", str(b), "--run-id", "rb"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr[-2000:]
    # What a reader sees right after the kill: the old table, or (killed after the flip) the new one.
    seen = events_contents(cfg)
    assert seen == (after if point == "after-publish" else before)
    config = load_config(cfg)
    admin = config.admin_location(config.table("events"))
    assert table_state.load(admin).latest == "ra"  # the state object moves only once the run is recorded

    capsys.readouterr()
    assert main([*argv, "--input", str(b), "--run-id", "rb"]) == 0
    out = capsys.readouterr().out
    assert ("recovered" if point == "after-publish" else "published") in out
    assert events_contents(cfg) == after
    recorded = table_state.load(admin)
    assert (recorded.latest, recorded.previous) == ("rb", "ra")
    assert len(recorded.live) == len(after) and sum(p.rows for p in recorded.live) == sum(n for n, _ in after.values())
    # Only live versions remain, and the superseded ones waiting out retain_for (the state lists them for
    # deletion); no Spark leftovers, and the dead run's lock was taken over and released.
    catalog = open_catalog(config)
    live = {
        p["StorageDescriptor"]["Location"].removeprefix("file://") for p in catalog.get_partitions("demo", "events")
    }
    waiting = {loc.removeprefix("file://") for loc, _ in table_state.load(admin).pending}
    files = [p for p in (tmp_path / "warehouse/demo/events").rglob("*") if p.is_file()]
    assert files and all(str(f.parent) in live | waiting for f in files)
    assert not (tmp_path / "warehouse/demo/events/_temporary").exists()
    assert catalog.get_table("demo", "events__lakeloader_lock") is None
    # Running it once more changes nothing.
    assert main([*argv, "--input", str(b), "--run-id", "rb"]) == 0
    assert "already-published" in capsys.readouterr().out and events_contents(cfg) == after


def test_failed_attempts_never_reuse_version_directories(inputs, write_config, tmp_path):
    a, _ = inputs
    cfg = write_config({"events": events_table()})
    argv = ["run", "--config", cfg, "--table", "events", "--input", str(a), "--run-id", "r"]
    env = {**os.environ, "LAKELOADER_FAILPOINT": "after-write"}
    killed = subprocess.run([sys.executable, "-m", "lakeloader.cli", *argv], env=env, capture_output=True, timeout=300)
    assert killed.returncode == -9
    assert main(argv) == 0
    versions = {p.name for p in Path(tmp_path / "warehouse/demo/events").rglob("_v=*")}
    assert versions == {"_v=r.2"}  # attempt 2 wrote fresh directories; attempt 1's were pruned
    assert events_contents(cfg) == expected_from_csv(a)
