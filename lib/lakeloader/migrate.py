"""`lakeloader migrate --from-hive`: one config entry per Hive table, for a person to review and then run.

Reading the metastore is I/O (`describe_tables`); turning a description into a table entry is pure
(`table_entry`), and so is the YAML text (`config_text`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import yaml
from pyspark.sql import SparkSession

from lakeloader.config.builder import suggest
from lakeloader.errors import InputError, UsageError
from lakeloader.metastore import hive_session

log = logging.getLogger(__name__)

# Partition keys that usually hold a day: the first one found gets the run date's `where`.
_DATE_NAME_RE = re.compile(r"^(ds|dt|date|day|.*_date|.*_dt|.*_day|date_.*)$")
# How such a key's values are written, tried on a real partition value (strftime formats).
_DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d")
_TIME_TYPES = ("timestamp", "timestamp_ntz", "date")


@dataclass(frozen=True)
class HiveTable:
    """What the metastore says about one table: columns as (name, Spark type), partition keys in order."""

    name: str
    columns: list[tuple[str, str]]
    partition_keys: list[tuple[str, str]]
    sample_partition: Optional[str] = None  # one `k=v/k2=v2` spec from SHOW PARTITIONS, if any


def describe_tables(spark: SparkSession, database: str, names: Optional[Sequence[str]]) -> list[HiveTable]:
    """The tables (not views) of a Hive database, all or `names`; one line errors for a missing database/table."""
    hive = hive_session(spark)
    if not hive.catalog.databaseExists(database):
        raise InputError(f"--from-hive {database}: no such database in the Hive metastore")
    available = sorted(t.name for t in hive.catalog.listTables(database) if t.tableType != "VIEW")
    for name in names or ():
        if name not in available:
            raise UsageError(f"--tables: no table {name!r} in Hive database {database!r}{suggest(name, available)}")
    out = []
    for name in names or available:
        cols = hive.catalog.listColumns(f"{database}.{name}")
        keys = [(c.name, c.dataType) for c in cols if c.isPartition]
        sample = hive.sql(f"SHOW PARTITIONS `{database}`.`{name}`").first() if keys else None
        out.append(
            HiveTable(
                name=name,
                columns=[(c.name, c.dataType) for c in cols if not c.isPartition],
                partition_keys=keys,
                sample_partition=sample[0] if sample else None,
            )
        )
    return out


def table_entry(database: str, table: HiveTable, to_database: str) -> Optional[dict[str, Any]]:
    """The `tables.<name>` entry reading `database.table`; None when no partition can be derived for it.

    Partitions: the Hive partition keys, in order. Without any: a `dt` date partition from the first
    timestamp or date column. The `where` selects the run date on the first date-like partition key.
    """
    source: dict[str, Any] = {"table": f"{database}.{table.name}"}
    partitions: list[dict[str, Any]] = [{"name": k} for k, _ in table.partition_keys]
    date_key = next((k for k, t in table.partition_keys if t == "date" or _DATE_NAME_RE.match(k)), None)
    if date_key is not None:
        fmt = _value_format(table.sample_partition, date_key)
        source["where"] = f"{date_key} = '{{run_date:{fmt}}}'"
    if not partitions:
        when = next((c for c, t in table.columns if t in _TIME_TYPES), None)
        if when is None:
            return None
        partitions = [{"name": "dt" if when != "dt" else "dt_day", "from": when, "transform": "date"}]
    return {"database": to_database, "source": source, "partitions": partitions}


def _value_format(spec: Optional[str], key: str) -> str:
    """The strftime format a real value of partition `key` parses with (yyyy-mm-dd when unknown)."""
    values = dict(part.split("=", 1) for part in (spec or "").split("/") if "=" in part)
    value = values.get(key)
    for fmt in _DATE_FORMATS:
        try:
            dt.datetime.strptime(value or "", fmt)
        except ValueError:
            continue
        return fmt
    return _DATE_FORMATS[0]


def config_text(tables: dict[str, dict[str, Any]], warehouse: str, command: str, skipped: Sequence[str]) -> str:
    """The YAML of a new config: a header saying how it was made and what to review, then the settings."""
    header = [
        f"# Written by `{command}`.",
        "# Review before the first run: partitions (from the Hive partition keys), each source's `where`",
        "# (the run date on the first date-like partition key), database names, then add checks.",
        "# Keys: conf/README.md. Try one table: lakeloader run --config <this file> --table <name> --dry-run",
    ]
    header += [f"# Skipped {name}: no partition key and no timestamp/date column to partition by." for name in skipped]
    body = {
        "warehouse": warehouse,
        "catalog": {"kind": "local", "path": ".lakeloader/catalog.sqlite"},
        "tables": tables,
    }
    return "\n".join(header) + "\n" + yaml.safe_dump(body, sort_keys=False, default_flow_style=False)
