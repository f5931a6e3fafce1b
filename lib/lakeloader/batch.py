"""Many runs in a row: a backfill (one table, one run per date) or several tables for one date.

Each item is an ordinary idempotent `run_table` call with its own run id and manifest (and the table's
lock, taken by each run, or held for the whole batch by `backfill --parallel`: see hold.py), so
a date whose input was already published with the same input is recognised by the run id and skipped
(`already-published`), and rerunning a killed batch resumes where it stopped: finished items are
skipped, a half-done one is recovered or rewritten by the pipeline's own rules. This module only
orders the items (one at a time, or N in a thread pool), keeps going or stops on a failure, and reports
progress and the result of each.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Optional

from lakeloader.aws import one_line
from lakeloader.errors import LakeloaderError, UsageError

log = logging.getLogger(__name__)

_STEP_RE = re.compile(r"^([1-9][0-9]*)([dw])$")
SKIPPED = "already-published"
FAILED = "failed"
NOT_RUN = "not-run"
MAX_DATES = 100_000  # a typo'd year (20244-01-01) should be an error, not a day-long loop


@dataclass(frozen=True)
class Item:
    """One run of a batch: a table and the run date that fills `{run_date}` in its source path."""

    table: str
    run_date: dt.date

    def label(self) -> str:
        """`events 2024-01-02`."""
        return f"{self.table} {self.run_date.isoformat()}"


@dataclass(frozen=True)
class ItemResult:
    """What happened to one item; `exit_code` is the CLI's code for it (0 when it is done)."""

    item: Item
    outcome: str  # published | already-published | recovered | dry-run | failed | not-run
    run_id: Optional[str] = None
    rows: int = 0
    seconds: float = 0.0
    error: Optional[str] = None
    exit_code: int = 0


def parse_step(text: str) -> dt.timedelta:
    """`1d`, `7d`, `2w` -> a timedelta; UsageError otherwise."""
    m = _STEP_RE.match(text.strip())
    if not m:
        raise UsageError(f"--step {text!r}: use a number of days or weeks, e.g. 1d, 7d, 2w")
    n = int(m.group(1))
    return dt.timedelta(days=n if m.group(2) == "d" else 7 * n)


def date_range(start: dt.date, end: dt.date, step: dt.timedelta) -> list[dt.date]:
    """Every `step` from `start` to `end`, both included."""
    if end < start:
        raise UsageError(f"--to {end.isoformat()} is before --from {start.isoformat()}")
    count = (end - start) // step + 1
    if count > MAX_DATES:
        raise UsageError(f"--from {start} --to {end} spans {count:,} runs (at most {MAX_DATES:,}); check the years")
    return [start + i * step for i in range(count)]


def run_items(
    items: Sequence[Item],
    run_one: Callable[[Item], Any],
    keep_going: bool,
    what: str = "batch",
    clock: Callable[[], float] = time.monotonic,
    parallel: int = 1,
) -> list[ItemResult]:
    """Run each item with `run_one` (returns a pipeline RunSummary), `parallel` at a time; one result per item.

    A failed item stops the batch (the rest are `not-run`; with `parallel` > 1 the items already running
    finish first) unless `keep_going`. Progress after every item: done / running / left, rows, elapsed and
    an estimate of the time left. Ctrl-C stops: what finished is published, and a rerun skips it.
    """
    progress = _Progress(len(items), what, clock, parallel)
    if parallel > 1:
        return _run_parallel(items, run_one, keep_going, progress)
    results: list[ItemResult] = []
    for n, item in enumerate(items, 1):
        result = _attempt(item, run_one, clock)
        results.append(result)
        progress.report(result, running=0)
        if result.outcome == FAILED and not keep_going and n < len(items):
            log.warning("%s: stopping at the failed %s (--keep-going runs the rest)", what, item.label())
            results += [ItemResult(i, NOT_RUN) for i in items[n:]]
            break
    return results


