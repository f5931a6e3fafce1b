"""The run date of a scheduled run: the scheduled day, minus `days_before`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from lakeloader.errors import UsageError

DAYS_BEFORE = "--days-before"


def shift_run_date(argv: Sequence[str]) -> list[str]:
    """`--run-date D --days-before N` -> `--run-date D-N`, for jobs/ingest.py (a state machine has no date math).

    Without `--days-before` the arguments are returned as they are.
    """
    args = list(argv)
    if DAYS_BEFORE not in args:
        return args
    i = args.index(DAYS_BEFORE)
    if i + 1 >= len(args) or "--run-date" not in args:
        raise UsageError(f"{DAYS_BEFORE} needs a number of days and --run-date YYYY-MM-DD")
    try:
        days = int(args[i + 1])
    except ValueError:
        raise UsageError(f"{DAYS_BEFORE} {args[i + 1]!r}: a whole number of days") from None
    del args[i : i + 2]
    j = args.index("--run-date") + 1
    try:
        day = dt.date.fromisoformat(args[j])
    except (IndexError, ValueError):
        raise UsageError(f"--run-date {args[j] if j < len(args) else ''!r}: not a date as YYYY-MM-DD") from None
    args[j] = (day - dt.timedelta(days=days)).isoformat()
    return args
