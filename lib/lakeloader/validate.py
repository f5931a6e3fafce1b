"""Validation: the table's declared checks and a reconciliation of row counts against a run's manifest.

A fixed number of queries per validation, whatever the partition count: one aggregate query for
every column check, one grouped count for the per-partition reconciliation.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NoReturn, Optional

from lakeloader import stat_checks
from lakeloader.catalog.base import Catalog
from lakeloader.config import CheckConfig, TableConfig
from lakeloader.errors import ConfigError, UnexpectedAnswer
from lakeloader.hive import HIVE_DEFAULT_PARTITION
from lakeloader.manifest import Manifest, PartitionStats
from lakeloader.query.base import QueryEngine
from lakeloader.query.sql import sql_literal

# Above this many values the reconciliation scans every partition instead: a longer IN list only
# makes the SQL text bigger (Athena caps a query at 256 KB) for little saving.
MAX_FILTER_VALUES = 1000
# Kinds whose failing count is 0 or 1, not a number of rows: the one-line error quotes their detail.
_SCALAR_KINDS = ("freshness", "row_count_change")


@dataclass(frozen=True)
class CheckResult:
    name: str
    kind: str
    columns: str
    severity: str
    failing: int
    detail: str

    @property
    def passed(self) -> bool:
        return self.failing == 0


@dataclass(frozen=True)
class Report:
    table: str
    run_id: Optional[str]
    rows: int
    results: tuple[CheckResult, ...]
    queries: int
    bytes_scanned: Optional[int] = None  # summed over the validation's queries; None when the engine cannot tell

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed and r.severity == "error"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed and r.severity == "warn"]

    def failure_summary(self) -> str:
        """`kind(columns) N failing; ...` for the failed error-severity checks."""
        return "; ".join(
            f"{r.kind}({r.columns}) {r.failing} failing" + (f" ({r.detail})" if r.kind in _SCALAR_KINDS else "")
            for r in self.failed
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form of the report."""
        return {
            "table": self.table,
            "run_id": self.run_id,
            "rows": self.rows,
            "queries": self.queries,
            "bytes_scanned": self.bytes_scanned,
            "passed": not self.failed,
            "checks": [{**asdict(r), "passed": r.passed} for r in self.results],
        }


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def check_expressions(
    table: str, checks: Sequence[CheckConfig], column_types: Optional[Mapping[str, str]] = None
) -> list[str]:
    """SELECT-list expressions (Athena SQL): count(*), then one per check (failing rows, or a value).

    Check values are rendered as literals by sql_literal (quoted, injection-safe): Athena accepts
    `?` parameters only in WHERE clauses, and these sit in the SELECT list. `column_types` (catalog
    types by column) decides how a freshness column becomes epoch seconds.
    """
    types = column_types or {}
    exprs: list[str] = ["count(*)"]
    for c in checks:
        col = _q(c.column) if c.column else ""
        if c.kind == "not_null":
            exprs.append(f"count_if({col} IS NULL)")
        elif c.kind == "accepted_values":
            values = ", ".join(sql_literal(v) for v in c.values or [])
            exprs.append(f"count_if({col} IS NOT NULL AND {col} NOT IN ({values}))")
        elif c.kind == "range":
            conds = []
            if c.min is not None:
                conds.append(f"{col} < {sql_literal(c.min)}")
            if c.max is not None:
                conds.append(f"{col} > {sql_literal(c.max)}")
            exprs.append(f"count_if({' OR '.join(conds)})")
        elif c.kind == "regex":
            # regexp_like finds the pattern anywhere in the value (anchor it with ^...$ for a whole
            # match); sqlglot turns it into DuckDB's regexp_matches, which has the same semantics.
            exprs.append(f"count_if({col} IS NOT NULL AND NOT regexp_like({col}, {sql_literal(c.pattern)}))")
        elif c.kind == "freshness":
            # Epoch seconds, not a timestamp value: the same number on Athena (timestamps are UTC there)
            # and on DuckDB whatever its session time zone, for naive and UTC-adjusted Parquet timestamps.
            newest = f"max({col})"
            if types.get((c.column or "").lower(), "timestamp").lower() == "date":
                newest = f"CAST({newest} AS timestamp)"
            exprs.append(f"to_unixtime({newest})")
        elif c.kind == "unique":
            keys = ", ".join(_q(k) for k in c.key_columns)
            not_null = " AND ".join(f"{_q(k)} IS NOT NULL" for k in c.key_columns)
            exprs.append(
                f"(SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {table} "
                f"WHERE {not_null} GROUP BY {keys} HAVING count(*) > 1) AS dup)"
            )
    return exprs


