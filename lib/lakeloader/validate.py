"""Validation: the table's declared checks and a reconciliation of row counts against a run's manifest.

A fixed number of queries per validation, whatever the partition count: one aggregate query for
every column check, one grouped count for the per-partition reconciliation.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Optional

from lakeloader.catalog.base import Catalog
from lakeloader.config import CheckConfig, TableConfig
from lakeloader.manifest import Manifest
from lakeloader.partitioning import HIVE_DEFAULT_PARTITION
from lakeloader.query.base import QueryEngine
from lakeloader.query.sql import sql_literal


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

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed and r.severity == "error"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed and r.severity == "warn"]

    def failure_summary(self) -> str:
        """`kind(columns) N failing; ...` for the failed error-severity checks."""
        return "; ".join(f"{r.kind}({r.columns}) {r.failing} failing" for r in self.failed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form of the report."""
        return {
            "table": self.table,
            "run_id": self.run_id,
            "rows": self.rows,
            "queries": self.queries,
            "passed": not self.failed,
            "checks": [{**asdict(r), "passed": r.passed} for r in self.results],
        }


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def check_expressions(table: str, checks: Sequence[CheckConfig]) -> list[str]:
    """SELECT-list expressions (Athena SQL) counting failing rows per check.

    Check values are rendered as literals by sql_literal (quoted, injection-safe): Athena accepts
    `?` parameters only in WHERE clauses, and these sit in the SELECT list.
    """
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


def validate(
    engine: QueryEngine,
    catalog: Catalog,
    table: TableConfig,
    manifest: Optional[Manifest],
    previous: Optional[Manifest] = None,
    relation: Optional[str] = None,
) -> Report:
    """Run the table's checks and reconcile per-partition rows against the manifest.

    `relation` names another table of the same database to check instead (the staging table of an audit).
    """
    relation = relation or table.name
    name = f"{table.database}.{relation}"
    before = engine.queries_issued
    column_checks = [c for c in table.checks if c.kind != "row_count_change"]
    exprs = check_expressions(name, column_checks)
    row = engine.query(f"SELECT {', '.join(exprs)} FROM {name}").rows[0]
    total = int(row[0])
    results = [
        CheckResult(_label(c), c.kind, ",".join(c.key_columns), c.severity, int(v or 0), _detail(c))
        for c, v in zip(column_checks, row[1:])
    ]
    if manifest is not None:
        results.append(_reconcile(engine, catalog, table.database, relation, manifest))
        for c in table.checks:
            if c.kind == "row_count_change":
                results.append(_row_count_change(c, manifest, previous))
    return Report(name, manifest.run_id if manifest else None, total, tuple(results), engine.queries_issued - before)


def _reconcile(engine: QueryEngine, catalog: Catalog, database: str, relation: str, m: Manifest) -> CheckResult:
    keys = ", ".join(_q(k) for k in m.partition_keys)
    got = {
        tuple(partition_key(v) for v in r[:-1]): int(r[-1])
        for r in engine.query(f"SELECT {keys}, count(*) FROM {database}.{relation} GROUP BY {keys}").rows
    }
    live = {tuple(p["Values"]): p["StorageDescriptor"]["Location"] for p in catalog.get_partitions(database, relation)}
    # Only partitions this run still owns: a later run may have replaced some of them.
    owned = [p for p in m.partitions if live.get(tuple(p.values)) == p.location]
    bad = [p for p in owned if got.get(tuple(p.values), 0) != p.rows]
    detail = f"{len(owned)} partitions, {sum(p.rows for p in owned)} rows expected from run {m.run_id}"
    if bad:
        p = bad[0]
        detail += f"; first mismatch {'/'.join(p.values)}: {got.get(tuple(p.values), 0)} rows, manifest {p.rows}"
    return CheckResult("row counts match manifest", "reconcile", ",".join(m.partition_keys), "error", len(bad), detail)


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
    if c.kind == "unique":
        return "extra rows sharing a key"
    return "rows with NULL"
