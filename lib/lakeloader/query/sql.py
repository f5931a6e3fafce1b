"""SQL text helpers shared by the engines and the validation driver (Athena / Trino dialect)."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from lakeloader.errors import QueryError


def sql_literal(value: Any, position: int = 1) -> str:
    """`value` as an Athena (Trino) SQL literal, injection-safe; QueryError for what has none."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise QueryError(f"query parameter {position}: {value!r} has no SQL literal; filter it out before querying")
        # With an exponent it is a DOUBLE literal; `1.5` alone would be a DECIMAL in Trino.
        text = repr(value).upper()
        return text if "E" in text else text + "E0"
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise QueryError(f"query parameter {position}: {value!r} has no SQL literal")
        return format(value, "f")  # never exponent notation: '1E+2' would read as a DOUBLE
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, dt.datetime):  # before date: a datetime is a date
        text = value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        offset = value.utcoffset()
        if offset is not None:
            minutes = int(offset.total_seconds()) // 60
            sign = "-" if minutes < 0 else "+"
            text += f" {sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        return f"TIMESTAMP '{text}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, dt.time):
        return f"TIME '{value.replace(tzinfo=None).isoformat(timespec='microseconds')}'"
    if isinstance(value, (bytes, bytearray)):
        return f"X'{bytes(value).hex()}'"
    raise QueryError(
        f"query parameter {position}: values of type {type(value).__name__} cannot be passed to Athena "
        "(use str, int, float, Decimal, bool, date, datetime or None)"
    )
