"""Partition values Athena's projection can reach: a row in any other partition would never be read.

Athena enumerates projected partitions from the table properties (enum values, integer and date
ranges) and substitutes each value verbatim into the location template, so a partition the run
wrote outside that set - a date before the range, a country not in the enum, a NULL key - would be
published and yet invisible. `unreachable` finds them before anything is published.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Sequence
from typing import Optional

from lakeloader.config import NOW_RE, ProjectionConfig, TableConfig, java_date_pattern
from lakeloader.hive import HIVE_DEFAULT_PARTITION

_SECONDS = {"WEEKS": 7 * 86400, "DAYS": 86400, "HOURS": 3600, "MINUTES": 60, "SECONDS": 1}


def unreachable(
    table: TableConfig, partitions: Sequence[Sequence[str]], now: Optional[dt.datetime] = None
) -> list[tuple[list[str], str]]:
    """(partition values, why) for each partition projection cannot reach; [] when all are reachable."""
    if not table.partition_projection:
        return []
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    out = []
    for values in partitions:
        for rule, value in zip(table.partitions, values, strict=False):
            why = _why_unreachable(table.partition_projection[rule.name], value, now)
            if why is not None:
                out.append((list(values), f"{rule.name}={value}: {why}"))
                break
    return out


def _why_unreachable(p: ProjectionConfig, value: str, now: dt.datetime) -> Optional[str]:
    if value == HIVE_DEFAULT_PARTITION:
        return "a NULL or empty key, which projection cannot project"
    if "/" in value:
        return "contains '/', which Athena would put into the path verbatim"
    if p.type == "enum" and value not in (p.values or []):
        return f"not one of the enum values ({','.join(p.values or [])})"
    if p.type == "integer":
        return _integer(p, value)
    if p.type == "date":
        return _date(p, value, now)
    return None  # injected: every query names the value itself


def _integer(p: ProjectionConfig, value: str) -> Optional[str]:
    if not re.fullmatch(r"-?[0-9]+", value):
        return "not an integer"
    n = int(value)
    lo, hi = (int(b) for b in (p.range or "").split(","))
    expected = f"{n:0{p.digits}d}" if p.digits else str(n)
    if value != expected:
        return f"Athena projects it as {expected!r} (digits: {p.digits or 'none'})"
    if not lo <= n <= hi:
        return f"outside the projected range {p.range}"
    if p.interval and (n - lo) % p.interval:
        return f"not a step of interval {p.interval} from {lo}"
    return None


def _date(p: ProjectionConfig, value: str, now: dt.datetime) -> Optional[str]:
    pattern = java_date_pattern(p.date_format)
    if pattern is None:
        return None  # a format lakeloader cannot parse: Athena has the last word
    try:
        when = dt.datetime.strptime(value, pattern)
    except ValueError:
        return f"does not parse as {p.date_format}"
    if when.strftime(pattern) != value:
        return f"Athena projects it as {when.strftime(pattern)!r} (format {p.date_format})"
    lo, hi = (_bound(b, pattern, now) for b in (p.range or "").split(","))
    if not lo <= when <= hi:
        return f"outside the projected range {p.range} ({lo:%Y-%m-%d %H:%M} to {hi:%Y-%m-%d %H:%M} as of now)"
    unit = p.unit or ("DAYS" if "d" in p.date_format else "MONTHS")
    if (p.interval or 1) > 1 and not _aligned(lo, when, unit, p.interval):
        return f"not a step of interval {p.interval} {unit} from {lo:%Y-%m-%d %H:%M}"
    return None


def _bound(text: str, pattern: str, now: dt.datetime) -> dt.datetime:
    """A range bound as a datetime, truncated to the format's precision as Athena's projected values are."""
    m = NOW_RE.match(text)
    if m is None:
        return dt.datetime.strptime(text.strip(), pattern)
    when = now
    if m.group(1):
        n = int(m.group(3)) * (1 if m.group(2) == "+" else -1)
        unit = m.group(4).rstrip("S") + "S"
        if unit in _SECONDS:
            when = now + dt.timedelta(seconds=n * _SECONDS[unit])
        else:
            when = _add_months(now, n * (12 if unit == "YEARS" else 1))
    return dt.datetime.strptime(when.strftime(pattern), pattern)


def _add_months(when: dt.datetime, months: int) -> dt.datetime:
    y, m = divmod(when.month - 1 + months, 12)
    year, month = when.year + y, m + 1
    return when.replace(year=year, month=month, day=min(when.day, calendar.monthrange(year, month)[1]))


def _aligned(lo: dt.datetime, when: dt.datetime, unit: str, interval: int) -> bool:
    """Whether `when` is a whole number of `interval` steps after `lo` (Athena counts from the range start)."""
    if unit in ("MONTHS", "YEARS"):
        months = (when.year - lo.year) * 12 + when.month - lo.month
        return months % (interval * (12 if unit == "YEARS" else 1)) == 0
    return int((when - lo).total_seconds()) % (interval * _SECONDS[unit]) == 0
