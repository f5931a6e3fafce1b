"""SQL of `lakeloader export`: the table's rows with the channel each one goes to, for Athena and DuckDB.

The channel comes from a bucket in [0, 10000): the first 4 bytes of the MD5 of the split-by value's text
(UTF-8), read as an unsigned big-endian integer, mod 10000. Both engines define md5 and the varchar cast
of the SPLIT_TYPES identically, so a row lands in the same channel on either (tests compare DuckDB's
assignment with hashlib's). NULL hashes as ''.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import sqlglot

from lakeloader.errors import UsageError

BUCKETS = 10_000
CHANNEL = "__channel"
# Types whose CAST(... AS varchar) reads the same on Trino and DuckDB (not floats, decimals, timestamps).
SPLIT_TYPES = frozenset(
    {"string", "varchar", "char", "tinyint", "smallint", "int", "integer", "bigint", "date", "boolean"}
)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def bucket_expr(column: str, dialect: str) -> str:
    """SQL for the row's bucket, 0..BUCKETS-1, in `athena` (Trino) or `duckdb` syntax."""
    text = f"coalesce(CAST({_q(column)} AS varchar), '')"
    if dialect == "athena":
        # md5 of varbinary -> 16 bytes; 4 zero bytes + the first 4 make a non-negative 64-bit big-endian int.
        return f"from_big_endian_64(concat(X'00000000', substr(md5(to_utf8({text})), 1, 4))) % {BUCKETS}"
    # DuckDB's md5 returns the hex digest: its first 8 hex digits are the same 4 bytes.
    return f"CAST('0x' || substr(md5({text}), 1, 8) AS UBIGINT) % {BUCKETS}"


def channel_expr(split_by: Optional[str], bounds: Sequence[tuple[str, int]], dialect: str) -> str:
    """CASE expression naming each row's channel (a lone channel needs no hash)."""
    if len(bounds) == 1 or split_by is None:
        return "'" + bounds[0][0] + "'"
    bucket = bucket_expr(split_by, dialect)
    whens = " ".join(f"WHEN {bucket} < {bound} THEN '{name}'" for name, bound in bounds[:-1])
    return f"CASE {whens} ELSE '{bounds[-1][0]}' END"


def select_sql(
    database: str,
    table: str,
    columns: Sequence[dict[str, str]],
    split_by: Optional[str],
    bounds: Sequence[tuple[str, int]],
    where: Optional[str],
    dialect: str = "athena",
) -> str:
    """SELECT <columns>, <channel> AS __channel FROM database.table [WHERE ...]."""
    cols = ", ".join(_q(c["Name"]) for c in columns)
    sql = f"SELECT {cols}, {channel_expr(split_by, bounds, dialect)} AS {CHANNEL} FROM {_q(database)}.{_q(table)}"
    if where:
        sql += f" WHERE ({where_sql(where, dialect)})"
    return sql


def where_sql(where: str, dialect: str) -> str:
    """The --where condition (Athena syntax) in `dialect`; UsageError when it is not one expression."""
    try:
        tree = sqlglot.parse_one(where, read="athena")
    except sqlglot.errors.SqlglotError as e:
        raise UsageError(f"--where {where}: not an SQL condition ({str(e).splitlines()[0]})") from None
    if isinstance(tree, (sqlglot.exp.Query, sqlglot.exp.Command)) or ";" in where:
        raise UsageError(f"--where {where}: give one condition, e.g. \"dt >= DATE '2024-01-01'\"")
    return tree.sql(dialect="trino" if dialect == "athena" else dialect)


def unload_sql(select: str, to: str, fmt: str) -> str:
    """Athena UNLOAD of one channel's rows (the channel column dropped) to the prefix `to`."""
    props = "format = 'PARQUET'" if fmt == "parquet" else "format = 'TEXTFILE', field_delimiter = ','"
    return f"UNLOAD ({select}) TO '{to.replace(chr(39), chr(39) * 2)}' WITH ({props})"


def channel_sql(select: str, columns: Sequence[dict[str, str]], channel: str) -> str:
    """One channel's rows of `select` (from select_sql), the channel column left out."""
    cols = ", ".join(_q(c["Name"]) for c in columns)
    return f"SELECT {cols} FROM ({select}) WHERE {_q(CHANNEL)} = '{channel}'"