def partition_key(value: Any) -> str:
    """A query result's partition value in the catalog's string form."""
    if value is None:
        return HIVE_DEFAULT_PARTITION
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    return str(value)


def utc_now() -> dt.datetime:
    """The current time in UTC (the default clock of freshness checks)."""
    return dt.datetime.now(dt.UTC)


class _Queries:
    """Runs the validation's queries, summing the bytes the engine reports scanning."""

    def __init__(self, engine: QueryEngine) -> None:
        self.engine = engine
        self.bytes_scanned: Optional[int] = 0

    def run(self, sql: str, width: int, one_row: bool = False) -> list[tuple[Any, ...]]:
        """The rows of `sql`, each `width` values; UnexpectedAnswer for any other shape (or no row for one_row)."""
        result = self.engine.query(sql)
        # Only AthenaEngine knows its cost (last_execution); DuckDB reads local files and cannot say.
        execution = getattr(self.engine, "last_execution", None)
        if execution is None or self.bytes_scanned is None:
            self.bytes_scanned = None
        else:
            self.bytes_scanned += int(execution.data_scanned_bytes)
        rows = list(result.rows)
        if one_row and len(rows) != 1:
            self.unexpected(sql, f"{len(rows)} rows where one was expected")
        for r in rows:
            if len(r) != width:
                self.unexpected(sql, f"a row of {len(r)} values where {width} were expected")
        return rows

    def unexpected(self, sql: str, what: str) -> NoReturn:
        """Raise the one-line error for an answer of the wrong shape, naming the engine and the query."""
        text = " ".join(sql.split())
        text = text if len(text) <= 160 else text[:157] + "..."
        raise UnexpectedAnswer(f"{self.engine.name} answered {what} to: {text}")


def validate(
    engine: QueryEngine,
    catalog: Catalog,
    table: TableConfig,
    manifest: Optional[Manifest],
    previous: Optional[Manifest] = None,
    relation: Optional[str] = None,
    clock: Callable[[], dt.datetime] = utc_now,
    counted_rows: Optional[int] = None,
) -> Report:
    """Run the table's checks and reconcile per-partition rows against the manifest.

    `relation` names another table of the same database to check instead (the staging table of an
    audit); `clock` gives "now" (aware, or naive UTC) for freshness checks. `counted_rows` (an audit of
    a staged run: the rows its write job counted) makes the manifest's statistics answer the checks
    they answer exactly (stat_checks.py) and the reconciliation compare them with that count, so only
    the other checks query the data, and none when there is no other.
    """
    relation = relation or table.name
    name = f"{table.database}.{relation}"
    before = engine.queries_issued
    queries = _Queries(engine)
    meta: Optional[dict[str, Any]] = None
    column_checks = [c for c in table.checks if c.kind != "row_count_change"]
    types: dict[str, str] = {}
    if any(c.kind == "freshness" for c in column_checks):
        meta = catalog.get_table(table.database, relation)
        types = _column_types(meta)
        for i, c in enumerate(table.checks):
            col_type = types.get((c.column or "").lower())
            if c.kind == "freshness" and col_type is not None and col_type.lower() not in ("timestamp", "date"):
                raise ConfigError(
                    f"tables.{table.name}.checks[{i}]: freshness column {c.column!r} is {col_type} in {name}; "
                    "it needs a timestamp or date column"
                )
    from_stats = counted_rows is not None and manifest is not None
    queried = stat_checks.unanswered(column_checks, manifest) if from_stats else column_checks
    values: dict[int, Any] = {}
    total = sum(p.rows for p in manifest.partitions) if from_stats else None
    if queried or not from_stats:
        exprs = check_expressions(name, queried, types)
        sql = f"SELECT {', '.join(exprs)} FROM {name}"
        (row,) = queries.run(sql, len(exprs), one_row=True)
        if not isinstance(row[0], int):  # count(*): an engine that answers NULL or text here answered wrongly
            queries.unexpected(sql, f"{row[0]!r} as the row count")
        total = row[0]
        values = {id(c): v for c, v in zip(queried, row[1:], strict=False)}
    now = _as_utc(clock())
    results = [
        _column_result(c, values[id(c)] if id(c) in values else stat_checks.answer(c, manifest), now)
        for c in column_checks
    ]
    if manifest is not None:
        if from_stats:
            results.append(_reconcile_counted(manifest, counted_rows))
        else:
            results.append(_reconcile(queries, catalog, table.database, relation, manifest, meta))
        for c in table.checks:
            if c.kind == "row_count_change":
                results.append(_row_count_change(c, manifest, previous))
    return Report(
        name,
        manifest.run_id if manifest else None,
        total,
        tuple(results),
        engine.queries_issued - before,
        queries.bytes_scanned,
    )


