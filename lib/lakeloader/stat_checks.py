"""Checks a run's own statistics answer exactly, so that its audit reads no data file for them.

The manifest's per-partition statistics (stats.py) come from the Parquet footers of the very files the
audit would query: their row counts, NULL counts and min/max describe the staged data exactly. A check
is answered from them only when the answer is exact, counts included:
- `not_null`: the NULLs of the column, summed over the partitions;
- `range` on an integer or decimal column: 0 when every partition's min and max lie within the bounds
  (a violation is counted by the query instead, so the report still says how many rows fail);
- the audit's row-count reconciliation: the rows in the staged files against the rows the write job
  itself counted while writing (Spark's own count, not the files).
Everything else (unique, accepted_values, regex, freshness, range on floating point, whose NaN the
footers do not order) stays a query.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from typing import Optional

from lakeloader.config import CheckConfig
from lakeloader.manifest import Manifest

_EXACT_ORDER = ("tinyint", "smallint", "int", "integer", "bigint", "decimal")


def answer(check: CheckConfig, m: Manifest) -> Optional[int]:
    """The check's failing row count as the manifest's statistics tell it exactly, or None when they cannot."""
    if check.kind not in ("not_null", "range") or not m.partitions or not check.column:
        return None
    stats = _column_stats(m, check.column)
    if stats is None:
        return None
    if check.kind == "not_null":
        return sum(s["nulls"] for s in stats)
    if _type(m, check.column).split("(", 1)[0].strip() not in _EXACT_ORDER:
        return None
    lo, hi = _number(check.min), _number(check.max)
    for s, p in zip(stats, m.partitions, strict=False):
        if s["min"] is None or s["max"] is None:
            if s["nulls"] == p.rows:  # only NULLs: no value to fail a range
                continue
            return None
        if (lo is not None and decimal.Decimal(s["min"]) < lo) or (hi is not None and decimal.Decimal(s["max"]) > hi):
            return None  # some row fails: the query counts how many
    return 0


def unanswered(checks: Sequence[CheckConfig], m: Manifest) -> list[CheckConfig]:
    """The checks (row_count_change aside) that still need a query over the data."""
    return [c for c in checks if c.kind != "row_count_change" and answer(c, m) is None]


def _column_stats(m: Manifest, column: str) -> Optional[list[dict]]:
    """The column's statistics in every partition, or None when some partition lacks its NULL count."""
    out = []
    for p in m.partitions:
        by_name = {k.lower(): v for k, v in p.columns.items()}
        st = by_name.get(column.lower())
        if st is None or st.get("nulls") is None:
            return None
        out.append(st)
    return out


def _type(m: Manifest, column: str) -> str:
    return next((c["Type"].lower() for c in m.schema if c["Name"].lower() == column.lower()), "")


def _number(v: Optional[float]) -> Optional[decimal.Decimal]:
    return None if v is None else decimal.Decimal(str(v))
