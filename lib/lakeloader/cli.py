"""The `lakeloader` console script. Maps user-caused failures to one line and an exit code."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import decimal
import io
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, Optional

from lakeloader import __version__
from lakeloader.config import Config, load_config
from lakeloader.deploy import add_deploy_parser, cmd_deploy_step
from lakeloader.errors import ChecksFailed, LakeloaderError, UsageError
from lakeloader.schedule.command import add_schedule_parser, cmd_schedule

log = logging.getLogger("lakeloader")
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


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
        help="fills {run_date:...} in source.path (default: today, UTC)",
    )
    r.add_argument("--input", metavar="URI", help="read this URI instead of source.path (any Hadoop URI or path)")
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
    q.add_argument("--format", choices=["table", "csv", "json"], default="table", help="output format (default table)")
    q.add_argument(
        "--output",
        metavar="PATH",
        help="write to PATH (local or s3://) instead: CSV with header, JSON if it ends in .json; "
        "with engine athena the CSV Athena wrote is copied as it is",
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
        "still exist: set retain_versions >= 2 to keep older versions.",
    )
    _common(b)
    b.add_argument("--to", required=True, metavar="RUN_ID", help="a published run (see `lakeloader history`)")

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
        "at the end; exit code = the worst date's.",
    )
    _common(bf)
    bf.add_argument("--from", dest="start", required=True, type=_date, metavar="YYYY-MM-DD", help="first run date")
    bf.add_argument("--to", dest="end", required=True, type=_date, metavar="YYYY-MM-DD", help="last run date, included")
    bf.add_argument("--step", default="1d", metavar="Nd|Nw", help="between run dates (default 1d; e.g. 7d, 1w)")
    bf.add_argument("--keep-going", action="store_true", help="run the remaining dates after one fails")
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
    add_deploy_parser(sub, _date)
    add_schedule_parser(sub)
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


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; returns the process exit code (the console script exits with it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as e:
        print(e, file=sys.stderr)
        return e.exit_code
    except SystemExit as e:  # --help and --version
        return int(e.code or 0)
    configure_logging(logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO)
    try:
        return COMMANDS[args.command](args)
    except ChecksFailed as e:
        print(e, file=sys.stderr)
        return e.exit_code
    except LakeloaderError as e:
        print(e, file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is now, so main() can run many times in one process (tests)."""

    @property
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # noqa: ANN001
        pass


def configure_logging(level: int) -> None:
    """One format for every lakeloader logger; Spark/py4j chatter kept at WARNING."""
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        h = _StderrHandler()
        h.setFormatter(logging.Formatter(LOG_FORMAT, "%H:%M:%S"))
        root.addHandler(h)
    logging.getLogger("lakeloader").setLevel(level)
    root.setLevel(logging.WARNING)
    logging.getLogger("py4j").setLevel(logging.WARNING)


def _load(args: argparse.Namespace) -> Config:
    return load_config(args.config, args.set)


# --------------------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    """`lakeloader run`."""
    from lakeloader.pipeline import RunOptions, run_table
    from lakeloader.session import build_session

    config = _load(args)
    if args.table is None:
        return _run_tables(args, config)
    config.table(args.table)  # fail on a wrong table name before starting a JVM
    t = time.monotonic()
    spark = build_session(f"lakeloader-{args.table}", config.spark, verbose=args.verbose)
    opts = RunOptions(
        run_date=args.run_date or dt.datetime.now(dt.timezone.utc).date(),
        input_uri=args.input,
        run_id=args.run_id,
        mode=args.mode,
        dry_run=args.dry_run,
    )
    summary = run_table(spark, config, args.table, opts)
    print(render_run_summary(summary, time.monotonic() - t))
    if summary.audit is not None:
        print(render_report(summary.audit))
    return 0


