"""`lakeloader run` and `lakeloader validate`: load a table, check it."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import time
import uuid
from contextlib import ExitStack
from typing import Any

from lakeloader.cli.format import human_bytes, render_report, text_table
from lakeloader.cli.output import check_destination, write_text
from lakeloader.config import Config, load_config, source_input
from lakeloader.errors import ChecksFailed, UsageError

log = logging.getLogger("lakeloader")


def load_args(args: argparse.Namespace) -> Config:
    return load_config(args.config, args.set)


def cmd_run(args: argparse.Namespace) -> int:
    """`lakeloader run`."""
    from lakeloader.pipeline import RunOptions, run_table
    from lakeloader.session import build_session

    config = load_args(args)
    if args.table is None:
        return _run_tables(args, config)
    table = config.table(args.table)  # fail on a wrong table name before starting a JVM
    run_date = args.run_date or dt.datetime.now(dt.UTC).date()
    source_input(table.source, args.input, run_date)  # and on a bad --input template
    t = time.monotonic()
    spark = build_session(f"lakeloader-{args.table}", config.spark, verbose=args.verbose)
    opts = RunOptions(
        run_date=run_date,
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
    run_date = args.run_date or dt.datetime.now(dt.UTC).date()
    items = [batch.Item(name, run_date) for name in names]
    results = _run_batch(args, config, items, "run", f"lakeloader-{len(items)}-tables")
    return _report_batch(f"lakeloader run of {len(items)} tables for {run_date.isoformat()}", results, True)


def _run_batch(
    args: argparse.Namespace, config: Config, items: list[Any], what: str, app: str, parallel: int = 1
) -> list[Any]:
    """Run the items in one Spark session, each through the ordinary pipeline (its own run id).

    One at a time, each run takes its table's lock; with `parallel` > 1 (one table's dates) the batch
    holds the table's lock for its whole span and the runs publish under it, one at a time.
    """
    from lakeloader import batch
    from lakeloader.hold import hold_table
    from lakeloader.pipeline import RunOptions, run_table
    from lakeloader.session import build_session

    spark = build_session(app, config.spark, verbose=args.verbose)
    with ExitStack() as stack:
        held = None
        if parallel > 1 and not args.dry_run:
            owner = (
                f"{what}-{items[0].table}-{items[0].run_date:%Y%m%d}-{items[-1].run_date:%Y%m%d}-{uuid.uuid4().hex[:8]}"
            )
            held = stack.enter_context(hold_table(config, items[0].table, owner))
            log.info(
                "%s: holding the lock of %s for all %d dates, %d at a time", what, items[0].table, len(items), parallel
            )

        def run_one(item: batch.Item) -> Any:  # noqa: ANN401
            opts = RunOptions(run_date=item.run_date, mode=args.mode, dry_run=args.dry_run)
            return run_table(spark, config, item.table, opts, held=held)

        return batch.run_items(items, run_one, args.keep_going, what, parallel=parallel)


def cmd_backfill(args: argparse.Namespace) -> int:
    """`lakeloader backfill`."""
    from lakeloader import batch

    config = load_args(args)
    table = config.table(args.table)
    if args.parallel < 1:
        raise UsageError(f"--parallel {args.parallel}: run at least 1 date at a time")
    dates = batch.date_range(args.start, args.end, batch.parse_step(args.step))
    items = [batch.Item(args.table, d) for d in dates]
    log.info("backfill of %s: %d run dates from %s to %s", args.table, len(items), dates[0], dates[-1])
    parallel = min(args.parallel, len(items))
    if parallel > 1 and table.format == "delta":  # before the JVM starts
        raise UsageError(
            f"--parallel: {table.database}.{table.name} is a Delta table, whose runs commit to one Delta log "
            "in turn; run its dates with --parallel 1"
        )
    results = _run_batch(args, config, items, "backfill", f"lakeloader-backfill-{args.table}", parallel)
    title = f"lakeloader backfill of {table.database}.{table.name}, {dates[0]} to {dates[-1]} every {args.step}"
    if parallel > 1:
        title += f", {parallel} at a time"
    return _report_batch(title, results, False)


def _report_batch(title: str, results: list[Any], by_table: bool) -> int:
    """Print a batch's summary table and totals; the worst item's exit code."""
    from lakeloader import batch

    print(title)
    print(text_table(batch.summary_rows(results, by_table)))
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
    lines.append(f"  input      {m.input_uri}  ({m.input_files} files, {human_bytes(m.input_bytes)})")
    if summary.outcome != "dry-run":
        p = summary.published
        parts = f"{len(m.partitions)}" + (
            f" ({p.created} new, {p.replaced} replaced, {p.removed} removed)" if p else ""
        )
        lines.append(f"  partitions {parts}")
        lines.append(f"  files      {m.files}  ({human_bytes(m.bytes)})")
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
        check_destination(args.report, "--report")  # before the queries, not after them
    config = load_args(args)
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
        write_text(args.report, json.dumps(report.to_dict(), indent=2) + "\n", config, "--report")
        log.info("wrote the validation report to %s", args.report)
    if report.failed:
        raise ChecksFailed(f"{report.table}: {report.failure_summary()}")
    return 0
