"""Deterministic sample input for the demo and tests: event CSV files with skew, nulls and hostile values."""

from __future__ import annotations

import csv
import logging
import os
import random
import time
from bisect import bisect
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fnmatch import fnmatch
from itertools import accumulate
from pathlib import Path
from typing import Optional

log = logging.getLogger(__name__)

COLUMNS = ("event_id", "event_ts", "user_id", "country", "device", "amount", "status")
SCHEMA_DDL = (
    "event_id BIGINT, event_ts TIMESTAMP, user_id STRING, country STRING, device STRING, "
    "amount DECIMAL(12,2), status STRING"
)

# Partition values that break naive path building, URL encoding, quoting or case-insensitive
# comparisons; "" is written as an empty field, which Spark reads as null.
HOSTILE_COUNTRIES = (
    "",
    "a/b",
    "x=y",
    "50%",
    "C:\\dir",
    "it's",
    'say "hi"',
    "#tag",
    "..",
    "Zürich",
    "São Paulo",
    "東京",
    "sp ace",
    "us",
)
HOSTILE_SHARE = 0.0005  # per hostile value
US_SHARE = 0.60
OTHER_COUNTRIES = (
    ("GB", 14),
    ("DE", 12),
    ("FR", 10),
    ("IN", 10),
    ("BR", 8),
    ("JP", 8),
    ("CA", 7),
    ("AU", 5),
    ("ES", 5),
    ("IT", 5),
    ("NL", 4),
    ("MX", 4),
    ("KR", 3),
    ("SE", 3),
    ("PL", 3),
    ("CH", 2),
    ("SG", 2),
    ("ZA", 2),
    ("AR", 2),
    ("IE", 2),
)
DEVICES = (("android", 45), ("ios", 35), ("web", 20))
STATUSES = (("ok", 93), ("retry", 4), ("error", 3))
USER_EMPTY_SHARE = 0.01
AMOUNT_NULL_SHARE = 0.005
AMOUNT_NEGATIVE_SHARE = 0.03
MAX_AMOUNT_CENTS = 500_000
MIN_AMOUNT_CENTS = -5_000
USERS_PER_ROW = 1 / 20

# Each malformed line breaks exactly one typed field, so PERMISSIVE mode flags it as corrupt.
BAD_EVENT_ID = "not-a-number"
BAD_TS = "yesterday"
BAD_AMOUNT = "n/a"
_BAD_KINDS = ("event_id", "event_ts", "amount")

_PART_GLOB = "part-*.csv"


@dataclass(frozen=True)
class SampleStats:
    """What `generate` wrote, so a caller can compare a pipeline's results against it."""

    rows: int  # good rows only
    files: int
    bad_rows: int
    rows_by_date: dict[str, int]  # 'YYYY-MM-DD' (UTC date of event_ts) -> good rows
    rows_by_country: dict[Optional[str], int]  # raw country (None for empty) -> good rows


class _Weighted:
    """Weighted choice from one uniform draw: rng.choices is several times slower per call."""

    def __init__(self, pairs: tuple[tuple[str, int], ...]) -> None:
        self.values = [v for v, _ in pairs]
        total = sum(w for _, w in pairs)
        self.cum = [c / total for c in accumulate(w for _, w in pairs)]

    def pick(self, rng: random.Random) -> str:
        """One value, drawn by weight."""
        return self.values[min(bisect(self.cum, rng.random()), len(self.values) - 1)]


