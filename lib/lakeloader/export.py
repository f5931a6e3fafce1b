"""`lakeloader export`: a table's published rows as SageMaker training channels (CSV or Parquet).

Each row goes to a channel by a hash of its --split-by value, computed the same way on DuckDB and on
Athena (Trino): the first 4 bytes of md5(utf8(CAST(value AS varchar))) as an unsigned big-endian integer,
mod 10,000, against the cumulative split fractions. NULL hashes as the empty string. Only column types
whose text form is identical on both engines may be split by (strings, integers, dates, booleans).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Optional

from lakeloader import manifest as manifests
from lakeloader import storage
from lakeloader.catalog.base import Catalog
from lakeloader.config import Config
from lakeloader.errors import ChecksFailed, UsageError
from lakeloader.query.base import QueryEngine
from lakeloader.query.export_sql import BUCKETS, SPLIT_TYPES, select_sql, where_sql

log = logging.getLogger(__name__)
CONTENT_TYPES = {"csv": "text/csv", "parquet": "application/x-parquet"}


@dataclass(frozen=True)
class ExportOptions:
    to: str
    columns: Optional[list[str]] = None
    label: Optional[str] = None
    split: dict[str, float] = field(default_factory=lambda: {"train": 1.0})
    split_by: Optional[str] = None
    where: Optional[str] = None
    fmt: str = "csv"
    force: bool = False
    overwrite: bool = False
    run_date: Optional[dt.date] = None


def parse_split(text: str) -> dict[str, float]:
    """`train=0.8,validation=0.2` -> {'train': 0.8, 'validation': 0.2}; UsageError unless it sums to 1."""
    split: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        try:
            fraction = float(value)
        except ValueError:
            fraction = -1.0
        if not sep or not name.replace("-", "").replace("_", "").isalnum() or not 0 < fraction <= 1:
            raise UsageError(f"--split {text}: give channel=fraction pairs, e.g. train=0.8,validation=0.2")
        if name in split:
            raise UsageError(f"--split {text}: channel {name!r} appears twice")
        split[name] = fraction
    if abs(sum(split.values()) - 1) > 1e-9:
        raise UsageError(f"--split {text}: the fractions sum to {sum(split.values()):g}, not 1")
    return split


def thresholds(split: dict[str, float]) -> list[tuple[str, int]]:
    """(channel, exclusive upper bucket) pairs: a row whose bucket is below the bound goes to that channel."""
    out, cumulative = [], 0.0
    for name, fraction in split.items():
        cumulative += fraction
        out.append((name, round(cumulative * BUCKETS)))
    out[-1] = (out[-1][0], BUCKETS)
    return out


def plan_columns(meta: dict[str, Any], opts: ExportOptions) -> list[dict[str, str]]:
    """The exported columns (label first), as catalog column dicts; UsageError for unknown names."""
    table = f"{meta.get('DatabaseName', '')}.{meta['Name']}".lstrip(".")
    available = [*meta["StorageDescriptor"]["Columns"], *meta.get("PartitionKeys", [])]
    by_name = {c["Name"].lower(): c for c in available}
    names = opts.columns or [c["Name"] for c in available]
    unknown = [n for n in names if n.lower() not in by_name]
    if unknown:
        raise UsageError(f"--columns: {', '.join(unknown)} not in {table} (it has {', '.join(by_name)})")
    chosen = [by_name[n.lower()] for n in names]
    if opts.label is not None:
        if opts.label.lower() not in {c["Name"].lower() for c in chosen}:
            raise UsageError(f"--label {opts.label}: not among the exported columns")
        chosen = [by_name[opts.label.lower()]] + [c for c in chosen if c["Name"].lower() != opts.label.lower()]
    if opts.split_by is not None:
        c = by_name.get(opts.split_by.lower())
        if c is None:
            raise UsageError(f"--split-by {opts.split_by}: not in {table}")
        if c["Type"].lower().split("(")[0] not in SPLIT_TYPES:
            raise UsageError(
                f"--split-by {opts.split_by}: type {c['Type']} prints differently on Athena and DuckDB; "
                f"split by a {'/'.join(sorted(SPLIT_TYPES))} column"
            )
    elif len(opts.split) > 1:
        raise UsageError("--split with several channels needs --split-by COLUMN (the hash that places each row)")
    return chosen


def check_validation(config: Config, catalog: Catalog, table_name: str, force: bool) -> list[str]:
    """The runs whose versions the catalog serves now; ChecksFailed when the last audited run failed its checks."""
    table = config.table(table_name)
    history = manifests.history(config.admin_location(table), config.aws)
    audited = [m for m in history if m.audit is not None]
    if audited and not audited[-1].audit.get("passed", True):
        last = audited[-1]
        if not force:
            raise ChecksFailed(
                f"{table.database}.{table.name}: the last validation (run {last.run_id}) failed; "
                "fix the data or pass --force to export anyway"
            )
        log.warning(
            "exporting %s.%s although run %s failed validation (--force)", table.database, table.name, last.run_id
        )
    live = {p["StorageDescriptor"]["Location"].rstrip("/") for p in catalog.get_partitions(table.database, table.name)}
    return [
        m.run_id
        for m in history
        if m.status == "published" and any(p.location.rstrip("/") in live for p in m.partitions)
    ]


def run_date_condition(meta: dict[str, Any], run_date: Optional[dt.date]) -> Optional[str]:
    """The Athena condition selecting one run date's partitions: the first date-typed partition key = it."""
    if run_date is None:
        return None
    keys = [k["Name"] for k in meta.get("PartitionKeys", []) if k["Type"].lower() == "date"]
    if not keys:
        raise UsageError(
            f"--run-date: {meta['DatabaseName']}.{meta['Name']} has no date partition key "
            "(a partition with transform: date, or a date column); select rows with --where instead"
        )
    return f"\"{keys[0]}\" = DATE '{run_date.isoformat()}'"


