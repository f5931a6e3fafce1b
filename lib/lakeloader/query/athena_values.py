"""Athena result values: the text GetQueryResults returns, converted to the Python type its column declares."""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable
from typing import Any, Optional

from lakeloader.errors import QueryError

_TS_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,12}))?")
_TIME_RE = re.compile(r"(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,12}))?")


def _text(v: Optional[str]) -> Optional[str]:
    return v


def _int(v: Optional[str]) -> Optional[int]:
    return None if v is None else int(v)


def _float(v: Optional[str]) -> Optional[float]:
    return None if v is None else float(v)  # also 'NaN', 'Infinity', '-Infinity', as Athena writes them


def _decimal(v: Optional[str]) -> Optional[decimal.Decimal]:
    return None if v is None else decimal.Decimal(v)


def _bool(v: Optional[str]) -> Optional[bool]:
    if v is None:
        return None
    if v.lower() not in ("true", "false"):
        raise ValueError(v)
    return v.lower() == "true"


def _micros(fraction: Optional[str]) -> int:
    # Python keeps microseconds; Athena's timestamp(9) nanoseconds are truncated.
    return int((fraction or "")[:6].ljust(6, "0"))


def _date(v: Optional[str]) -> Any:
    if v is None:
        return None
    try:
        return dt.date.fromisoformat(v)
    except ValueError:
        if re.fullmatch(r"-?\d+-\d{2}-\d{2}", v):
            return v  # a year Python cannot hold (0, negative, > 9999): keep Athena's text
        raise


def _timestamp(v: Optional[str]) -> Any:
    if v is None:
        return None
    m = _TS_RE.fullmatch(v)
    if not m:
        if re.fullmatch(r"-?\d+-\d{2}-\d{2}[ T][0-9:.]+", v):
            return v  # a year Python cannot hold: keep Athena's text
        raise ValueError(v)
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    if not 1 <= y <= 9999:
        return v
    return dt.datetime(y, mo, d, h, mi, s, _micros(m.group(7)))


def _time(v: Optional[str]) -> Optional[dt.time]:
    if v is None:
        return None
    m = _TIME_RE.fullmatch(v)
    if not m:
        raise ValueError(v)
    return dt.time(int(m.group(1)), int(m.group(2)), int(m.group(3)), _micros(m.group(4)))


_CONVERTERS: dict[str, Callable[[Optional[str]], Any]] = {
    "varchar": _text,
    "char": _text,
    "string": _text,
    "tinyint": _int,
    "smallint": _int,
    "integer": _int,
    "int": _int,
    "bigint": _int,
    "double": _float,
    "float": _float,
    "real": _float,
    "decimal": _decimal,
    "boolean": _bool,
    "date": _date,
    "timestamp": _timestamp,
    "time": _time,
}


def converter(athena_type: str) -> Callable[[Optional[str]], Any]:
    """The converter for a ColumnInfo Type; text for the rest (array, map, row, json, varbinary, zoned times...)."""
    base = athena_type.strip().lower()
    if "with time zone" in base:
        return _text  # '... UTC' / '... +05:30': kept as Athena wrote it rather than guessing zone rules
    return _CONVERTERS.get(base.split("(", 1)[0].strip(), _text)


def is_header(values: list[Optional[str]], columns: list[dict[str, Any]]) -> bool:
    """Whether a first row holds the column labels (Athena's header row) rather than data."""
    if not columns or len(values) != len(columns):
        return False
    return all(v is not None and v in (c.get("Label"), c.get("Name")) for v, c in zip(values, columns, strict=False))


def convert_row(
    query_id: str,
    columns: list[dict[str, Any]],
    converters: list[Callable[[Optional[str]], Any]],
    values: list[Optional[str]],
) -> tuple[Any, ...]:
    """One result row, each value converted by its column's converter; QueryError naming a value that does not read."""
    if len(values) < len(converters):
        values = values + [None] * (len(converters) - len(values))
    out = []
    for i, v in enumerate(values):
        conv = converters[i] if i < len(converters) else _text
        try:
            out.append(conv(v))
        except (ValueError, decimal.InvalidOperation):
            col = columns[i] if i < len(columns) else {}
            raise QueryError(
                f"Athena query {query_id}: column {col.get('Name', i)!r} is {col.get('Type')}, "
                f"but its value {v!r} does not read as one"
            ) from None
    return tuple(out)