def generate(
    out_dir: str | os.PathLike[str],
    rows: int = 200_000,
    files: int = 4,
    days: int = 7,
    bad_rows: int = 0,
    seed: int = 7,
    start: date = date(2026, 11, 1),
) -> SampleStats:
    """Write `files` CSV files part-0000.csv... with `rows` good and `bad_rows` malformed lines.

    Deterministic for a given seed. Refuses (ValueError) to write into a non-empty directory
    unless it holds only part-*.csv files, which are replaced.
    """
    if rows < 0 or bad_rows < 0:
        raise ValueError(f"rows and bad_rows must be >= 0, got rows={rows} bad_rows={bad_rows}")
    if files < 1:
        raise ValueError(f"files must be >= 1, got {files}")
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    if isinstance(start, datetime):
        start = start.date()
    t0 = time.perf_counter()
    out = _prepare_dir(Path(out_dir))
    rng = random.Random(seed)

    day_strs = [(start + timedelta(days=d)).isoformat() for d in range(days)]
    hostile = _hostile_positions(rng, rows)
    n_users = max(1, round(rows * USERS_PER_ROW))
    countries = _Weighted(OTHER_COUNTRIES)
    devices = _Weighted(DEVICES)
    statuses = _Weighted(STATUSES)

    by_date: dict[str, int] = {}
    by_country: dict[Optional[str], int] = {}
    event_id = 0
    bad_written = 0

    def good_row() -> list[str]:
        nonlocal event_id
        row_ix = event_id
        event_id += 1
        d = rng.randrange(days)
        secs = rng.randrange(86_400)
        h, rem = divmod(secs, 3600)
        m, s = divmod(rem, 60)
        day = day_strs[d]
        user = "" if rng.random() < USER_EMPTY_SHARE else f"u{rng.randrange(n_users):06d}"
        country = hostile.get(row_ix)
        if country is None:
            country = "US" if rng.random() < US_SHARE else countries.pick(rng)
        amount = _amount(rng)
        row = [
            str(event_id),
            f"{day} {h:02d}:{m:02d}:{s:02d}",
            user,
            country,
            devices.pick(rng),
            amount,
            statuses.pick(rng),
        ]
        by_date[day] = by_date.get(day, 0) + 1
        key = country or None
        by_country[key] = by_country.get(key, 0) + 1
        return row

    def bad_row() -> list[str]:
        nonlocal bad_written
        kind = _BAD_KINDS[bad_written % len(_BAD_KINDS)]
        bad_written += 1
        # Ids after every good row's, so no malformed line duplicates a good event_id.
        row = [
            str(rows + bad_written),
            f"{rng.choice(day_strs)} 12:00:00",
            f"u{rng.randrange(n_users):06d}",
            "US",
            devices.pick(rng),
            "1.00",
            "ok",
        ]
        if kind == "event_id":
            row[0] = BAD_EVENT_ID
        elif kind == "event_ts":
            row[1] = BAD_TS
        else:
            row[5] = BAD_AMOUNT
        return row

    good_split = _split(rows, files)
    bad_split = _split(bad_rows, files)
    for part, (n_good, n_bad) in enumerate(zip(good_split, bad_split, strict=False)):
        lines = n_good + n_bad
        bad_at = set(rng.sample(range(lines), n_bad))
        with open(out / f"part-{part:04d}.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
            writer.writerow(COLUMNS)
            writer.writerows(bad_row() if i in bad_at else good_row() for i in range(lines))

    stats = SampleStats(
        rows=rows,
        files=files,
        bad_rows=bad_rows,
        rows_by_date=dict(sorted(by_date.items())),
        rows_by_country=dict(sorted(by_country.items(), key=lambda kv: (-kv[1], kv[0] or ""))),
    )
    # Debug: `lakeloader sample` prints the summary itself; at INFO it came out twice.
    log.debug(
        "wrote %d rows (+%d malformed) in %d files to %s in %.2fs",
        rows,
        bad_rows,
        files,
        out,
        time.perf_counter() - t0,
    )
    return stats


def _prepare_dir(out: Path) -> Path:
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"{out} exists and is not a directory")
        entries = sorted(out.iterdir())
        others = [e.name for e in entries if not (e.is_file() and fnmatch(e.name, _PART_GLOB))]
        if others:
            raise ValueError(
                f"{out} is not empty and holds files other than {_PART_GLOB} "
                f"({', '.join(others[:5])}); refusing to overwrite"
            )
        # Remove them all: a previous run with more files would leave stale parts behind.
        for e in entries:
            e.unlink()
    else:
        out.mkdir(parents=True)
    return out


def _hostile_positions(rng: random.Random, rows: int) -> dict[int, str]:
    """Row index -> hostile country: exact counts, so each value shows up even in small samples."""
    if rows < 100:
        return {}
    each = max(1, round(rows * HOSTILE_SHARE))
    positions = rng.sample(range(rows), each * len(HOSTILE_COUNTRIES))
    return {pos: HOSTILE_COUNTRIES[i // each] for i, pos in enumerate(positions)}


def _amount(rng: random.Random) -> str:
    if rng.random() < AMOUNT_NULL_SHARE:
        return ""
    if rng.random() < AMOUNT_NEGATIVE_SHARE:
        cents = rng.randint(MIN_AMOUNT_CENTS, -1)  # refunds and chargebacks
    else:
        # Long-tailed like real order values: median ~$33, capped at the column's stated maximum.
        cents = min(MAX_AMOUNT_CENTS, max(1, round(rng.lognormvariate(3.5, 1.2) * 100)))
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def _split(n: int, parts: int) -> list[int]:
    """n split into `parts` counts differing by at most one, larger ones first."""
    q, r = divmod(n, parts)
    return [q + (i < r) for i in range(parts)]
