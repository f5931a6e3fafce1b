"""`lakeloader run` on a table with Athena partition projection: nothing registered, every row reachable.

The independent reader below does what Athena does for a projected table: enumerate the projected
partition values, substitute them into `storage.location.template`, and read the files each
location's symlink manifest lists. It knows nothing of lakeloader's layout.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from lakeloader import retention
from lakeloader import state as table_state
from lakeloader.catalog import open_catalog
from lakeloader.catalog.local import LocalCatalog
from lakeloader.cli import main
from lakeloader.config import load_config
from lakeloader.query import open_engine

pytestmark = [pytest.mark.spark, pytest.mark.e2e]

HEADER = "event_id,event_ts,country,amount\n"
PROJECTION = {
    "dt": {"type": "date", "range": "2026-11-01,NOW"},
    "country": {"type": "enum", "values": ["US", "GB", "DE", "FR"]},
}


def table(**overrides: Any) -> dict[str, Any]:
    t = {
        "database": "demo",
        "source": {"path": "unused", "format": "csv", "options": {"header": True},
                   "schema": "event_id BIGINT, event_ts TIMESTAMP, country STRING, amount DECIMAL(10,2)"},
        "partitions": [{"name": "dt", "from": "event_ts", "transform": "date"}, {"name": "country"}],
        "partition_projection": PROJECTION,
        "checks": [{"kind": "unique", "columns": ["event_id"]}],
    }  # fmt: skip
    t.update(overrides)
    return t


def write_input(folder: Path, rows: list[tuple[int, str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "part-0.csv").write_text(HEADER + "".join(f"{i},{ts},{c},1.50\n" for i, ts, c in rows))
    return folder


def rows_for(days: list[str], countries: list[str], per: int, start: int = 0) -> list[tuple[int, str, str]]:
    out, i = [], start
    for d in days:
        for c in countries:
            for _ in range(per):
                out.append((i, f"{d} 12:00:00", c))
                i += 1
    return out


def run(cfg: str, inp: Path, *extra: str) -> int:
    return main(["run", "--config", cfg, "--table", "events", "--input", str(inp), *extra])


def athena_view(cfg: str) -> Counter:
    """Rows per partition as Athena's projection finds them: template + symlink manifests, nothing else."""
    config = load_config(cfg)
    meta = LocalCatalog(config.catalog.path).get_table("demo", "events")
    params = meta["Parameters"]
    assert params["projection.enabled"] == "true"
    assert meta["StorageDescriptor"]["InputFormat"] == "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
    first = dt.date.fromisoformat(params["projection.dt.range"].split(",")[0])
    days = [(first + dt.timedelta(days=n)).isoformat() for n in range((dt.date.today() - first).days + 1)]
    rows: Counter = Counter()
    for day in days:
        for country in params["projection.country.values"].split(","):
            location = params["storage.location.template"].replace("${dt}", day).replace("${country}", country)
            manifest = Path(location.removeprefix("file://")) / "symlink.txt"
            if manifest.exists():
                for f in manifest.read_text().splitlines():
                    rows[(day, country)] += pq.read_metadata(f.removeprefix("file://")).num_rows
    return rows


def registered_partitions(cfg: str) -> list:
    config = load_config(cfg)
    return LocalCatalog(config.catalog.path).get_partitions("demo", "events")


def test_a_projected_table_is_published_as_manifests_and_read_like_athena(write_config, tmp_path, capsys, monkeypatch):
    cfg = write_config({"events": table()})
    inp = write_input(tmp_path / "in1", rows_for(["2026-11-01", "2026-11-02"], ["US", "GB", "DE"], 5))
    assert run(cfg, inp) == 0
    assert registered_partitions(cfg) == []  # with projection nothing is registered
    expected = {(d, c): 5 for d in ("2026-11-01", "2026-11-02") for c in ("US", "GB", "DE")}
    assert dict(athena_view(cfg)) == expected
    # lakeloader's own engine reads the same table through the same manifests.
    config = load_config(cfg)
    engine = open_engine(config, open_catalog(config))
    got = engine.query("SELECT CAST(dt AS varchar), country, count(*) FROM demo.events GROUP BY 1, 2").rows
    assert {(d, c): n for d, c, n in got} == expected
    # The table root holds only data files; the manifests live with lakeloader's bookkeeping.
    warehouse = Path(config.warehouse.removeprefix("file://"))
    assert not [p for p in (warehouse / "demo/events").rglob("*") if p.is_file() and not p.name.endswith(".parquet")]
    assert len(list((warehouse / "_lakeloader/demo/events/symlink").rglob("symlink.txt"))) == 6

    # A new run for one partition flips its manifest to the new version; the old files wait out retain_for
    # (a query may have planned on them), then vacuum removes them, and not the one the manifest names.
    inp2 = write_input(tmp_path / "in2", rows_for(["2026-11-02"], ["US"], 7, start=1000))
    assert run(cfg, inp2) == 0
    assert dict(athena_view(cfg)) == {**expected, ("2026-11-02", "US"): 7}
    versions = list((warehouse / "demo/events/dt=2026-11-02/country=US").iterdir())
    assert len(versions) == 2
    monkeypatch.setattr(retention, "utcnow", lambda: dt.datetime.now(dt.UTC) + dt.timedelta(hours=2))
    assert main(["vacuum", "--config", cfg, "--table", "events"]) == 0
    versions = list((warehouse / "demo/events/dt=2026-11-02/country=US").iterdir())
    assert len(versions) == 1  # retain_versions: 1
    assert dict(athena_view(cfg)) == {**expected, ("2026-11-02", "US"): 7}