def _column_result(c: CheckConfig, value: Any, now: dt.datetime) -> CheckResult:  # noqa: ANN401
    if c.kind == "freshness":
        return _freshness(c, value, now)
    return CheckResult(_label(c), c.kind, ",".join(c.key_columns), c.severity, int(value or 0), _detail(c))


def _freshness(c: CheckConfig, epoch: Any, now: dt.datetime) -> CheckResult:  # noqa: ANN401
    limit = f"limit {c.max_age_hours:g} h"
    if epoch is None:
        return CheckResult(_label(c), c.kind, c.column or "", c.severity, 1, f"no non-NULL value; {limit}")
    newest = dt.datetime.fromtimestamp(float(epoch), dt.UTC)
    age_h = (now - newest).total_seconds() / 3600.0
    stale = age_h > (c.max_age_hours or 0)
    detail = f"newest {newest.strftime('%Y-%m-%d %H:%M:%S')} UTC is {age_h:.1f} h old; {limit}"
    return CheckResult(_label(c), c.kind, c.column or "", c.severity, int(stale), detail)


def _as_utc(now: dt.datetime) -> dt.datetime:
    return now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)


def _column_types(meta: Optional[dict[str, Any]]) -> dict[str, str]:
    if not meta:
        return {}
    cols = [*meta.get("StorageDescriptor", {}).get("Columns", []), *meta.get("PartitionKeys", [])]
    return {c["Name"].lower(): c["Type"] for c in cols}


def _reconcile(
    queries: _Queries, catalog: Catalog, database: str, relation: str, m: Manifest, meta: Optional[dict[str, Any]]
) -> CheckResult:
    live = {tuple(p["Values"]): p["StorageDescriptor"]["Location"] for p in catalog.get_partitions(database, relation)}
    # Only partitions this run still owns: a later run may have replaced some of them.
    owned = [p for p in m.partitions if live.get(tuple(p.values)) == p.location]
    keys = ", ".join(_q(k) for k in m.partition_keys)
    where = ""
    if owned and len(owned) < len(live):  # else every partition is the run's (an audit's staging table)
        if meta is None:
            meta = catalog.get_table(database, relation)
        where = _first_key_filter(m.partition_keys, owned, meta)
    sql = f"SELECT {keys}, count(*) FROM {database}.{relation}{where} GROUP BY {keys}"
    rows = queries.run(sql, len(m.partition_keys) + 1)
    if any(not isinstance(r[-1], int) for r in rows):
        queries.unexpected(sql, "a row count that is not a number")
    got = {tuple(partition_key(v) for v in r[:-1]): r[-1] for r in rows}
    bad = [p for p in owned if got.get(tuple(p.values), 0) != p.rows]
    detail = f"{len(owned)} partitions, {sum(p.rows for p in owned)} rows expected from run {m.run_id}"
    if bad:
        p = bad[0]
        detail += f"; first mismatch {'/'.join(p.values)}: {got.get(tuple(p.values), 0)} rows, manifest {p.rows}"
    return CheckResult("row counts match manifest", "reconcile", ",".join(m.partition_keys), "error", len(bad), detail)