def _run_parallel(
    items: Sequence[Item], run_one: Callable[[Item], Any], keep_going: bool, progress: _Progress
) -> list[ItemResult]:
    """Items in a pool of `progress.parallel` threads (one Spark session runs their jobs side by side)."""
    results: dict[int, ItemResult] = {}
    queue = list(enumerate(items))[::-1]  # popped from the end: in date order
    stopped = False
    with ThreadPoolExecutor(max_workers=progress.parallel, thread_name_prefix=progress.what) as pool:
        running: dict[Future, int] = {}
        while running or (queue and not stopped):
            while queue and not stopped and len(running) < progress.parallel:
                i, item = queue.pop()
                running[pool.submit(_attempt, item, run_one, progress.clock)] = i
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                result = results[running.pop(future)] = future.result()
                progress.report(result, running=len(running))
                if result.outcome == FAILED and not keep_going and not stopped and (queue or running):
                    stopped = True
                    log.warning(
                        "%s: stopping at the failed %s: %d running finish, %d not started (--keep-going runs "
                        "the rest)", progress.what, result.item.label(), len(running), len(queue),
                    )  # fmt: skip
    return [results.get(i, ItemResult(item, NOT_RUN)) for i, item in enumerate(items)]


def _attempt(item: Item, run_one: Callable[[Item], Any], clock: Callable[[], float]) -> ItemResult:
    """Run one item; its failure becomes its result (one line) instead of ending the batch."""
    t = clock()
    try:
        summary = run_one(item)
    except LakeloaderError as e:
        return ItemResult(item, FAILED, seconds=clock() - t, error=str(e), exit_code=e.exit_code)
    except Exception as e:  # a Spark or AWS failure on one date must not lose the batch's report
        log.debug("%s failed", item.label(), exc_info=True)
        error = f"error: {type(e).__name__}: {one_line(str(e))[:300]}"
        return ItemResult(item, FAILED, seconds=clock() - t, error=error, exit_code=2)
    m = summary.manifest
    return ItemResult(item, summary.outcome, m.run_id, m.rows_written, clock() - t)


class _Progress:
    """The line logged after each item: done / running / left, rows, elapsed, estimated time left."""

    def __init__(self, total: int, what: str, clock: Callable[[], float], parallel: int) -> None:
        self.total, self.what, self.clock, self.parallel = total, what, clock, parallel
        self.started = clock()
        self.done = self.rows = 0
        self.ran: list[float] = []  # seconds of items that did work (skipped ones would make the estimate too low)

    def report(self, result: ItemResult, running: int) -> None:
        self.done += 1
        self.rows += result.rows
        if result.outcome not in (SKIPPED, FAILED):
            self.ran.append(result.seconds)
        left = self.total - self.done
        elapsed = self.clock() - self.started
        per_item = sum(self.ran) / len(self.ran) if self.ran else elapsed / self.done
        eta = f", about {_duration(per_item * (left - running / 2) / self.parallel)} left" if left else ""
        busy = f", {running} running" if self.parallel > 1 else ""
        detail = result.error if result.outcome == FAILED else f"{result.rows:,} rows, run {result.run_id}"
        log.log(
            logging.WARNING if result.outcome == FAILED else logging.INFO,
            "%s %s: %s (%s) in %s; %d/%d done%s, %d left, %s rows, elapsed %s%s",
            self.what, result.item.label(), result.outcome, detail, _duration(result.seconds), self.done,
            self.total, busy, left - running, f"{self.rows:,}", _duration(elapsed), eta,
        )  # fmt: skip


def exit_code(results: Sequence[ItemResult]) -> int:
    """The worst item's exit code: 0 when every item is done."""
    return max((r.exit_code for r in results), default=0)


def summary_rows(results: Sequence[ItemResult], by_table: bool) -> list[tuple[str, ...]]:
    """The summary table's rows (header first): per date for a backfill, per table otherwise."""
    head = ("table" if by_table else "run date", "result", "run id", "rows", "time", "error")
    rows = [head]
    for r in results:
        key = r.item.table if by_table else r.item.run_date.isoformat()
        rows.append((
            key, r.outcome, r.run_id or "-", f"{r.rows:,}", _duration(r.seconds) if r.outcome != NOT_RUN else "-",
            r.error or "",
        ))  # fmt: skip
    return rows


def totals(results: Sequence[ItemResult]) -> str:
    """`5 runs: 3 published, 1 already-published, 1 failed; 12,345 rows`."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    parts = ", ".join(f"{v} {k}" for k, v in counts.items())
    return f"{len(results)} runs: {parts}; {sum(r.rows for r in results):,} rows"


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, s = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{s:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
