"""`lakeloader migrate --from-hive DB --config OUT.yaml`: write a config with a table entry per Hive table."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import tempfile
from collections.abc import Callable
from typing import Any

from lakeloader.config import NAME_RE, load_config
from lakeloader.errors import UsageError

log = logging.getLogger("lakeloader")


def add_migrate_parser(sub: Any, names: Callable[[str], list[str]]) -> None:
    """The `migrate` subcommand's arguments; `names` parses a comma-separated list of tables."""
    m = sub.add_parser(
        "migrate",
        help="write a config with one table entry per Hive table (source, partitions, run-date where)",
        description="Read a Hive database's tables from the metastore (the cluster's on EMR; locally Spark's "
        "embedded Derby metastore) and write a new config FILE with one entry per table: the Hive table as "
        "source, its partition keys as partitions, the run date as `where` on the first date-like partition "
        "key (e.g. ds = '{run_date:%Y-%m-%d}', in the format its values use). Nothing is loaded: review "
        "the file, then `lakeloader run --config FILE --table NAME`. An existing FILE is never overwritten "
        "without --force. Docs: README.md (Hive tables as a source).",
    )
    m.add_argument("--from-hive", required=True, metavar="DATABASE", help="the Hive database to migrate")
    m.add_argument("--config", required=True, metavar="FILE", help="the config file to write (a local path)")
    m.add_argument("--tables", type=names, metavar="A,B,...", help="only these tables (default: every table, no views)")
    m.add_argument("--to-database", metavar="NAME", help="the lake (Glue) database to load into (default: DATABASE)")
    m.add_argument(
        "--warehouse",
        default=".lakeloader/warehouse",
        help="warehouse of the new config (default .lakeloader/warehouse)",
    )
    m.add_argument("--force", action="store_true", help="replace FILE if it exists")


def cmd_migrate(args: argparse.Namespace) -> int:
    """`lakeloader migrate`."""
    from lakeloader import migrate
    from lakeloader.session import build_session

    to_database = args.to_database or args.from_hive.lower()
    if not NAME_RE.match(to_database):
        raise UsageError(f"--to-database {to_database!r}: lowercase letters, digits and '_' only (Glue's rule)")
    if os.path.exists(args.config) and not args.force:
        raise UsageError(f"--config {args.config} exists and is never overwritten; pass --force to replace it")
    spark = build_session("lakeloader-migrate", verbose=args.verbose)
    tables, skipped = {}, []
    for t in migrate.describe_tables(spark, args.from_hive, args.tables):
        entry = migrate.table_entry(args.from_hive, t, to_database)
        if entry is None:
            log.warning(
                "skipped %s.%s: no partition key and no timestamp/date column to partition by", args.from_hive, t.name
            )
            skipped.append(t.name)
        else:
            tables[t.name] = entry
    if not tables:
        raise UsageError(f"--from-hive {args.from_hive}: no table to migrate (skipped: {', '.join(skipped) or 'none'})")
    text = migrate.config_text(tables, args.warehouse, _command(args), skipped)
    _write_new(args.config, text)
    load_config(args.config)  # what was written loads as a config, or this is a bug worth a traceback
    for name, entry in tables.items():
        where = entry["source"].get("where", "(none: every partition, every run)")
        keys = ", ".join(p["name"] for p in entry["partitions"])
        print(f"{name}: {entry['source']['table']} -> {to_database}.{name}, partitions [{keys}], where {where}")
    print(f"wrote {len(tables)} tables to {args.config}" + (f"; skipped {', '.join(skipped)}" if skipped else ""))
    return 0


def _command(args: argparse.Namespace) -> str:
    """The migrate command line that wrote a config, for its header."""
    words = ["lakeloader", "migrate", "--from-hive", args.from_hive]
    words += ["--tables", ",".join(args.tables)] if args.tables else []
    words += ["--to-database", args.to_database] if args.to_database else []
    return shlex.join([*words, "--warehouse", args.warehouse, "--config", args.config])


def _write_new(path: str, text: str) -> None:
    """Write the whole file or nothing: a temp file in the same directory, renamed over `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".migrate-", suffix=".yaml")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        raise UsageError(f"--config {path}: cannot write ({e.strerror or e})") from None