def check_destination(to: str, opts: ExportOptions, config: Config) -> None:
    """UsageError when the output prefix already holds files and --overwrite is not given."""
    if storage.list_files(to, config.aws):
        if not opts.overwrite:
            raise UsageError(f"--to {to}: not empty; choose an empty prefix or pass --overwrite")
        storage.delete_dir(to, config.aws)


def export_table(
    config: Config, catalog: Catalog, engine: QueryEngine, table_name: str, opts: ExportOptions
) -> dict[str, Any]:
    """Write every channel under opts.to/<channel>/ and the summary JSON; returns the summary."""
    table = config.table(table_name)
    meta = catalog.get_table(table.database, table.name)
    if meta is None:
        raise UsageError(f"--table {table_name}: {table.database}.{table.name} is not in the catalog (run it first)")
    meta = {**meta, "DatabaseName": table.database}
    columns = plan_columns(meta, opts)
    run_ids = check_validation(config, catalog, table_name, opts.force)
    conditions = [c for c in (opts.where, run_date_condition(meta, opts.run_date)) if c]
    # A bad --where is refused before anything is written.
    where = where_sql(" AND ".join(f"({c})" for c in conditions), "athena") if conditions else None
    to = opts.to.rstrip("/") + "/"
    check_destination(to, opts, config)
    bounds = thresholds(opts.split)
    engine_name = config.query.engine
    dialect = "athena" if engine_name == "athena" else "duckdb"
    sql = select_sql(table.database, table.name, columns, opts.split_by, bounds, where, dialect)
    channels = [name for name, _ in bounds]
    if engine_name == "athena":
        from lakeloader.query.athena_export import unload_channels

        rows = unload_channels(engine, sql, columns, to, channels, opts.fmt)  # type: ignore[arg-type]
    else:
        from lakeloader.query.duckdb import copy_channels

        rows = copy_channels(engine, table.database, table.name, sql, to, channels, opts.fmt)  # type: ignore[arg-type]
    compression = "Gzip" if engine_name == "athena" and opts.fmt == "csv" else "None"
    summary = {
        "table": f"{table.database}.{table.name}",
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "engine": engine_name,
        "format": opts.fmt,
        "label": columns[0]["Name"] if opts.label else None,
        "columns": [{"name": c["Name"], "type": c["Type"]} for c in columns],
        "split": opts.split,
        "split_by": opts.split_by,
        "rows": rows,
        "source_run_ids": run_ids,
        "sql": sql,
        "InputDataConfig": [
            {
                "ChannelName": name,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"{to}{name}/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": CONTENT_TYPES[opts.fmt],
                "CompressionType": compression,
            }
            for name, _ in bounds
        ],
    }
    storage.write_text(to + "export.json", json.dumps(summary, indent=2) + "\n", config.aws)
    return summary


