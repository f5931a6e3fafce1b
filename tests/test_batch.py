"""`lakeloader backfill` and `run --tables/--all` on real Spark: one idempotent run per date or table, a failing
date in the middle, --keep-going, a kill -9 in the middle of a backfill and the rerun that resumes it."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import events_table, expected_from_csv
from lakeloader import batch
from lakeloader.catalog import open_catalog
from lakeloader.cli import main
from lakeloader.config import load_config
from lakeloader.errors import UsageError
from lakeloader.query import open_engine
from lakeloader.sample import generate

D1, D2, D3 = dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)


# --------------------------------------------------------------------------- no Spark


def test_date_range_and_step():
    assert batch.date_range(D1, D3, batch.parse_step("1d")) == [D1, D2, D3]
    assert batch.date_range(D1, dt.date(2026, 11, 15), batch.parse_step("1w")) == [
        D1, dt.date(2026, 11, 8), dt.date(2026, 11, 15),
    ]  # fmt: skip
    assert batch.date_range(D1, D1, batch.parse_step("7d")) == [D1]
    for bad in ("0d", "1h", "d", "-1d"):
        with pytest.raises(UsageError, match="--step"):
            batch.parse_step(bad)
    with pytest.raises(UsageError, match="before --from"):
        batch.date_range(D3, D1, batch.parse_step("1d"))
    with pytest.raises(UsageError, match="check the years"):
        batch.date_range(D1, dt.date(9999, 1, 1), batch.parse_step("1d"))


def test_backfill_argument_errors_are_one_line(capsys, write_config):
    cfg = write_config({"events": events_table()})
    assert main(["backfill", "--config", cfg, "--table", "events", "--from", "2026-11-03", "--to", "2026-11-01"]) == 2
    assert capsys.readouterr().err.strip() == "usage error: --to 2026-11-01 is before --from 2026-11-03"
    assert main(["backfill", "--config", cfg, "--table", "evnts", "--from", "2026-11-01", "--to", "2026-11-01"]) == 2
    assert "did you mean 'events'" in capsys.readouterr().err
    assert main(["run", "--config", cfg, "--all", "--run-id", "x"]) == 2
    assert "--run-id names one table's" in capsys.readouterr().err
    assert main(["run", "--config", cfg, "--tables", "events,nope"]) == 2
    assert "no table 'nope'" in capsys.readouterr().err
    assert main(["run", "--config", cfg, "--table", "events", "--all"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err
    span = ["backfill", "--config", cfg, "--table", "events", "--from", "2026-11-01", "--to", "2026-11-02"]
    assert main([*span, "--parallel", "0"]) == 2
    assert capsys.readouterr().err.strip() == "usage error: --parallel 0: run at least 1 date at a time"
    delta_cfg = write_config({"events": events_table(format="delta")})
    assert main([*span[:2], delta_cfg, *span[3:], "--parallel", "2"]) == 2
    assert "is a Delta table, whose runs commit to one Delta log in turn" in capsys.readouterr().err


class _Summary:
    def __init__(self, run_id: str, rows: int, outcome: str = "published") -> None:
        self.outcome = outcome
        self.manifest = type("M", (), {"run_id": run_id, "rows_written": rows})()


def test_run_items_progress_eta_and_worst_exit_code(caplog):
    from lakeloader.errors import ChecksFailed, LockedError

    ticks = iter(range(0, 1000, 10))  # every clock() call is 10 s later
    outcomes = {
        D1: _Summary("r1", 5, "already-published"),
        D2: ChecksFailed("x: not_null(id) 1 failing"),
        D3: _Summary("r3", 7),
        dt.date(2026, 11, 4): LockedError("held"),
    }

    def run_one(item):
        out = outcomes[item.run_date]
        if isinstance(out, Exception):
            raise out
        return out

    items = [batch.Item("events", d) for d in outcomes]
    with caplog.at_level(logging.INFO, logger="lakeloader"):
        results = batch.run_items(items, run_one, keep_going=True, what="backfill", clock=lambda: next(ticks))
    assert [r.outcome for r in results] == ["already-published", "failed", "published", "failed"]
    assert batch.exit_code(results) == 3  # the worst: busy (3) beats a failed check (1)
    assert results[1].error == "validation failed: x: not_null(id) 1 failing"
    lines = [r.getMessage() for r in caplog.records if r.name == "lakeloader.batch"]
    assert "1/4 done, 3 left, 5 rows" in lines[0]
    assert "3/4 done, 1 left, 12 rows" in lines[2] and "left" in lines[2].rsplit(",", 1)[1]
    assert batch.totals(results) == "4 runs: 1 already-published, 2 failed, 1 published; 12 rows"

    # Without --keep-going the first failure stops the batch; the rest are reported as not run.
    ticks = iter(range(0, 1000, 10))
    stopped = batch.run_items(items, run_one, keep_going=False, clock=lambda: next(ticks))
    assert [r.outcome for r in stopped] == ["already-published", "failed", "not-run", "not-run"]
    assert batch.exit_code(stopped) == 1


def test_run_items_in_parallel_overlaps_items_and_stops_starting_new_ones_after_a_failure(caplog):
    import threading
    import time

    from lakeloader.errors import InputError

    both = threading.Barrier(2, timeout=30)  # D1 and D2 can only finish if they run at the same time
    dates = [D1, D2, D3, dt.date(2026, 11, 4), dt.date(2026, 11, 5)]

    def run_one(item):
        if item.run_date in (D1, D2):
            both.wait()
        if item.run_date == D3:
            raise InputError("no input for 2026-11-03")
        if item.run_date == dt.date(2026, 11, 4):
            time.sleep(0.5)  # still running when D3 fails
        return _Summary(f"r{item.run_date.day}", item.run_date.day)

    items = [batch.Item("events", d) for d in dates]
    with caplog.at_level(logging.INFO, logger="lakeloader"):
        results = batch.run_items(items, run_one, keep_going=True, what="backfill", parallel=2)
    assert [r.outcome for r in results] == ["published", "published", "failed", "published", "published"]
    assert [r.rows for r in results] == [1, 2, 0, 4, 5] and batch.exit_code(results) == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "lakeloader.batch"]
    assert len(lines) == 5 and "1/5 done, 1 running, 3 left" in lines[0] and "5/5 done, 0 running, 0 left" in lines[-1]

    # Without --keep-going nothing new starts after the failure; what is running finishes.
    both.reset()
    stopped = batch.run_items(items, run_one, keep_going=False, parallel=2)
    assert [r.outcome for r in stopped][:3] == ["published", "published", "failed"]
    assert [r.outcome for r in stopped][4] == "not-run"  # D4 may have started beside D3; D5 never does


# --------------------------------------------------------------------------- real Spark


def _inputs(root: Path, dates: list[dt.date], rows: int = 300) -> dict[dt.date, Path]:
    out = {}
    for i, d in enumerate(dates):
        out[d] = root / d.isoformat()
        generate(out[d], rows=rows, files=1, days=1, seed=30 + i, start=d)
    return out


def contents(cfg: str, table: str = "demo.events") -> dict:
    config = load_config(cfg)
    sql = f"SELECT dt, country, count(*), coalesce(sum(amount), 0) FROM {table} GROUP BY 1, 2"
    rows = open_engine(config, open_catalog(config)).query(sql).rows
    return {(d.isoformat(), c): (n, s) for d, c, n, s in rows}


def expected(*folders: Path) -> dict:
    out: dict = {}
    for f in folders:
        out.update(expected_from_csv(f))
    return out


def _config(write_config, root: Path, **extra) -> str:
    source = {**events_table()["source"], "path": str(root) + "/{run_date:%Y-%m-%d}/"}
    return write_config({"events": events_table(source=source), **extra})


@pytest.mark.spark
@pytest.mark.e2e
def test_backfill_failing_date_then_keep_going_rerun_skips_published_dates(spark, tmp_path, write_config, capsys):
    root = tmp_path / "in"
    inp = _inputs(root, [D1, D3])  # D2's input is missing: that date fails
    cfg = _config(write_config, root)
    argv = ["backfill", "--config", cfg, "--table", "events", "--from", "2026-11-01", "--to", "2026-11-03"]

    assert main(argv) == 2
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.startswith("2026-")}
    assert rows == {"2026-11-01": "published", "2026-11-02": "failed", "2026-11-03": "not-run"}
    assert "input error" in out and contents(cfg) == expected(inp[D1])

    # With --keep-going a failing date does not stop the others.
    assert main([*argv, "--keep-going"]) == 2
    out = capsys.readouterr().out
    assert "3 runs: 1 already-published, 1 failed, 1 published" in out
    assert contents(cfg) == expected(inp[D1], inp[D3])

    # The input arrives: the rerun publishes only that date; the others are recognised by their run ids.
    inp.update(_inputs(root, [D2]))
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "3 runs: 2 already-published, 1 published" in out
    assert contents(cfg) == expected(inp[D1], inp[D2], inp[D3])
    # One manifest per date, each with its own run id.
    history = list((tmp_path / "warehouse/_lakeloader/demo/events/manifests").glob("*.json"))
    assert sorted(p.stem[:8] for p in history) == ["20261101", "20261102", "20261103"]


@pytest.mark.spark
@pytest.mark.e2e
@pytest.mark.slow
def test_backfill_killed_mid_date_resumes_where_it_stopped(spark, tmp_path, write_config, capsys):
    root = tmp_path / "in"
    inp = _inputs(root, [D1, D2, D3])
    cfg = _config(write_config, root)
    argv = ["backfill", "--config", cfg, "--table", "events", "--from", "2026-11-01", "--to", "2026-11-03"]
    env = {**os.environ, "LAKELOADER_FAILPOINT": "after-write#2"}  # kill -9 while writing the second date
    killed = subprocess.run(
        [sys.executable, "-m", "lakeloader.cli", *argv], env=env, capture_output=True, text=True, timeout=300
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert "backfill events 2026-11-01: published" in killed.stderr
    assert contents(cfg) == expected(inp[D1])  # the killed date left nothing visible

    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.startswith("2026-")}
    assert rows == {"2026-11-01": "already-published", "2026-11-02": "published", "2026-11-03": "published"}
    assert contents(cfg) == expected(inp[D1], inp[D2], inp[D3])
    assert open_catalog(load_config(cfg)).get_table("demo", "events__lakeloader_lock") is None


@pytest.mark.spark
@pytest.mark.e2e
def test_run_tables_and_all_one_summary_each_worst_exit_code(spark, tmp_path, write_config, capsys):
    root = tmp_path / "in"
    inp = _inputs(root, [D1])
    source = {**events_table()["source"], "path": str(root) + "/{run_date:%Y-%m-%d}/"}
    missing = {**source, "path": str(tmp_path / "nothing") + "/{run_date:%Y-%m-%d}/"}
    cfg = write_config({
        "events": events_table(source=source),
        "copy": events_table(source=source, database="other"),
        "broken": events_table(source=missing),
    })  # fmt: skip
    common = ["--config", cfg, "--run-date", "2026-11-01"]

    assert main(["run", *common, "--tables", "events,copy"]) == 0
    out = capsys.readouterr().out
    assert "lakeloader run of 2 tables for 2026-11-01" in out
    assert [line.split()[:2] for line in out.splitlines() if line.startswith(("events ", "copy "))] == [
        ["events", "published"], ["copy", "published"],
    ]  # fmt: skip
    assert contents(cfg) == contents(cfg, "other.copy") == expected(inp[D1])

    # --all in config order: the broken table fails and stops the run without --keep-going ...
    assert main(["run", *common, "--all"]) == 2
    out = capsys.readouterr().out
    assert [line.split()[1] for line in out.splitlines() if line.startswith(("events ", "copy ", "broken "))] == [
        "already-published", "already-published", "failed",
    ]  # fmt: skip
    # ... and each table took and released its own lock.
    catalog = open_catalog(load_config(cfg))
    assert catalog.get_table("demo", "events__lakeloader_lock") is None
    assert catalog.get_table("other", "copy__lakeloader_lock") is None


@pytest.mark.spark
@pytest.mark.e2e
@pytest.mark.slow
def test_backfill_parallel_holds_the_lock_for_its_span_and_publishes_every_date_once(
    spark, tmp_path, write_config, capsys
):
    import signal
    import time

    d4 = dt.date(2026, 11, 4)
    root = tmp_path / "in"
    inp = _inputs(root, [D1, D2, d4])  # D3's input is missing: that date fails, --keep-going runs the rest
    cfg = _config(write_config, root)
    argv = ["backfill", "--config", cfg, "--table", "events", "--from", "2026-11-01", "--to", "2026-11-04",
            "--parallel", "2", "--keep-going"]  # fmt: skip
    env = {**os.environ, "LAKELOADER_FAILPOINT": "after-write:stop"}  # frozen mid-backfill, holding the lock
    backfill = subprocess.Popen([sys.executable, "-m", "lakeloader.cli", *argv], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while open(f"/proc/{backfill.pid}/stat").read().rsplit(")", 1)[1].split()[0] != "T":
            assert backfill.poll() is None and time.monotonic() < deadline, "the backfill never wrote a date"
            time.sleep(0.5)
        # Another process's run of the table meanwhile: refused in one line, naming the backfill.
        capsys.readouterr()
        assert main(["run", "--config", cfg, "--table", "events", "--run-date", "2026-11-01"]) == 3
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith("busy: demo.events is being loaded by run backfill-events-20261101-20261104-")
        os.kill(backfill.pid, signal.SIGCONT)
        out, err = backfill.communicate(timeout=600)
    finally:
        if backfill.poll() is None:
            os.kill(backfill.pid, signal.SIGCONT)
            backfill.kill()
    assert backfill.returncode == 2, err[-3000:]
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.startswith("2026-")}
    assert rows == {"2026-11-01": "published", "2026-11-02": "published", "2026-11-03": "failed",
                    "2026-11-04": "published"}  # fmt: skip
    assert "2 at a time" in out and "4 runs: 3 published, 1 failed" in out
    assert "running" in err  # the progress lines count the dates still running
    # Every date published exactly once: the table holds each date's rows once, one manifest per date.
    assert contents(cfg) == expected(inp[D1], inp[D2], inp[d4])
    config = load_config(cfg)
    manifests = sorted((tmp_path / "warehouse/_lakeloader/demo/events/manifests").glob("*.json"))
    assert sorted(p.stem[:8] for p in manifests) == ["20261101", "20261102", "20261104"]
    assert open_catalog(config).get_table("demo", "events__lakeloader_lock") is None  # released at the end