def _run_tables(args: argparse.Namespace, config: Config) -> int:
    """`lakeloader run --tables a,b` / `--all`: each table in turn, a summary of each, the worst exit code."""
    from lakeloader import batch

    for flag in ("input", "run_id"):
        if getattr(args, flag):
            raise UsageError(f"run: --{flag.replace('_', '-')} names one table's input or run; use it with --table")
    names = list(config.tables) if args.all else args.tables
    for name in names:
        config.table(name)  # every name checked before the first run starts
    run_date = args.run_date or dt.datetime.now(dt.timezone.utc).date()
    items = [batch.Item(name, run_date) for name in names]
    results = _run_batch(args, config, items, "run", f"lakeloader-{len(items)}-tables")
    return _report_batch(f"lakeloader run of {len(items)} tables for {run_date.isoformat()}", results, True)


def _run_batch(args: argparse.Namespace, config: Config, items: list[Any], what: str, app: str) -> list[Any]:
    """Run the items in one Spark session, each through the ordinary pipeline (its own lock and run id)."""
    from lakeloader import batch
    from lakeloader.pipeline import RunOptions, run_table
    from lakeloader.session import build_session

    spark = build_session(app, config.spark, verbose=args.verbose)

    def run_one(item: batch.Item) -> Any:  # noqa: ANN401
        opts = RunOptions(run_date=item.run_date, mode=args.mode, dry_run=args.dry_run)
        return run_table(spark, config, item.table, opts)

    return batch.run_items(items, run_one, args.keep_going, what)


def cmd_backfill(args: argparse.Namespace) -> int:
    """`lakeloader backfill`."""
    from lakeloader import batch

    config = _load(args)
    table = config.table(args.table)
    dates = batch.date_range(args.start, args.end, batch.parse_step(args.step))
    items = [batch.Item(args.table, d) for d in dates]
    log.info("backfill of %s: %d run dates from %s to %s", args.table, len(items), dates[0], dates[-1])
    results = _run_batch(args, config, items, "backfill", f"lakeloader-backfill-{args.table}")
    title = f"lakeloader backfill of {table.database}.{table.name}, {dates[0]} to {dates[-1]} every {args.step}"
    return _report_batch(title, results, False)


def _report_batch(title: str, results: list[Any], by_table: bool) -> int:
    """Print a batch's summary table and totals; the worst item's exit code."""
    from lakeloader import batch

    print(title)
    print(_table(batch.summary_rows(results, by_table)))
    print(batch.totals(results))
    return batch.exit_code(results)


def render_run_summary(summary: Any, elapsed: float) -> str:  # noqa: ANN401
    """Human-readable summary of a run."""
    m = summary.manifest
    lines = [f"lakeloader run {m.run_id}: {summary.outcome}"]
    lines.append(f"  table      {m.database}.{m.table}  ({m.mode})")
    lines.append(f"  location   {m.table_location}")
    if summary.symlink_location:
        lines.append(f"  manifests  {summary.symlink_location}/ (partition projection: no partitions registered)")
    lines.append(f"  input      {m.input_uri}  ({m.input_files} files, {_bytes(m.input_bytes)})")
    if summary.outcome != "dry-run":
        p = summary.published
        parts = f"{len(m.partitions)}" + (
            f" ({p.created} new, {p.replaced} replaced, {p.removed} removed)" if p else ""
        )
        lines.append(f"  partitions {parts}")
        lines.append(f"  files      {m.files}  ({_bytes(m.bytes)})")
        lines.append(f"  rows       {m.rows_written} written of {m.rows_read} read, {m.bad_rows} malformed")
        if m.quarantine_location:
            lines.append(f"  quarantine {m.quarantine_location}")
        lines.append(f"  manifest   {summary.manifest_uri}")
        lines.append(
            "  timings    " + ", ".join(f"{k} {v:.1f}s" for k, v in m.timings_s.items()) + f"; total {elapsed:.1f}s"
        )
    else:
        lines.append(f"  partitions by {', '.join(m.partition_keys)}; nothing written (dry run)")
    return "\n".join(lines)


