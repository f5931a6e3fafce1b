"""DuckDBEngine: Athena SQL, transpiled by sqlglot, over the Parquet files the catalog points at.

Partition values come from the catalog (not from directory names), cast to the catalog's types,
so a value round-trips exactly whatever characters it holds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Optional

import duckdb
import sqlglot
from sqlglot import exp

from lakeloader import storage
from lakeloader.catalog.base import Catalog
from lakeloader.catalog.types import duckdb_type
from lakeloader.config import AwsConfig
from lakeloader.errors import QueryError
from lakeloader.partitioning import HIVE_DEFAULT_PARTITION
from lakeloader.query.base import QueryEngine, QueryResult

log = logging.getLogger(__name__)


class DuckDBEngine(QueryEngine):
    """A real SQL engine standing in for Athena on a laptop."""

    def __init__(self, catalog: Catalog, aws: Optional[AwsConfig] = None) -> None:
        self.catalog = catalog
        self.aws = aws
        self.con = duckdb.connect(":memory:")
        self.queries_issued = 0

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> QueryResult:
        try:
            tree = sqlglot.parse_one(sql, read="athena")
        except sqlglot.errors.ParseError as e:
            raise QueryError(f"cannot parse SQL: {_one_line(e)}") from None
        ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
        for t in tree.find_all(exp.Table):
            if t.name and t.name not in ctes:
                self._attach(t.db, t.name)
        duck_sql = tree.sql(dialect="duckdb")
        self.queries_issued += 1
        try:
            cur = self.con.execute(duck_sql, list(parameters))
            rows = cur.fetchall()
        except duckdb.Error as e:
            raise QueryError(_one_line(e)) from None
        return QueryResult(columns=[d[0] for d in cur.description], rows=rows)

    def _attach(self, database: str, table: str) -> None:
        """(Re)define view database.table over the table's current partitions."""
        if not database:
            raise QueryError(f"table {table!r}: address tables as database.table")
        meta = self.catalog.get_table(database, table)
        if meta is None:
            raise QueryError(f"table {database}.{table} is not in the catalog")
        columns = meta["StorageDescriptor"]["Columns"]
        keys = meta.get("PartitionKeys", [])
        file_rows = []
        for p in self.catalog.get_partitions(database, table):
            for f in storage.list_files(p["StorageDescriptor"]["Location"], self.aws, suffix=".parquet"):
                file_rows.append((_local(f.uri), *p["Values"]))
        q = _ident
        parts = f"{q('__parts_' + database + '_' + table)}"
        key_defs = "".join(f", {q(k['Name'])} VARCHAR" for k in keys)
        self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {q(database)}")
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {parts} (file VARCHAR{key_defs})")
        if file_rows:
            marks = ", ".join("?" * (1 + len(keys)))
            self.con.executemany(f"INSERT INTO {parts} VALUES ({marks})", file_rows)
        key_sel = [
            f"CAST(NULLIF(p.{q(k['Name'])}, '{HIVE_DEFAULT_PARTITION}') AS {duckdb_type(k['Type'])}) AS {q(k['Name'])}"
            for k in keys
        ]
        if file_rows:
            files = "[" + ", ".join(_literal(r[0]) for r in file_rows) + "]"
            src = f"read_parquet({files}, filename = true, union_by_name = true)"
            present = {r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
            data_sel = [
                f"d.{q(c['Name'])}"
                if c["Name"] in present
                else f"CAST(NULL AS {duckdb_type(c['Type'])}) AS {q(c['Name'])}"
                for c in columns
            ]
            body = f"SELECT {', '.join(data_sel + key_sel)} FROM {src} AS d JOIN {parts} AS p ON d.filename = p.file"
        else:
            empty = [f"CAST(NULL AS {duckdb_type(c['Type'])}) AS {q(c['Name'])}" for c in columns]
            body = f"SELECT {', '.join(empty + key_sel)} FROM {parts} AS p WHERE false"
        self.con.execute(f"CREATE OR REPLACE VIEW {q(database)}.{q(table)} AS {body}")
        log.debug("attached %s.%s: %d files", database, table, len(file_rows))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _local(uri: str) -> str:
    return uri[len("file://") :] if uri.startswith("file://") else uri


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
