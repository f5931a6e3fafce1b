"""`lakeloader history` and `lakeloader rollback`: a table's runs, and going back to one."""

from __future__ import annotations

import argparse

from lakeloader.cli.format import text_table
from lakeloader.cli.run import load_args


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
    from lakeloader.catalog import open_catalog
    from lakeloader.versions import rollback

    config = load_args(args)
    table = config.table(args.table)
    record = rollback(config.admin_location(table), open_catalog(config), table, args.to, config.aws)
    print(f"{table.database}.{table.name} rolled back to {args.to}: {len(record.partitions)} partitions, "
          f"{record.rows_written} rows (recorded as {record.run_id})")  # fmt: skip
    return 0