def cmd_validate(args: argparse.Namespace) -> int:
    """`lakeloader validate`."""
    from lakeloader import manifest as manifests
    from lakeloader import state as table_state
    from lakeloader.catalog import open_catalog
    from lakeloader.errors import ConfigError
    from lakeloader.query import open_engine
    from lakeloader.validate import validate

    if args.report:
        _check_destination(args.report, "--report")  # before the queries, not after them
    config = _load(args)
    table = config.table(args.table)
    admin = config.admin_location(table)
    # The state object names the live run and the one before it: a constant number of reads.
    current, _ = table_state.current(admin, table.retain_versions, config.aws)
    run_id, prev_id = current.latest, current.previous
    if args.run_id:
        published, prev_id = table_state.previous_of(admin, args.run_id, config.aws)
        if not published:
            raise ConfigError(
                f"--run-id {args.run_id!r}: no published run of {table.database}.{table.name} has that id"
            )
        run_id = args.run_id
    m = manifests.load(admin, run_id, config.aws) if run_id else None
    prev = manifests.load(admin, prev_id, config.aws) if prev_id else None
    catalog = open_catalog(config)
    report = validate(open_engine(config, catalog), catalog, table, m, prev)
    print(render_report(report))
    if args.report:
        _write_text(args.report, json.dumps(report.to_dict(), indent=2) + "\n", config, "--report")
        log.info("wrote the validation report to %s", args.report)
    if report.failed:
        raise ChecksFailed(f"{report.table}: {report.failure_summary()}")
    return 0


def render_report(report: Any) -> str:  # noqa: ANN401
    """The validation report as a table."""
    rows = [("check", "severity", "failing", "result", "detail")]
    for r in report.results:
        verdict = "PASS" if r.passed else ("WARN" if r.severity == "warn" else "FAIL")
        rows.append((r.name, r.severity, str(r.failing), verdict, r.detail))
    scanned = getattr(report, "bytes_scanned", None)
    cost = f", {_bytes(scanned)} scanned" if scanned is not None else ""
    head = (
        f"validation of {report.table} ({report.rows} rows, run {report.run_id or '-'}, {report.queries} queries{cost})"
    )
    verdict = "all checks passed" if not report.failed else f"{len(report.failed)} check(s) failed"
    if report.warnings:
        verdict += f", {len(report.warnings)} warning(s)"
    return "\n".join([head, _table(rows), verdict])


def cmd_query(args: argparse.Namespace) -> int:
    """`lakeloader query`."""
    from lakeloader.catalog import open_catalog
    from lakeloader.query import open_engine

    if args.output:
        _check_destination(args.output, "--output")
    config = _load(args)
    engine = open_engine(config, open_catalog(config))
    fmt = args.format
    if args.output:
        fmt = "json" if args.output.endswith(".json") else "csv"
    result = None
    if args.output and fmt == "csv" and config.query.engine == "athena":
        from lakeloader.query.athena import AthenaEngine

        if isinstance(engine, AthenaEngine):
            # Athena already wrote the result as CSV: copy that file rather than page every row through
            # GetQueryResults (1,000 rows a call) to write it again.
            execution = engine.execute(args.sql)
            if execution.output_location:
                _copy_file(execution.output_location, args.output, config)
                log.info("copied Athena's result %s to %s", execution.output_location, args.output)
                return 0
            result = engine.fetch(execution.query_id)  # no result location reported: render it ourselves
    if result is None:
        result = engine.query(args.sql)
    text = render_rows(result.columns, result.rows, fmt)
    if args.output:
        _write_text(args.output, text, config, "--output")
        log.info("wrote %d rows to %s", len(result.rows), args.output)
    else:
        sys.stdout.write(text)
    return 0


_WRITABLE_SCHEMES = ("s3", "s3a", "file")


def _check_destination(path: str, flag: str) -> None:
    """UsageError for an output file lakeloader cannot write: an unknown URI scheme, or no file name."""
    scheme = path.split("://", 1)[0].lower() if "://" in path else ""
    if scheme and scheme not in _WRITABLE_SCHEMES:
        raise UsageError(f"{flag} {path}: use a local path, file:// or s3://bucket/key")
    if path.endswith("/") or (scheme in ("s3", "s3a") and len(path.split("/", 3)) < 4):
        raise UsageError(f"{flag} {path}: name a file, e.g. s3://bucket/reports/report.json")


