"""How the CLI prints: result rows as a table, CSV or JSON; the validation report; sizes."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
from collections.abc import Sequence
from typing import Any


def render_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> str:
    """Rows as an aligned table, CSV (with header) or one JSON array of objects."""
    if fmt == "json":
        objects = [dict(zip(columns, r, strict=False)) for r in rows]
        return json.dumps(objects, ensure_ascii=False, default=_json_default) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(columns)
        w.writerows([["" if v is None else _text(v) for v in r] for r in rows])
        return buf.getvalue()
    cells = [tuple(columns)] + [tuple("NULL" if v is None else _text(v) for v in r) for r in rows]
    return text_table(cells) + f"\n({len(rows)} rows)\n"


def render_report(report: Any) -> str:  # noqa: ANN401
    """The validation report as a table."""
    rows = [("check", "severity", "failing", "result", "detail")]
    for r in report.results:
        verdict = "PASS" if r.passed else ("WARN" if r.severity == "warn" else "FAIL")
        rows.append((r.name, r.severity, str(r.failing), verdict, r.detail))
    scanned = getattr(report, "bytes_scanned", None)
    cost = f", {human_bytes(scanned)} scanned" if scanned is not None else ""
    head = (
        f"validation of {report.table} ({report.rows} rows, run {report.run_id or '-'}, {report.queries} queries{cost})"
    )
    verdict = "all checks passed" if not report.failed else f"{len(report.failed)} check(s) failed"
    if report.warnings:
        verdict += f", {len(report.warnings)} warning(s)"
    return "\n".join([head, text_table(rows), verdict])


def _text(v: Any) -> str:  # noqa: ANN401
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v.isoformat()
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    return str(v)


def _json_default(v: Any) -> Any:  # noqa: ANN401
    """JSON for what json.dumps cannot encode itself, at any nesting depth."""
    if isinstance(v, decimal.Decimal):
        # Exact decimals stay exact: a number when a float holds the value, else its text.
        return float(v) if decimal.Decimal(repr(float(v))) == v else format(v, "f")
    if isinstance(v, (dt.date, dt.datetime)):
        return _text(v)
    if isinstance(v, dt.time):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    return str(v)  # UUID, timedelta and other scalar types DuckDB may return


def text_table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, r in enumerate(rows):
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