def test_rows_outside_the_projection_stop_the_run_and_nothing_is_published(write_config, tmp_path, capsys):
    cfg = write_config({"events": table()})
    rows = rows_for(["2026-11-01"], ["US"], 3) + rows_for(["2026-11-01"], ["BR"], 2, start=100)
    assert run(cfg, write_input(tmp_path / "in", rows)) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "tables.events.partition_projection: partition country=BR: not one of the enum values" in err
    assert "Athena would never read it (1 such partitions, 2 rows)" in err and "nothing was published" in err
    config = load_config(cfg)
    assert LocalCatalog(config.catalog.path).get_table("demo", "events") is None
    warehouse = Path(config.warehouse.removeprefix("file://"))
    assert not [p for p in (warehouse / "demo").rglob("*.parquet")]
    assert not (warehouse / "_lakeloader/demo/events/symlink").exists()


def test_rollback_and_switching_projection_off_and_on(write_config, tmp_path, capsys):
    cfg = write_config({"events": table(retain_versions=2)})
    assert run(cfg, write_input(tmp_path / "a", rows_for(["2026-11-01"], ["US", "GB"], 2)), "--run-id", "first") == 0
    out = capsys.readouterr().out
    symlinks = load_config(cfg).symlink_location(load_config(cfg).table("events"))
    assert f"  manifests  {symlinks}/ (partition projection: no partitions registered)" in out
    assert run(cfg, write_input(tmp_path / "b", rows_for(["2026-11-01"], ["US"], 9, start=50))) == 0
    assert athena_view(cfg)[("2026-11-01", "US")] == 9
    assert main(["rollback", "--config", cfg, "--table", "events", "--to", "first"]) == 0
    assert dict(athena_view(cfg)) == {("2026-11-01", "US"): 2, ("2026-11-01", "GB"): 2}

    # Projection off: the partitions are registered in the catalog again, and the manifests go.
    plain = write_config({"events": table(retain_versions=2, partition_projection={})})
    assert run(plain, write_input(tmp_path / "c", rows_for(["2026-11-02"], ["DE"], 1, start=90))) == 0
    got = {tuple(p["Values"]) for p in registered_partitions(plain)}
    assert got == {("2026-11-01", "US"), ("2026-11-01", "GB"), ("2026-11-02", "DE")}
    config = load_config(plain)
    assert not Path(config.symlink_location(config.table("events")).removeprefix("file://")).exists()

    # And on again: nothing registered, every partition reachable through its manifest.
    again = write_config({"events": table(retain_versions=2)})
    assert run(again, write_input(tmp_path / "d", rows_for(["2026-11-03"], ["FR"], 4, start=95))) == 0
    assert registered_partitions(again) == []
    assert dict(athena_view(again)) == {
        ("2026-11-01", "US"): 2, ("2026-11-01", "GB"): 2, ("2026-11-02", "DE"): 1, ("2026-11-03", "FR"): 4,
    }  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("point", ["after-audit", "after-publish"])
def test_a_killed_projected_run_leaves_old_or_new_and_the_rerun_converges(point, write_config, tmp_path):
    cfg = write_config({"events": table()})
    old = rows_for(["2026-11-01"], ["US", "GB"], 3)
    new = rows_for(["2026-11-01"], ["US"], 8, start=500) + rows_for(["2026-11-02"], ["DE"], 2, start=600)
    assert run(cfg, write_input(tmp_path / "old", old)) == 0
    before = dict(athena_view(cfg))
    after = {**before, ("2026-11-01", "US"): 8, ("2026-11-02", "DE"): 2}
    argv = ["run", "--config", cfg, "--table", "events", "--input", str(write_input(tmp_path / "new", new))]
    env = {**os.environ, "LAKELOADER_FAILPOINT": point}
    killed = subprocess.run([sys.executable, "-m", "lakeloader.cli", *argv], env=env, capture_output=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert dict(athena_view(cfg)) == (after if point == "after-publish" else before)
    assert main(argv) == 0
    assert dict(athena_view(cfg)) == after
    # Every manifest names only files that exist, and no other data files are left behind but the superseded
    # version waiting out retain_for (listed for deletion in the state).
    config = load_config(cfg)
    waiting = {
        loc.removeprefix("file://")
        for loc, _ in table_state.load(config.admin_location(config.table("events"))).pending
    }
    listed = {
        f.removeprefix("file://")
        for m in Path(config.symlink_location(config.table("events")).removeprefix("file://")).rglob("symlink.txt")
        for f in m.read_text().splitlines()
    }
    on_disk = {str(p) for p in Path(config.warehouse.removeprefix("file://"), "demo/events").rglob("*.parquet")}
    assert listed == {f for f in on_disk if str(Path(f).parent) not in waiting} and waiting