def _write_text(path: str, text: str, config: Config, flag: str) -> None:
    """Write an output file: a local path as given, a URI (s3://, file://) through lakeloader.storage."""
    from lakeloader import storage

    try:
        if "://" in path:
            storage.write_text(path, text, config.aws)
        else:  # plain open: a local name may hold '#' or '?', which a URI parser would cut off
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(text)
    except OSError as e:
        raise UsageError(f"{flag} {path}: cannot write ({_one_line(e)})") from None


def _copy_file(src: str, dst: str, config: Config) -> None:
    """Copy a result file from S3 to a local path or an S3 URI: server-side within S3, else streamed."""
    from pyarrow import fs as pafs

    from lakeloader import storage
    from lakeloader.errors import QueryError

    src_fs, src_path = storage.to_filesystem(src, config.aws)
    if "://" in dst:
        dst_fs, dst_path = storage.to_filesystem(dst, config.aws)
    else:
        dst_fs, dst_path = pafs.LocalFileSystem(), os.path.abspath(dst)
    info = src_fs.get_file_info(src_path)
    if info.type != pafs.FileType.File:
        raise QueryError(
            f"Athena's result file {src} is missing; check the workgroup's result location and its lifecycle"
        )
    try:
        if (
            isinstance(src_fs, pafs.S3FileSystem)
            and isinstance(dst_fs, pafs.S3FileSystem)
            and info.size < _COPY_OBJECT_MAX
        ):
            src_fs.copy_file(src_path, dst_path)  # CopyObject: the bytes never leave S3
        else:
            pafs.copy_files(src_path, dst_path, source_filesystem=src_fs, destination_filesystem=dst_fs)
    except OSError as e:
        raise UsageError(f"--output {dst}: cannot copy {src} there ({_one_line(e)})") from None


_COPY_OBJECT_MAX = 5 * 1024**3  # S3 CopyObject takes objects up to 5 GiB; larger ones are streamed


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__


def render_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> str:
    """Rows as an aligned table, CSV (with header) or one JSON array of objects."""
    if fmt == "json":
        return json.dumps([dict(zip(columns, r)) for r in rows], ensure_ascii=False, default=_json_default) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(columns)
        w.writerows([["" if v is None else _text(v) for v in r] for r in rows])
        return buf.getvalue()
    cells = [tuple(columns)] + [tuple("NULL" if v is None else _text(v) for v in r) for r in rows]
    return _table(cells) + f"\n({len(rows)} rows)\n"