def add_export_parser(sub: Any, common: Any) -> None:  # noqa: ANN401
    """Register `lakeloader export` on the CLI's subparsers (`common` adds --config/--table/--set)."""
    e = sub.add_parser(
        "export",
        help="write a table's published rows as SageMaker training channels (CSV or Parquet)",
        description="Export exactly the table's published partitions to <to>/<channel>/ per split channel, "
        "with <to>/export.json (rows per channel, columns, source runs, SQL, InputDataConfig). Athena UNLOAD "
        "on AWS, DuckDB COPY locally. Rows are assigned to channels by a hash of --split-by, the same on "
        "both engines and on every rerun. Refuses a table whose last validation failed unless --force.",
    )
    common(e)
    e.add_argument("--to", required=True, metavar="URI", help="output prefix: s3://bucket/prefix/ or a local folder")
    e.add_argument("--columns", metavar="A,B,...", help="columns to export, in this order (default: all)")
    e.add_argument("--label", metavar="COLUMN", help="the target column; written first (SageMaker's CSV convention)")
    e.add_argument(
        "--split",
        default="train=1",
        metavar="NAME=FRACTION,...",
        help="channels and fractions summing to 1, e.g. train=0.8,validation=0.1,test=0.1",
    )
    e.add_argument(
        "--split-by",
        metavar="COLUMN",
        help="column whose hash places each row (string, integer, date or boolean); needed with 2+ channels",
    )
    e.add_argument("--where", metavar="CONDITION", help="Athena SQL condition, e.g. \"dt >= DATE '2024-01-01'\"")
    e.add_argument(
        "--run-date",
        metavar="YYYY-MM-DD",
        help="only the partitions of this date (the table's first date partition key); ANDed with --where",
    )
    e.add_argument(
        "--format",
        choices=["csv", "parquet"],
        default="csv",
        help="csv: no header, label first (SageMaker built-in algorithms); or parquet",
    )
    e.add_argument("--force", action="store_true", help="export even if the last validation failed")
    e.add_argument("--overwrite", action="store_true", help="replace what is already under --to")


def options_from_args(args: Any) -> ExportOptions:  # noqa: ANN401
    """ExportOptions from parsed CLI arguments; UsageError for bad ones, before anything is read."""
    to = args.to
    run_date = None
    if args.run_date:
        try:
            run_date = dt.date.fromisoformat(args.run_date)
        except ValueError:
            raise UsageError(f"--run-date {args.run_date}: not a date as YYYY-MM-DD") from None
    if "://" not in to:
        to = os.path.abspath(to)
    return ExportOptions(
        to=to,
        columns=[c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None,
        label=args.label,
        split=parse_split(args.split),
        split_by=args.split_by,
        where=args.where,
        fmt=args.format,
        force=args.force,
        overwrite=args.overwrite,
        run_date=run_date,
    )


def render_summary(summary: dict[str, Any], elapsed: float) -> str:
    """What an export wrote, and the InputDataConfig to paste into CreateTrainingJob."""
    total = sum(summary["rows"].values())
    lines = [f"lakeloader export {summary['table']}: {total} rows in {elapsed:.1f}s ({summary['format']})"]
    for c in summary["InputDataConfig"]:
        name = c["ChannelName"]
        lines.append(f"  {name:<12} {summary['rows'][name]:>10} rows  {c['DataSource']['S3DataSource']['S3Uri']}")
    lines.append("InputDataConfig:")
    lines.append(json.dumps(summary["InputDataConfig"], indent=2))
    return "\n".join(lines)
