"""retain_for: a publish leaves the versions it supersedes readable until they have been unreferenced that long;
the table's next run or `lakeloader vacuum` then removes them, and never anything a catalog partition points to."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from pyspark.sql import functions as F

from conftest import events_contents, events_table, expected_from_csv
from lakeloader import retention
from lakeloader import state as table_state
from lakeloader.catalog import open_catalog
from lakeloader.catalog.tables import partition_input
from lakeloader.cli import main
from lakeloader.config import load_config
from lakeloader.sample import generate

pytestmark = [pytest.mark.spark, pytest.mark.e2e]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("retention-inputs")
    generate(root / "a", rows=600, files=1, days=2, seed=31)
    generate(root / "b", rows=400, files=1, days=2, seed=32)  # the same days: it supersedes a's partitions
    return root / "a", root / "b"


def run(cfg: str, inp: Path, run_id: str, *more: str) -> int:
    return main(["run", "--config", cfg, "--table", "events", "--input", str(inp), "--run-id", run_id, *more])


def vacuum(cfg: str, *more: str) -> int:
    return main(["vacuum", "--config", cfg, "--table", "events", *more])


def live(cfg: str) -> dict[tuple[str, ...], str]:
    config = load_config(cfg)
    parts = open_catalog(config).get_partitions("demo", "events")
    return {tuple(p["Values"]): p["StorageDescriptor"]["Location"] for p in parts}


def files_of(location: str) -> list[str]:
    return sorted(str(f) for f in Path(location.removeprefix("file://")).glob("*.parquet"))


def pending(cfg: str) -> set[str]:
    config = load_config(cfg)
    return {loc for loc, _ in table_state.load(config.admin_location(config.table("events"))).pending}


def clock_at(monkeypatch, **later: float) -> None:
    """Retention's clock `later` from now (instead of sleeping through retain_for)."""
    now = dt.datetime.now(dt.UTC) + dt.timedelta(**later)
    monkeypatch.setattr(retention, "utcnow", lambda: now)


def totals(folder: Path) -> tuple[int, Decimal]:
    parts = expected_from_csv(folder).values()
    return sum(n for n, _ in parts), sum((s for _, s in parts), Decimal(0))


def test_readers_in_flight_finish_on_the_old_version_and_the_next_run_removes_it_after_retain_for(
    spark, inputs, write_config, monkeypatch, capsys
):
    a, b = inputs
    cfg = write_config({"events": events_table(checks=[])})  # retain_for: the default, 1h
    assert run(cfg, a, "ra") == 0
    old = live(cfg)
    old_files = [f for loc in old.values() for f in files_of(loc)]
    # Two readers plan on the live version before the flip: DuckDB binds a query over its files (reading
    # the schema), Spark lists them and reads their footers, as Athena plans splits.
    con = duckdb.connect()
    duck = con.sql(f"SELECT count(*), sum(amount) FROM read_parquet({old_files!r})")
    planned = spark.read.parquet(*old.values()).agg(F.count("*"), F.sum("amount"))

    assert run(cfg, b, "rb") == 0  # the publish flips every partition to b's version
    superseded = set(old.values()) - set(live(cfg).values())
    assert superseded and pending(cfg) == superseded
    # Both readers finish with a's rows, no error.
    assert duck.fetchone() == totals(a)
    assert tuple(planned.collect()[0]) == totals(a)

    # The next run of the table, even a no-op rerun, removes them only once retain_for has passed.
    clock_at(monkeypatch, minutes=59)
    assert run(cfg, b, "rb") == 0
    assert all(files_of(loc) for loc in superseded)
    clock_at(monkeypatch, minutes=61)
    capsys.readouterr()
    assert run(cfg, b, "rb") == 0
    assert "already-published" in capsys.readouterr().out
    assert not any(Path(loc.removeprefix("file://")).exists() for loc in superseded) and pending(cfg) == set()
    # Nothing live went: every partition has its files and the table is exactly b over a.
    assert all(files_of(loc) for loc in live(cfg).values())
    assert events_contents(cfg) == {**expected_from_csv(a), **expected_from_csv(b)}

    # The contrast, retain_for: 0 (the former behaviour): the same reader fails once the publish deletes.
    now = live(cfg)
    doomed = spark.read.parquet(*now.values()).agg(F.count("*"))
    assert run(cfg, a, "rc", "--set", "tables.events.retain_for=0") == 0
    assert not any(Path(loc.removeprefix("file://")).exists() for loc in set(now.values()) - set(live(cfg).values()))
    with pytest.raises(Exception, match="(?i)does not exist|FileNotFound"):
        doomed.collect()


def test_vacuum_dry_run_waits_for_retain_for_and_never_removes_a_live_version(
    spark, inputs, write_config, monkeypatch, capsys
):
    a, b = inputs
    cfg = write_config({"events": events_table(checks=[], retain_for="30m")})
    assert run(cfg, a, "ra") == 0 and run(cfg, b, "rb") == 0
    superseded = pending(cfg)
    assert superseded and all(files_of(loc) for loc in superseded)
    capsys.readouterr()

    clock_at(monkeypatch, minutes=20)
    assert vacuum(cfg) == 0
    out = capsys.readouterr().out
    assert "removed 0 superseded versions (retain_for 30m)" in out
    assert f"waiting      {len(superseded)} versions unreferenced for less than 30m" in out
    assert "due in 9 min" in out or "due in 10 min" in out
    # Beyond retain_versions it is no rollback target, even while its files wait out retain_for.
    assert main(["rollback", "--config", cfg, "--table", "events", "--to", "ra"]) == 2
    assert "cannot roll back to ra" in capsys.readouterr().err

    clock_at(monkeypatch, minutes=31)
    assert vacuum(cfg, "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"would remove {len(superseded)} superseded versions" in out
    assert all(f"would remove {loc}" in out for loc in superseded)
    assert all(files_of(loc) for loc in superseded) and pending(cfg) == superseded  # nothing changed

    # A catalog partition pointing at a pending version (a rollback that died before recording itself):
    # vacuum keeps it, and removes the rest.
    config = load_config(cfg)
    catalog = open_catalog(config)
    back = sorted(superseded)[0]
    partition_dir = back.split("/_v=")[0] + "/"
    part = next(
        p
        for p in catalog.get_partitions("demo", "events")
        if p["StorageDescriptor"]["Location"].startswith(partition_dir)
    )
    columns = catalog.get_table("demo", "events")["StorageDescriptor"]["Columns"]
    catalog.put_partitions("demo", "events", [partition_input(part["Values"], back, columns)])
    assert vacuum(cfg) == 0
    out = capsys.readouterr().out
    assert f"removed {len(superseded) - 1} superseded versions" in out and "kept         1 due versions" in out
    assert files_of(back) and pending(cfg) == {back}
    assert not any(Path(loc.removeprefix("file://")).exists() for loc in superseded - {back})
    assert all(files_of(loc) for loc in live(cfg).values())


def test_vacuum_of_a_table_with_nothing_superseded_and_of_a_delta_table(write_config, capsys):
    cfg = write_config({"events": events_table(), "ev_delta": events_table(format="delta")})
    assert vacuum(cfg) == 0  # never loaded: nothing to do
    assert "nothing superseded is waiting" in capsys.readouterr().out
    assert main(["vacuum", "--config", cfg, "--table", "ev_delta"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Delta's own VACUUM" in err