def _reconcile_counted(m: Manifest, counted: int) -> CheckResult:
    """The staged files' rows (their footers) against the rows the write job counted while writing them.

    Every partition of the run had rows when written: one whose files hold none lost them.
    """
    staged = sum(p.rows for p in m.partitions)
    empty = [p for p in m.partitions if p.rows == 0]
    detail = f"{len(m.partitions)} partitions, {staged} rows in the staged files, {counted} written by run {m.run_id}"
    if empty:
        detail += f"; first partition without rows {'/'.join(empty[0].values)}"
    failing = len(empty) or int(staged != counted)
    return CheckResult("row counts match manifest", "reconcile", ",".join(m.partition_keys), "error", failing, detail)


def _first_key_filter(keys: Sequence[str], owned: Sequence[PartitionStats], meta: Optional[dict[str, Any]]) -> str:
    """` WHERE <first key> IN (...)` covering the run's partitions, or '' when that cannot be said safely.

    Counting rows per partition reads only Parquet footers, but every partition of the table would be
    listed and opened: on a table with years of partitions the filter keeps the count to this run's.
    """
    if not keys or not meta:
        return ""
    types = {k["Name"].lower(): k["Type"].lower() for k in meta.get("PartitionKeys", [])}
    key_type = types.get(keys[0].lower(), "").split("(", 1)[0].strip()
    values = sorted({p.values[0] for p in owned})
    if len(values) > MAX_FILTER_VALUES:
        return ""
    literals, has_default = [], False
    for v in values:
        if v == HIVE_DEFAULT_PARTITION:
            has_default = True
            continue
        lit = _typed_literal(v, key_type)
        if lit is None:
            return ""  # a type or value this filter does not know: count every partition instead
        literals.append(lit)
    col = _q(keys[0])
    conds = ([f"{col} IN ({', '.join(literals)})"] if literals else []) + ([f"{col} IS NULL"] if has_default else [])
    return " WHERE " + " OR ".join(conds)


def _typed_literal(value: str, hive_type: str) -> Optional[str]:
    """A catalog partition value as a SQL literal of its key's type, or None when unsure."""
    try:
        if hive_type in ("string", "varchar", "char"):
            return sql_literal(value)
        if hive_type == "date":
            return sql_literal(dt.date.fromisoformat(value))
        if hive_type in ("tinyint", "smallint", "int", "integer", "bigint"):
            return sql_literal(int(value))
    except ValueError:
        return None
    return None


def _row_count_change(c: CheckConfig, m: Manifest, prev: Optional[Manifest]) -> CheckResult:
    label = f"row_count_change <= {c.max_pct:g}%"
    if prev is None or prev.rows_written == 0:
        return CheckResult(label, c.kind, "", c.severity, 0, "no earlier published run to compare with")
    pct = abs(m.rows_written - prev.rows_written) * 100.0 / prev.rows_written
    detail = f"{prev.rows_written} -> {m.rows_written} rows ({pct:.1f}%)"
    return CheckResult(label, c.kind, "", c.severity, int(pct > (c.max_pct or 0)), detail)


def _label(c: CheckConfig) -> str:
    return f"{c.kind}({', '.join(c.key_columns)})"


def _detail(c: CheckConfig) -> str:
    if c.kind == "accepted_values":
        return f"values in {list(c.values or [])}"
    if c.kind == "range":
        return f"between {c.min if c.min is not None else '-inf'} and {c.max if c.max is not None else 'inf'}"
    if c.kind == "regex":
        return f"non-NULL values not matching {c.pattern!r}"
    if c.kind == "unique":
        return "extra rows sharing a key"
    return "rows with NULL"
