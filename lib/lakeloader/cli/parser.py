"""The command line, assembled in one place: every subcommand's arguments, and the function that runs it."""

from __future__ import annotations

import argparse
import datetime as dt

from lakeloader import __version__
from lakeloader.cli.deploy import cmd_deploy_step
from lakeloader.cli.export import cmd_export
from lakeloader.cli.migrate import add_migrate_parser, cmd_migrate
from lakeloader.cli.plan import cmd_plan, cmd_sample
from lakeloader.cli.query import cmd_query
from lakeloader.cli.run import cmd_backfill, cmd_run, cmd_validate
from lakeloader.cli.versions import cmd_history, cmd_rollback, cmd_vacuum
from lakeloader.errors import UsageError
from lakeloader.schedule.command import add_schedule_parser, cmd_schedule


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's default exit code 2 is right; keep one line
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _common(p: argparse.ArgumentParser, table: bool = True) -> None:
    p.add_argument("--config", required=True, metavar="FILE", help="environment config, e.g. conf/local.yaml")
    if table:
        p.add_argument("--table", required=True, metavar="NAME", help="a table under 'tables:' in the config")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set tables.events.mode=append (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    p = _Parser(
        prog="lakeloader",
        description="Load Hadoop-scale input into a partitioned Parquet table registered in a Glue-style "
        "catalog, then validate and query it. Locally: Spark, a SQLite catalog and DuckDB.",
        epilog="Exit codes: 0 ok, 1 a check failed, 2 bad config/input/arguments, 3 another run holds the table. "
        "Docs: README.md, conf/README.md.",
    )
    p.add_argument("--version", action="version", version=f"lakeloader {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    r = sub.add_parser(
        "run",
        help="read, partition, write, register and publish one table",
        description="Read the table's input once, write it as partitioned Parquet into "
        "run-scoped version directories, write the run manifest, then register and publish "
        "the partitions in the catalog. Rerunning the same input is a no-op. With --tables or --all: "
        "one run per table (each with its own lock and run id), a summary of each, and the worst exit code.",
    )
    _common(r, table=False)
    which = r.add_mutually_exclusive_group(required=True)
    which.add_argument("--table", metavar="NAME", help="a table under 'tables:' in the config")
    which.add_argument("--tables", type=_names, metavar="A,B,...", help="these tables, one after the other")
    which.add_argument("--all", action="store_true", help="every table of the config, in config order")
    r.add_argument(
        "--keep-going", action="store_true", help="with --tables/--all: run the other tables after one fails"
    )
    r.add_argument(
        "--run-date",
        type=_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="fills {run_date:...} in source.path and --input (default: today, UTC)",
    )
    r.add_argument(
        "--input",
        metavar="URI",
        help="read this instead of source.path: any Hadoop URI or path, globs allowed, with the same templates "
        "(e.g. hdfs:///landing/events/{run_date:%%Y/%%m/%%d}/*.csv; a glob's {a,b} is written {{a,b}})",
    )
    r.add_argument("--run-id", metavar="ID", help="run id (default: derived from table, run date and input listing)")
    r.add_argument("--mode", choices=["append", "overwrite_partitions", "overwrite"], help="override the table's mode")
    r.add_argument("--dry-run", action="store_true", help="list the input and plan the run; write nothing")

    v = sub.add_parser(
        "validate",
        help="run the table's checks and reconcile row counts with a run's manifest",
        description="Run every check declared for the table in one aggregate query, and compare "
        "rows per partition with the run's manifest (latest published run by default). "
        "Exit 0 when all error-severity checks pass, 1 when one fails.",
    )
    _common(v)
    v.add_argument("--run-id", metavar="ID", help="reconcile against this run (default: latest published)")
    v.add_argument(
        "--report", metavar="PATH", help="also write the report as JSON to PATH (a local path or s3://bucket/key)"
    )

    q = sub.add_parser(
        "query",
        help="run an Athena-dialect SQL query (DuckDB locally)",
        description="Tables are addressed as database.table. The SQL is Athena's (Trino) "
        "dialect; locally it is transpiled to DuckDB and runs over the catalog's partitions.",
    )
    _common(q, table=False)
    q.add_argument("sql", help='e.g. "SELECT dt, count(*) FROM demo.events GROUP BY dt"')
    q.add_argument(
        "--format",
        choices=["table", "csv", "json"],
        help="output format (default table; with --output: json for a .json name, else csv)",
    )
    q.add_argument(
        "--output",
        metavar="PATH",
        help="write to PATH (local or s3://) instead, in --format csv or json (without --format: JSON if PATH "
        "ends in .json, else CSV with header); with engine athena the CSV Athena wrote is copied as it is",
    )

    h = sub.add_parser(
        "history",
        help="list a table's runs: status, mode, partitions, rows, audit",
        description="The table's most recent runs from their manifests, newest first, with how many of "
        "their partitions are live in the catalog now. Reads --limit manifests, however long the history.",
    )
    _common(h)
    h.add_argument("--limit", type=_positive, default=20, metavar="N", help="show the N newest runs (default 20)")

    b = sub.add_parser(
        "rollback",
        help="point the table back at its state as of an earlier run",
        description="Sets every partition's catalog location to the version it had right after "
        "RUN_ID was published (partitions created later are dropped). Needs those versions to "
        "still exist: set retain_versions >= 2 to keep older versions. Takes the table's lock like a run "
        "(exit 3 while another run holds it).",
    )
    _common(b)
    b.add_argument("--to", required=True, metavar="RUN_ID", help="a published run (see `lakeloader history`)")

    vc = sub.add_parser(
        "vacuum",
        help="delete superseded versions that have been unreferenced for retain_for",
        description="A publish does not delete the versions it supersedes beyond retain_versions: queries that "
        "planned on them before the flip may still read them. They are deleted once unreferenced for the table's "
        "retain_for (default 1h), by the table's next run or by this command. Never deletes a location a catalog "
        "partition points to. Takes the table's lock (exit 3 while a run holds it), except with --dry-run.",
    )
    _common(vc)
    vc.add_argument("--dry-run", action="store_true", help="list what would be removed; change nothing")

    pl = sub.add_parser(
        "plan",
        help="estimate tasks, files, Glue calls, validation cost and cluster size for a run",
        description="Before running: the same layout rules `run` uses, applied to an input size, "
        "with the assumptions printed (docs/scale.md walks through 1 PB).",
    )
    _common(pl)
    pl.add_argument("--input-bytes", required=True, metavar="SIZE", help="e.g. 1PB, 500GiB, 1000000")
    pl.add_argument("--partitions", type=int, default=1000, help="partitions the run writes (default 1000)")
    pl.add_argument("--target-hours", type=float, default=2.0, help="wall time to size the cluster for (default 2)")
    pl.add_argument("--json", action="store_true", help="machine-readable output")

    bf = sub.add_parser(
        "backfill",
        help="load a range of run dates, one idempotent run per date",
        description="Run the table once per date from --from to --to (each run with its own run id, "
        "manifest and lock). Dates already published with the same input are skipped, so rerunning a "
        "killed or failed backfill resumes where it stopped. Progress after every date; a summary table "
        "at the end; exit code = the worst date's. With --parallel N, N dates run at once under one "
        "table lock held (and renewed) for the whole backfill.",
    )
    _common(bf)
    bf.add_argument("--from", dest="start", required=True, type=_date, metavar="YYYY-MM-DD", help="first run date")
    bf.add_argument("--to", dest="end", required=True, type=_date, metavar="YYYY-MM-DD", help="last run date, included")
    bf.add_argument("--step", default="1d", metavar="Nd|Nw", help="between run dates (default 1d; e.g. 7d, 1w)")
    bf.add_argument("--keep-going", action="store_true", help="run the remaining dates after one fails")
    bf.add_argument(
        "--parallel",
        type=int,
        default=1,
        metavar="N",
        help="run N dates at once (default 1): the backfill holds the table's lock for its whole span; one "
        "date's planning, audit and publish overlap another's write (writes and publishes take turns); not "
        "for format: delta",
    )
    bf.add_argument("--mode", choices=["append", "overwrite_partitions", "overwrite"], help="override the table's mode")
    bf.add_argument("--dry-run", action="store_true", help="list each date's input and plan it; write nothing")

    s = sub.add_parser("sample", help="generate a sample CSV input (events with skew, nulls, hostile values)")
    s.add_argument("--out", required=True, metavar="DIR", help="directory for part-*.csv files")
    s.add_argument("--rows", type=int, default=200_000, help="good rows (default 200000)")
    s.add_argument("--files", type=int, default=4, help="number of CSV files (default 4)")
    s.add_argument("--bad-rows", type=int, default=20, help="malformed rows to mix in (default 20)")
    s.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    from lakeloader.export import add_export_parser

    add_export_parser(sub, _common)

    d = sub.add_parser(
        "deploy-step",
        help="package the job, upload it and submit it as an EMR step (optionally on a new cluster)",
        description="Build the wheel and the job's code, upload them content-addressed under emr.code_location "
        "(unchanged files are not uploaded again), add a spark-submit step running jobs/ingest.py, and with --wait "
        "follow it to the end. Docs: docs/deploy.md.",
    )
    d.add_argument("--config", required=True, metavar="FILE", help="environment config with an emr: section")
    d.add_argument("--table", required=True, metavar="NAME", help="a table under 'tables:' in the config")
    where = d.add_mutually_exclusive_group(required=True)
    where.add_argument("--cluster-id", metavar="ID", help="a running EMR cluster (j-...)")
    where.add_argument("--create-cluster", action="store_true", help="start a cluster from the emr: section")
    d.add_argument("--wait", action="store_true", help="follow the step to its end; exit non-zero unless COMPLETED")
    d.add_argument("--dry-run", action="store_true", help="print the uploads and API requests as JSON; call nothing")
    d.add_argument("--run-date", type=_date, metavar="YYYY-MM-DD", help="passed to the job ({run_date} in paths)")
    d.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (repeatable); forwarded to the job unless it is an emr.* key",
    )
    add_migrate_parser(sub, _names)
    add_schedule_parser(sub)
    for command in sub.choices.values():
        # Also after the subcommand (`lakeloader run ... -v`); SUPPRESS keeps a flag given before it.
        command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging")
        command.add_argument(
            "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="warnings and errors only"
        )
    return p


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return n


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date as YYYY-MM-DD") from None


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("name at least one table, e.g. --tables events,users")
    return list(dict.fromkeys(names))


COMMANDS = {
    "run": cmd_run,
    "backfill": cmd_backfill,
    "validate": cmd_validate,
    "export": cmd_export,
    "query": cmd_query,
    "history": cmd_history,
    "rollback": cmd_rollback,
    "vacuum": cmd_vacuum,
    "plan": cmd_plan,
    "sample": cmd_sample,
    "deploy-step": cmd_deploy_step,
    "schedule": cmd_schedule,
    "migrate": cmd_migrate,
}
