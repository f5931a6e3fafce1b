"""DuckDBEngine: Athena SQL, transpiled by sqlglot, over the Parquet files the catalog points at.

Partition values come from the catalog (not from directory names), cast to the catalog's types,
so a value round-trips exactly whatever characters it holds.
"""

from __future__ import annotations

import decimal
import hashlib
import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlparse

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from lakeloader import storage
from lakeloader.aws import frozen_credentials
from lakeloader.catalog.base import Catalog
from lakeloader.catalog.tables import is_delta_table
from lakeloader.catalog.types import duckdb_type
from lakeloader.config import AwsConfig
from lakeloader.delta import live_files, open_table
from lakeloader.errors import LakeloaderError, QueryError
from lakeloader.hive import HIVE_DEFAULT_PARTITION
from lakeloader.query.base import QueryEngine, QueryResult

log = logging.getLogger(__name__)
FILE_COLUMN = "__lakeloader_file"  # read_parquet's file-name column; a data column may be called 'filename'
_DATE_UNITS = {"DAY", "WEEK", "MONTH", "QUARTER", "YEAR"}


# httpfs retries a request on a reset or timeout and on 5xx (S3's 503 SlowDown, 500 InternalError):
# 6 retries 0.2 s apart, doubling (0.2 ... 6.4 s, 12.6 s in all) ride out a burst of S3 throttling, where
# DuckDB's default (3 retries, 0.1 s x 4) gives up after 2.1 s. DuckDB is the only retry layer of an audit
# read (docs/reliability.md, "Who retries what"); the run fails in one line, publishing nothing, past it.
HTTP_RETRY_SETTINGS = {"http_retries": 6, "http_retry_wait_ms": 200, "http_retry_backoff": 2, "http_timeout": 30}


