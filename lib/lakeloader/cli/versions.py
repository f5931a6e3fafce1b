"""`lakeloader history`, `rollback` and `vacuum`: a table's runs, going back to one, removing superseded ones."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from typing import Any

from lakeloader.cli.format import text_table
from lakeloader.cli.run import load_args

log = logging.getLogger("lakeloader")
SHOWN = 50  # locations a vacuum summary lists by name


def cmd_history(args: argparse.Namespace) -> int:
    """`lakeloader history`."""
    from lakeloader import manifest as manifests
    from lakeloader.catalog import open_catalog

    config = load_args(args)
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
    print(text_table(rows))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    """`lakeloader rollback`."""
    from lakeloader import retention
    from lakeloader.catalog import open_catalog
    from lakeloader.lock import table_lock
    from lakeloader.versions import rollback

    config = load_args(args)
    table = config.table(args.table)
    admin, catalog = config.admin_location(table), open_catalog(config)
    # Under the table's lock, like a run: a rollback flipping partitions while a run publishes would leave
    # neither's state, and a vacuum between its checks and its flip could delete what it points back to.
    owner = f"rollback-{retention.utcnow():%Y%m%dT%H%M%S}"
    with table_lock(catalog, table.database, table.name, owner, admin, config.lock):
        record = rollback(admin, catalog, table, args.to, config.aws)
    print(f"{table.database}.{table.name} rolled back to {args.to}: {len(record.partitions)} partitions, "
          f"{record.rows_written} rows (recorded as {record.run_id})")  # fmt: skip
    return 0


def cmd_vacuum(args: argparse.Namespace) -> int:
    """`lakeloader vacuum`."""
    from lakeloader import retention
    from lakeloader import state as table_state
    from lakeloader.catalog import open_catalog
    from lakeloader.errors import UsageError
    from lakeloader.lock import table_lock

    config = load_args(args)
    table = config.table(args.table)
    name = f"{table.database}.{table.name}"
    if table.format == "delta":
        raise UsageError(
            f"{name} is format: delta: Delta keeps the files a commit removed until Delta's own VACUUM "
            "(delta.deletedFileRetentionDuration, 7 days by default); lakeloader vacuum is for Parquet tables"
        )
    admin, aws, catalog = config.admin_location(table), config.aws, open_catalog(config)
    now = retention.utcnow()
    log.info("vacuum of %s: versions unreferenced for %s or longer", name, table.retain_for)
    current, _ = table_state.current(admin, table.retain_versions, aws)
    if args.dry_run or not (current.pending or current.unpruned):  # only reads: no lock, nothing saved or deleted
        due = retention.prune(current, admin, table, catalog, aws, now, dry_run=True)
    else:
        with table_lock(catalog, table.database, table.name, f"vacuum-{now:%Y%m%dT%H%M%S}", admin, config.lock):
            current, _ = table_state.current(admin, table.retain_versions, aws)  # as the last run left it
            due = retention.prune(current, admin, table, catalog, aws, now)
    print(render_vacuum(name, due, table.retain_for, args.dry_run, now))
    return 0


def render_vacuum(name: str, due: Any, retain_for: Any, dry_run: bool, now: dt.datetime) -> str:  # noqa: ANN401
    """The summary of a vacuum: what was (would be) removed, what waits and until when, what was kept live."""
    verb = "would remove" if dry_run else "removed"
    lines = [f"vacuum of {name}: {verb} {len(due.doomed)} superseded versions (retain_for {retain_for})"]
    lines += [f"  {verb:<12} {loc}" for loc in due.doomed[:SHOWN]]
    if len(due.doomed) > SHOWN:
        lines.append(f"  ... and {len(due.doomed) - SHOWN} more")
    if due.waiting:
        wait = due.next_due - now
        lines.append(
            f"  waiting      {due.waiting} versions unreferenced for less than {retain_for} "
            f"(the first is due in {int(wait.total_seconds() // 60)} min, at {due.next_due:%Y-%m-%d %H:%M} UTC)"
        )
    if due.live:
        lines.append(f"  kept         {len(due.live)} due versions a catalog partition points to again")
    if not (due.doomed or due.waiting or due.live):
        lines.append("  nothing superseded is waiting: the table location holds only live and retained versions")
    return "\n".join(lines)