def cmd_export(args: argparse.Namespace) -> int:
    """`lakeloader export`."""
    from lakeloader.catalog import open_catalog
    from lakeloader.export import export_table, options_from_args, render_summary
    from lakeloader.query import open_engine

    opts = options_from_args(args)
    config = _load(args)
    catalog = open_catalog(config)
    t = time.monotonic()
    summary = export_table(config, catalog, open_engine(config, catalog), args.table, opts)
    print(render_summary(summary, time.monotonic() - t))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """`lakeloader plan`."""
    from dataclasses import asdict

    from lakeloader.plan import Assumptions, make_plan, parse_size

    config = _load(args)
    table = config.table(args.table)
    a = Assumptions()
    plan = make_plan(config, table, parse_size(args.input_bytes), args.partitions, args.target_hours, a)
    if args.json:
        print(json.dumps({"plan": plan.to_dict(), "assumptions": asdict(a)}, indent=2))
        return 0
    rows = [
        ("input", f"{_bytes(plan.input_bytes)} in {plan.input_splits:,} splits of {_bytes(a.split_bytes)}"),
        ("planning", f"~{plan.input_files:,} input files of {_bytes(a.input_file_bytes)}, listed and fingerprinted "
                     f"in ~{plan.plan_seconds:,.0f} s at {a.plan_s_per_million_files:g} s per million files"),
        ("output", f"{_bytes(plan.output_bytes)} Parquet (x{a.parquet_ratio} of input)"),
        ("files", f"{plan.files:,} ({plan.files_per_partition} per partition x {plan.partitions:,}), "
                  f"~{_bytes(plan.file_bytes)} each"),
        ("shuffle", f"{_bytes(plan.shuffle_bytes)} in ~{plan.write_tasks:,} write tasks"),
        ("glue", f"{plan.glue_calls:,} BatchCreatePartition calls"
                 + (f" (partition projection) + {plan.manifest_puts:,} manifest PUTs" if plan.manifest_puts else "")
                 + f", ~{plan.glue_seconds:.1f} s at {a.glue_latency_ms:g} ms/call, "
                 f"{config.catalog.max_in_flight} in flight, {a.glue_cpu_ms_per_call:g} ms driver CPU/call"),
        ("validation", f"{plan.validation_queries} queries, ~{_bytes(plan.validation_bytes_scanned)} scanned, "
                       f"~${plan.validation_usd:,.2f} at ${a.athena_usd_per_tb:g}/TB"),
        ("compute", f"{plan.core_hours:,.0f} core-hours at {a.mb_per_core_s:g} MB/core/s"),
        ("cluster", f"{plan.nodes:,} x {a.vcpus_per_node}-vCPU core nodes for {plan.target_hours:g} h, "
                    f"~${plan.cluster_usd:,.0f} at ${a.node_usd_per_hour}/node-hour"),
    ]  # fmt: skip
    print(f"plan for {table.database}.{table.name} (assumptions: lakeloader.plan.Assumptions, docs/scale.md)")
    print(_table([("", ""), *rows]).split("\n", 2)[2])
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    """`lakeloader sample`."""
    from lakeloader.sample import generate

    try:
        stats = generate(args.out, rows=args.rows, files=args.files, bad_rows=args.bad_rows, seed=args.seed)
    except ValueError as e:
        raise UsageError(f"sample: {e}") from None
    print(f"wrote {stats.rows} rows (+{stats.bad_rows} malformed) in {stats.files} files to {args.out}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    """`lakeloader history`."""
    from lakeloader import manifest as manifests
    from lakeloader.catalog import open_catalog

    config = _load(args)
    table = config.table(args.table)
    runs, total = manifests.newest(config.admin_location(table), args.limit, config.aws)
    live = {p["StorageDescriptor"]["Location"] for p in open_catalog(config).get_partitions(table.database, table.name)}
    rows = [("run", "created (UTC)", "mode", "status", "partitions", "live", "rows", "bad", "audit")]
    for m in runs:
        audit = "-" if m.audit is None else ("pass" if m.audit.get("passed") else "FAIL")
        rows.append((
            m.run_id, m.created_at[:19].replace("T", " "), m.mode, m.status, str(len(m.partitions)),
            str(sum(p.location in live for p in m.partitions)), str(m.rows_written), str(m.bad_rows), audit,
        ))  # fmt: skip
    shown = f"the newest {len(runs)} of {total} runs" if len(runs) < total else f"{total} runs"
    print(f"history of {table.database}.{table.name} ({shown}, newest first)")
    print(_table(rows))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    """`lakeloader rollback`."""
    from lakeloader.catalog import open_catalog
    from lakeloader.versions import rollback

    config = _load(args)
    table = config.table(args.table)
    record = rollback(config.admin_location(table), open_catalog(config), table, args.to, config.aws)
    print(f"{table.database}.{table.name} rolled back to {args.to}: {len(record.partitions)} partitions, "
          f"{record.rows_written} rows (recorded as {record.run_id})")  # fmt: skip
    return 0


COMMANDS = {
    "run": cmd_run,
    "backfill": cmd_backfill,
    "validate": cmd_validate,
    "export": cmd_export,
    "query": cmd_query,
    "history": cmd_history,
    "rollback": cmd_rollback,
    "plan": cmd_plan,
    "sample": cmd_sample,
    "deploy-step": cmd_deploy_step,
    "schedule": cmd_schedule,
}


# --------------------------------------------------------------------------- formatting


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


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, r in enumerate(rows):
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


if __name__ == "__main__":
    sys.exit(main())
