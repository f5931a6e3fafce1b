"""Many runs in a row: a backfill (one table, one run per date) or several tables for one date.

Each item is an ordinary idempotent `run_table` call with its own run id, manifest and table lock, so
a date whose input was already published with the same input is recognised by the run id and skipped
(`already-published`), and rerunning a killed batch resumes where it stopped: finished items are
skipped, a half-done one is recovered or rewritten by the pipeline's own rules. This module only
orders the items, keeps going or stops on a failure, and reports progress and the result of each.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Sequence
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
) -> list[ItemResult]:
    """Run each item with `run_one` (returns a pipeline RunSummary) in order; one result per item.

    A failed item stops the batch (the rest are `not-run`) unless `keep_going`. Progress after every
    item: done / left, rows, elapsed and an estimate of the time left. Ctrl-C stops at once: what
    finished is published, and a rerun skips it.
    """
    results: list[ItemResult] = []
    started = clock()
    rows = 0
    ran: list[float] = []  # seconds of items that did work (skipped ones would make the estimate too low)
    for n, item in enumerate(items, 1):
        t = clock()
        try:
            summary = run_one(item)
        except LakeloaderError as e:
            result = ItemResult(item, FAILED, seconds=clock() - t, error=str(e), exit_code=e.exit_code)
        except Exception as e:  # a Spark or AWS failure on one date must not lose the batch's report
            log.debug("%s failed", item.label(), exc_info=True)
            error = f"error: {type(e).__name__}: {one_line(str(e))[:300]}"
            result = ItemResult(item, FAILED, seconds=clock() - t, error=error, exit_code=2)
        else:
            m = summary.manifest
            result = ItemResult(item, summary.outcome, m.run_id, m.rows_written, clock() - t)
        results.append(result)
        rows += result.rows
        if result.outcome not in (SKIPPED, FAILED):
            ran.append(result.seconds)
        left = len(items) - n
        per_item = sum(ran) / len(ran) if ran else (clock() - started) / n
        eta = f", about {_duration(per_item * left)} left" if left else ""
        detail = result.error if result.outcome == FAILED else f"{result.rows:,} rows, run {result.run_id}"
        log.log(
            logging.WARNING if result.outcome == FAILED else logging.INFO,
            "%s %s: %s (%s) in %s; %d/%d done, %d left, %s rows, elapsed %s%s",
            what, item.label(), result.outcome, detail, _duration(result.seconds), n, len(items), left,
            f"{rows:,}", _duration(clock() - started), eta,
        )  # fmt: skip
        if result.outcome == FAILED and not keep_going and left:
            log.warning("%s: stopping at the failed %s (--keep-going runs the rest)", what, item.label())
            results += [ItemResult(i, NOT_RUN) for i in items[n:]]
            break
    return results


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
