"""Table state from the run history, pruning old versions, and rollback end to end."""

from __future__ import annotations

import pytest

from conftest import events_table
from lakeloader.catalog import open_catalog
from lakeloader.cli import main
from lakeloader.config import load_config
from lakeloader.errors import UsageError
from lakeloader.manifest import Manifest, PartitionStats
from lakeloader.versions import prunable, state_as_of


def run(run_id: str, mode: str, parts: dict[str, int], status: str = "published") -> Manifest:
    """A manifest whose partitions are {value: rows}, each at a location named after the run."""
    return Manifest(
        run_id=run_id, database="demo", table="t", mode=mode, run_date="2026-01-01", status=status,
        table_location="file:///wh/demo/t", partition_keys=["k"], schema=[],
        partitions=[PartitionStats([k], f"file:///wh/demo/t/k={k}/_v={run_id}", 1, n, 10) for k, n in parts.items()],
        input_uri="in", input_files=1, input_bytes=1, rows_read=0, rows_written=sum(parts.values()), bad_rows=0,
        quarantine_location=None,
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


def test_prunable_keeps_the_newest_versions_and_never_a_live_one():
    live = {"file:///wh/demo/t/k=c/_v=r4"}
    assert prunable(HISTORY, live, retain=1) == [
        "file:///wh/demo/t/k=b/_v=r1",
        "file:///wh/demo/t/k=c/_v=r2",
    ]
    assert prunable(HISTORY, live, retain=2) == []
    # A live location is kept even when it is old (after a rollback).
    assert "file:///wh/demo/t/k=b/_v=r1" not in prunable(HISTORY, live | {"file:///wh/demo/t/k=b/_v=r1"}, 1)


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

    assert load(a, "ra") == 0 and count() == 1_000
    assert load(b, "rb") == 0
    after_b = count()
    assert main(["history", "--config", cfg, "--table", "events"]) == 0
    out = capsys.readouterr().out
    assert "history of demo.events (2 runs)" in out and "ra " in out and "rb " in out

    assert main(["rollback", "--config", cfg, "--table", "events", "--to", "ra"]) == 0
    assert "rolled back to ra" in capsys.readouterr().out
    assert count() == 1_000
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