class DuckDBEngine(QueryEngine):
    """A real SQL engine standing in for Athena on a laptop."""

    name = "duckdb"

    def __init__(self, catalog: Catalog, aws: Optional[AwsConfig] = None) -> None:
        self.catalog = catalog
        self.aws = aws
        self.con = duckdb.connect(":memory:")
        self.queries_issued = 0
        self._s3_ready = False
        # Listings of version directories (`_v=`): lakeloader writes each once and never adds to it, so one
        # LIST serves every query of this engine (an audit runs several).
        self._listings: dict[str, list[str]] = {}

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> QueryResult:
        tree = _parse_one(sql)
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        date_columns: set[str] = set()
        tables = {
            (t.db.lower(), t.name.lower())
            for t in tree.find_all(exp.Table)
            if t.name and (t.db or t.name.lower() not in ctes)
        }
        for database, table in sorted(tables):
            date_columns |= self._attach(database, table)
        duck_sql = _athena_semantics(tree, date_columns).sql(dialect="duckdb")
        self.queries_issued += 1
        try:
            cur = self.con.execute(duck_sql, list(parameters))
            rows = cur.fetchall()
        except duckdb.Error as e:
            raise QueryError(_one_line(e)) from None
        return QueryResult(columns=[d[0] for d in cur.description], rows=rows)

    def _attach(self, database: str, table: str) -> set[str]:
        """(Re)define view database.table over the table's current partitions; returns its date columns."""
        if not database:
            raise QueryError(f"table {table!r}: address tables as database.table")
        meta = self.catalog.get_table(database, table)
        if meta is None:
            raise QueryError(f"table {database}.{table} is not in the catalog")
        columns = meta["StorageDescriptor"]["Columns"]
        keys = meta.get("PartitionKeys", [])
        files: list[str] = []
        values: list[list[str]] = [[] for _ in keys]
        if is_delta_table(meta):
            columns, keys, files, values = _delta_listing(database, table, meta, self.aws)
        else:
            partitions = self.catalog.get_partitions(database, table)
            listed = self._list(
                meta["StorageDescriptor"]["Location"], [p["StorageDescriptor"]["Location"] for p in partitions]
            )
            for p in partitions:
                for f in listed[p["StorageDescriptor"]["Location"]]:
                    files.append(f)
                    for i, v in enumerate(p["Values"]):
                        values[i].append(v)
        q = _ident
        # One helper table per catalog table; hashed so 'a_b.c' and 'a.b_c' never share one.
        parts = q("__parts_" + hashlib.sha1(f"{database}\0{table}".encode()).hexdigest()[:16])
        listing = pa.table({"file": files, **{f"k{i}": v for i, v in enumerate(values)}})
        key_sel = [
            f"CAST(NULLIF(p.{q(f'k{i}')}, '{HIVE_DEFAULT_PARTITION}') AS {duckdb_type(k['Type'])}) AS {q(k['Name'])}"
            for i, k in enumerate(keys)
        ]
        if any(f.startswith("s3://") for f in files):
            self._enable_s3()
        try:
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {q(database)}")
            self.con.register("__listing", listing)
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {parts} AS SELECT * FROM __listing")
            self.con.unregister("__listing")
            if files:
                src = (
                    f"read_parquet({_literal_list(files)}, filename = {_literal(FILE_COLUMN)}, "
                    "union_by_name = true, hive_partitioning = false)"
                )
                present = {r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
                data_sel = [
                    f"d.{q(c['Name'])}"
                    if c["Name"] in present
                    else f"CAST(NULL AS {duckdb_type(c['Type'])}) AS {q(c['Name'])}"
                    for c in columns
                ]
                body = (
                    f"SELECT {', '.join(data_sel + key_sel)} FROM {src} AS d "
                    f"JOIN {parts} AS p ON d.{q(FILE_COLUMN)} = p.file"
                )
            else:
                empty = [f"CAST(NULL AS {duckdb_type(c['Type'])}) AS {q(c['Name'])}" for c in columns]
                body = f"SELECT {', '.join(empty + key_sel)} FROM {parts} AS p WHERE false"
            self.con.execute(f"CREATE OR REPLACE VIEW {q(database)}.{q(table)} AS {body}")
        except duckdb.Error as e:
            raise QueryError(f"cannot read table {database}.{table}: {_one_line(e)}") from None
        log.debug("attached %s.%s: %d files", database, table, len(files))
        return {c["Name"].lower() for c in [*columns, *keys] if c["Type"].lower() == "date"}

    def _list(self, root: str, locations: list[str]) -> dict[str, list[str]]:
        """The Parquet files of each partition location (DuckDB paths), listed a day at a time, not one by one."""
        todo = [loc for loc in locations if loc not in self._listings]
        found = storage.list_dirs(root, todo, self.aws, suffix=".parquet")
        fresh = {loc: [_local(f.uri) for f in files] for loc, files in found.items()}
        self._listings.update({loc: files for loc, files in fresh.items() if "/_v=" in loc})
        return {loc: self._listings[loc] if loc in self._listings else fresh[loc] for loc in locations}

    def _enable_s3(self) -> None:
        """Load httpfs from the duckdb-ext-httpfs wheel (never INSTALL: it downloads) and add an S3 secret."""
        if self._s3_ready:
            return
        aws = self.aws or AwsConfig()
        self.con.execute(f"LOAD {_literal(str(httpfs_extension()))}")
        opts = [f"REGION {_literal(aws.region)}"]
        creds = frozen_credentials(aws)
        if creds is not None:
            key, secret, token = creds
            opts += [f"KEY_ID {_literal(key)}", f"SECRET {_literal(secret)}"]
            if token:
                opts.append(f"SESSION_TOKEN {_literal(token)}")
        if aws.endpoint_url:
            ep = urlparse(aws.endpoint_url)
            ssl = str(ep.scheme == "https").lower()
            opts += [f"ENDPOINT {_literal(ep.netloc)}", "URL_STYLE 'path'", f"USE_SSL {ssl}"]
        self.con.execute(f"CREATE OR REPLACE SECRET lakeloader_s3 (TYPE s3, {', '.join(opts)})")
        # A data file lakeloader reads is never rewritten in place (new versions get new paths), so its size
        # and Parquet footer can be kept for the engine's life: one HEAD and one footer read per file however
        # many queries scan it (with per-query caching an audit re-read each several times).
        self.con.execute("SET enable_http_metadata_cache = true")
        self.con.execute("SET parquet_metadata_cache = true")
        for key, value in HTTP_RETRY_SETTINGS.items():
            self.con.execute(f"SET {key} = {value}")
        self._s3_ready = True


def _delta_listing(
    database: str, table: str, meta: dict[str, Any], aws: Optional[AwsConfig]
) -> tuple[list[dict[str, str]], list[dict[str, str]], list[str], list[list[str]]]:
    """(data columns, partition keys, files, values per key) of a Delta table, from its Delta log.

    A Delta table has no catalog partitions: the log lists the live files and their partition values
    (replaced files stay on storage until VACUUM, so listing directories would read them too). Its
    partition columns are ordinary catalog columns; the log says which they are.
    """
    location = meta["StorageDescriptor"]["Location"]
    try:
        dt = open_table(location, aws)
    except LakeloaderError as e:
        raise QueryError(f"cannot read table {database}.{table}: {e.args[0]}") from None
    # Parquet files alone do not give the table's rows when the log renames columns or masks deleted rows.
    if dt.metadata().configuration.get("delta.columnMapping.mode", "none") != "none":
        raise QueryError(f"table {database}.{table}: Delta column mapping is not supported by the local engine")
    part_names = list(dt.metadata().partition_columns)
    listed = live_files(dt, location, part_names, aws)
    if "deletionVectors" in (dt.protocol().reader_features or []) and _has_deletion_vectors(dt):
        raise QueryError(f"table {database}.{table}: Delta deletion vectors are not supported by the local engine")
    all_columns = meta["StorageDescriptor"]["Columns"]
    types = {c["Name"]: c for c in all_columns}
    missing = [n for n in part_names if n not in types]
    if missing:
        raise QueryError(
            f"table {database}.{table}: partition columns {missing} of its Delta log are not in the catalog"
        )
    data = [c for c in all_columns if c["Name"] not in part_names]
    keys = [types[n] for n in part_names]
    values = [[f.values[i] for f in listed] for i in range(len(part_names))]
    return data, keys, [_local(f.uri) for f in listed], values


def _has_deletion_vectors(dt: Any) -> bool:
    actions = pa.table(dt.get_add_actions(flatten=True))
    dv = [n for n in actions.column_names if n.startswith("deletionVector")]
    return any(actions.column(n).null_count < len(actions) for n in dv)


def httpfs_extension() -> Path:
    """The httpfs extension file shipped by the duckdb-ext-httpfs package for this DuckDB version."""
    spec = importlib.util.find_spec("duckdb_ext")
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        found = sorted(Path(root).glob(f"extensions/v{duckdb.__version__}/*/httpfs.duckdb_extension"))
        if found:
            return found[0]
    raise QueryError(f"reading s3:// needs duckdb-ext-httpfs=={duckdb.__version__}.* installed (make install)")


def _parse_one(sql: str) -> exp.Expression:
    try:
        statements = [s for s in sqlglot.parse(sql, read="athena") if s is not None]
    except sqlglot.errors.SqlglotError as e:
        raise QueryError(f"cannot parse SQL: {_one_line(e)}") from None
    if len(statements) != 1:
        raise QueryError(f"expected one SQL statement, got {len(statements)}")
    return statements[0]


def _athena_semantics(tree: exp.Expression, date_columns: set[str]) -> exp.Expression:
    """Rewrite the spots where a literal transpilation would give DuckDB's answer, not Athena's."""
    # DECIMAL '2.50' is decimal(3,2) on Athena; a bare DECIMAL cast would be DuckDB's DECIMAL(18,3).
    for cast in list(tree.find_all(exp.Cast)):
        lit, to = cast.this, cast.to
        if to.this == exp.DataType.Type.DECIMAL and not to.expressions and isinstance(lit, exp.Literal):
            try:
                _, digits, exponent = decimal.Decimal(lit.this).as_tuple()
            except decimal.InvalidOperation:
                continue
            scale = max(0, -int(exponent))
            precision = max(len(digits), scale, 1)
            cast.set("to", exp.DataType.build(f"DECIMAL({precision}, {scale})"))
    # date_add('day', 1, d) on a DATE is a DATE on Athena; DuckDB's d + INTERVAL gives a TIMESTAMP.
    for node in list(tree.find_all(exp.DateAdd, exp.DateSub)):
        unit = node.args.get("unit")
        if unit is not None and unit.name.upper() in _DATE_UNITS and _is_date(node.this, date_columns):
            node.replace(exp.Cast(this=node.copy(), to=exp.DataType.build("DATE")))
    return tree


def _is_date(node: exp.Expression, date_columns: set[str]) -> bool:
    if isinstance(node, exp.Column):
        return node.name.lower() in date_columns
    if isinstance(node, exp.Cast):
        return node.to.this == exp.DataType.Type.DATE
    return isinstance(node, (exp.CurrentDate, exp.Date))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _literal_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(_literal(i) for i in items) + "]"


def _local(uri: str) -> str:
    return uri[len("file://") :] if uri.startswith("file://") else uri


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def copy_channels(
    engine: DuckDBEngine, database: str, table: str, select: str, to: str, channels: Sequence[str], fmt: str
) -> dict[str, int]:
    """Run `select` (DuckDB SQL with a channel column) once and COPY each channel's rows to `to`<channel>/.

    Returns rows per channel. CSV has no header and no quoting beyond what a value needs (RFC 4180).
    """
    from lakeloader.query.export_sql import CHANNEL

    engine._attach(database, table)
    target = _local(to)
    if target.startswith("s3://"):
        engine._enable_s3()
    options = "FORMAT csv, HEADER false" if fmt == "csv" else "FORMAT parquet"
    rows: dict[str, int] = {}
    try:
        engine.con.execute(f"CREATE OR REPLACE TEMP TABLE __export AS {select}")
        names = [r[0] for r in engine.con.execute("DESCRIBE __export").fetchall() if r[0] != CHANNEL]
        cols = ", ".join(_ident(n) for n in names)
        for channel in channels:
            directory = f"{target}{channel}"
            if not target.startswith("s3://"):
                Path(directory).mkdir(parents=True, exist_ok=True)
            out = f"{directory}/part-00000.{fmt}"
            sql = f"COPY (SELECT {cols} FROM __export WHERE {_ident(CHANNEL)} = ?) TO {_literal(out)} ({options})"
            rows[channel] = int(engine.con.execute(sql, [channel]).fetchone()[0])
            engine.queries_issued += 1
        engine.con.execute("DROP TABLE __export")
    except duckdb.Error as e:
        raise QueryError(f"export of {database}.{table}: {_one_line(e)}") from None
    return rows
