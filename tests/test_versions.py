"""Table state from the run history, pruning old versions, and rollback end to end."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from conftest import build_manifest, events_table, expected_from_csv
from lakeloader import state as table_state
from lakeloader.catalog import open_catalog
from lakeloader.cli import main
from lakeloader.config import load_config
from lakeloader.errors import UsageError
from lakeloader.manifest import Manifest, PartitionStats
from lakeloader.state import TableState, advance, from_history
from lakeloader.versions import state_as_of


def run(run_id: str, mode: str, parts: dict[str, int], status: str = "published") -> Manifest:
    """A manifest whose partitions are {value: rows}, each at a location named after the run."""
    return build_manifest(
        [PartitionStats([k], f"file:///wh/demo/t/k={k}/_v={run_id}", 1, n, 10) for k, n in parts.items()],
        run_id=run_id, table="t", mode=mode, run_date="2026-01-01", status=status, table_location="file:///wh/demo/t",
        partition_keys=["k"],
    )  # fmt: skip


HISTORY = [
    run("r1", "overwrite_partitions", {"a": 1, "b": 2}),
    run("r2", "overwrite_partitions", {"b": 3, "c": 4}),
    run("r3", "overwrite_partitions", {"a": 9}, status="audit-failed"),
    run("r4", "overwrite", {"c": 5}),
]


def rows(state) -> dict[str, int]:
    return {k[0]: p.rows for k, p in state.items()}


def test_state_folds_published_runs_in_order():
    assert rows(state_as_of(HISTORY, "r1")) == {"a": 1, "b": 2}
    assert rows(state_as_of(HISTORY, "r2")) == {"a": 1, "b": 3, "c": 4}
    assert rows(state_as_of(HISTORY)) == {"c": 5}  # overwrite replaced the whole table
    with pytest.raises(UsageError, match="run 'r3' was never published"):
        state_as_of(HISTORY, "r3")  # audit-failed runs never changed the table


NOW = "2026-01-01T00:00:00+00:00"


def fold(history, retain):
    """Replay the published runs through state.advance; also the locations each publish retired."""
    state = TableState()
    for m in history:
        if m.status == "published":
            state = advance(state, m, retain, now=NOW)
    return state, sorted(loc for loc, _ in state.pending)


def test_advance_retires_beyond_retain_and_never_a_live_version():
    state, retired = fold(HISTORY, retain=1)
    assert retired == ["file:///wh/demo/t/k=b/_v=r1", "file:///wh/demo/t/k=c/_v=r2"]
    assert all(since == NOW for _, since in state.pending)
    assert fold(HISTORY, retain=2)[1] == []
    assert rows({tuple(p.values): p for p in state.live}) == rows(state_as_of(HISTORY))
    assert (state.latest, state.previous) == ("r4", "r2")
    # A rollback re-publishes an old version: it is live, and recent again, so it leaves `pending`.
    back = run("rollback-1", "rollback", {"b": 2})
    back.partitions[0].location = "file:///wh/demo/t/k=b/_v=r1"
    after = advance(state, back, retain=1, now="2026-01-02T00:00:00+00:00")
    assert "file:///wh/demo/t/k=b/_v=r1" not in dict(after.pending)
    assert rows({tuple(p.values): p for p in after.live}) == {"b": 2}
    # What was already pending keeps the time it left; what this publish retired gets its time.
    assert dict(after.pending) == {
        "file:///wh/demo/t/k=c/_v=r2": NOW,
        "file:///wh/demo/t/k=b/_v=r2": "2026-01-02T00:00:00+00:00",
    }
    # Advancing to the run that is already latest changes nothing (a recovered rerun).
    assert advance(after, back, retain=1, now="2026-01-03T00:00:00+00:00") == after


def test_state_survives_json_and_matches_a_rebuild_from_the_manifests():
    state, _ = fold(HISTORY, retain=1)
    assert TableState.from_json(state.to_json()) == state
    assert from_history(HISTORY, retain=1) == replace(state, pending=(), unpruned=())


def test_a_state_json_from_before_pending_loads_with_none_and_saves_it():
    state, _ = fold(HISTORY, retain=1)
    old = json.loads(state.to_json())
    del old["pending"]
    old["format"] = 1
    loaded = TableState.from_json(json.dumps(old))
    assert loaded == replace(state, pending=())
    assert json.loads(loaded.to_json())["pending"] == [] and json.loads(loaded.to_json())["format"] == 2


@pytest.mark.spark
@pytest.mark.e2e
def test_history_rollback_and_retention(write_config, tmp_path, capsys):
    from lakeloader.sample import generate

    a, b = tmp_path / "a", tmp_path / "b"
    generate(a, rows=1_000, files=1, days=2, seed=1)
    generate(b, rows=500, files=1, days=2, seed=2)
    cfg = write_config({"events": events_table(retain_versions=2, checks=[])})

    def load(inp, run_id):
        return main(["run", "--config", cfg, "--table", "events", "--input", str(inp), "--run-id", run_id])

    def count():
        config = load_config(cfg)
        from lakeloader.query import open_engine

        return open_engine(config, open_catalog(config)).query("SELECT count(*) FROM demo.events").rows[0][0]

    def state():
        config = load_config(cfg)
        return table_state.load(config.admin_location(config.table("events")))

    assert load(a, "ra") == 0 and count() == 1_000
    assert (state().latest, state().previous) == ("ra", None)
    assert load(b, "rb") == 0
    after_b = count()
    assert (state().latest, state().previous) == ("rb", "ra")
    assert main(["history", "--config", cfg, "--table", "events"]) == 0
    out = capsys.readouterr().out
    assert "history of demo.events (2 runs, newest first)" in out and out.index("rb ") < out.index("ra ")
    assert main(["history", "--config", cfg, "--table", "events", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "(the newest 1 of 2 runs, newest first)" in out and "rb " in out and "ra " not in out

    # While another run holds the table, a rollback waits its turn like a run: busy, exit 3, nothing changed.
    from lakeloader.lock import acquire

    config = load_config(cfg)
    holder = acquire(open_catalog(config), "demo", "events", "other-run", "x", config.lock)
    capsys.readouterr()
    assert main(["rollback", "--config", cfg, "--table", "events", "--to", "ra"]) == 3
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("busy: demo.events is being loaded by run other-run")
    assert count() == after_b and state().latest == "rb"
    holder.release()

    assert main(["rollback", "--config", cfg, "--table", "events", "--to", "ra"]) == 0
    assert "rolled back to ra" in capsys.readouterr().out
    assert count() == 1_000
    # The rollback is the live run now; its state is ra's partitions.
    rolled = state()
    assert rolled.latest.startswith("rollback-to-ra-") and rolled.previous == "rb"
    assert sum(p.rows for p in rolled.live) == 1_000
    assert main(["rollback", "--config", cfg, "--table", "events", "--to", "rb"]) == 0
    assert count() == after_b

    # A third load prunes beyond 2 versions per partition; rolling back to a pruned run is refused.
    assert load(a, "rc") == 0
    before = count()
    capsys.readouterr()
    assert main(["rollback", "--config", cfg, "--table", "events", "--to", "ra"]) == 2
    assert "cannot roll back to ra: its version of partition" in capsys.readouterr().err
    assert count() == before  # nothing changed
    assert main(["rollback", "--config", cfg, "--table", "events", "--to", "nope"]) == 2


@pytest.mark.spark
@pytest.mark.e2e
def test_a_table_without_a_state_object_upgrades_itself_on_its_next_run(write_config, tmp_path, capsys):
    """A table the former release made has manifests and catalog entries but no state object."""
    from lakeloader.sample import generate

    a, b = tmp_path / "a", tmp_path / "b"
    generate(a, rows=300, files=1, days=2, seed=3)
    generate(b, rows=200, files=1, days=2, seed=4)
    checks = [{"kind": "row_count_change", "max_pct": 90}]
    cfg = write_config({"events": events_table(retain_versions=2, checks=checks)})
    argv = ["--config", cfg, "--table", "events"]
    assert main(["run", *argv, "--input", str(a), "--run-id", "ra"]) == 0
    assert main(["run", *argv, "--input", str(b), "--run-id", "rb"]) == 0
    config = load_config(cfg)
    admin = config.admin_location(config.table("events"))
    for f in (tmp_path / "warehouse/_lakeloader/demo/events").rglob("*.json"):
        if f.parent.name == "states" or f.name == "state.json":
            f.unlink()  # now exactly what the former release left behind
    capsys.readouterr()

    # validate reads the manifests once to find the live run and the one before it, and writes nothing.
    assert main(["validate", *argv]) == 0
    assert "run rb" in capsys.readouterr().out and table_state.load(admin) is None
    # The next run (here a no-op rerun) saves the state rebuilt from the manifests.
    assert main(["run", *argv, "--input", str(b), "--run-id", "rb"]) == 0
    assert "already-published" in capsys.readouterr().out
    upgraded = table_state.load(admin)
    live_rows = sum(n for n, _ in {**expected_from_csv(a), **expected_from_csv(b)}.values())
    assert (upgraded.latest, upgraded.previous) == ("rb", "ra") and sum(p.rows for p in upgraded.live) == live_rows
    # A run from before the upgrade has no snapshot: rollback to it replays the manifests.
    assert main(["rollback", *argv, "--to", "ra"]) == 0
    assert sum(p.rows for p in table_state.load(admin).live) == sum(n for n, _ in expected_from_csv(a).values())
