"""Table versions: rollback, removing abandoned attempts, and the state as of a run from the manifests.

The manifests of published runs, in order, are the table's history: each run sets the location of
the partitions it wrote; an `overwrite` run (or a rollback) replaces the whole set. Day to day the
state object (state.py) holds the result of that fold; replaying the manifests is only for tables
and runs from before it existed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Optional

from lakeloader import manifest as manifests
from lakeloader import retention, storage
from lakeloader import state as table_state
from lakeloader.catalog.base import Catalog
from lakeloader.catalog.tables import partition_input
from lakeloader.config import AwsConfig, TableConfig
from lakeloader.errors import UsageError
from lakeloader.manifest import Manifest, PartitionStats

log = logging.getLogger(__name__)
Key = tuple[str, ...]


def published(history: Sequence[Manifest]) -> list[Manifest]:
    """The runs that changed the table, oldest first."""
    return [m for m in history if m.status == "published"]


def state_as_of(history: Sequence[Manifest], run_id: Optional[str] = None) -> dict[Key, PartitionStats]:
    """Partition -> version the table had right after `run_id` was published (default: now)."""
    state: dict[Key, PartitionStats] = {}
    runs = published(history)
    if run_id is not None and run_id not in {m.run_id for m in runs}:
        raise UsageError(f"run {run_id!r} was never published for this table (see `lakeloader history`)")
    for m in runs:
        if m.mode in ("overwrite", "rollback"):
            state = {}
        state.update({tuple(p.values): p for p in m.partitions})
        if m.run_id == run_id:
            break
    return state


def remove_abandoned_attempts(
    root: str, run_id: str, attempt: int, catalog: Catalog, table: TableConfig, aws: Optional[AwsConfig]
) -> int:
    """Delete what earlier, killed attempts of a run wrote (never a live version); returns the count."""
    if attempt <= 1:
        return 0
    names = {f"_v={run_id}"} | {f"_v={run_id}.{k}" for k in range(2, attempt)}
    live = {p["StorageDescriptor"]["Location"] for p in catalog.get_partitions(table.database, table.name)}
    doomed = [d for d in storage.find_dirs(root, names, aws) if d not in live]
    for d in doomed:
        storage.delete_dir(d, aws)
    if doomed:
        log.info("removed %d directories left by earlier attempts of run %s", len(doomed), run_id)
    return len(doomed)


def rollback(admin: str, catalog: Catalog, table: TableConfig, to_run: str, aws: Optional[AwsConfig]) -> Manifest:
    """Point the catalog back at the table's state as of `to_run`; recorded as a run of its own.

    Reads the state snapshot `to_run`'s publish left (runs from before snapshots: the manifests).
    """
    current, _ = table_state.current(admin, table.retain_versions, aws)
    snapshot = table_state.load(admin, aws, as_of=to_run)
    if snapshot is not None:
        target = {tuple(p.values): p for p in snapshot.live}
    else:
        target = state_as_of(manifests.history(admin, aws), to_run)
    # A version beyond retain_versions may still be on disk, waiting out retain_for: it is not a rollback
    # target, since the next run or vacuum deletes it (the catalog check there is for crashes, not races).
    leaving = {loc for loc, _ in current.pending} | set(current.unpruned)
    missing = [
        p
        for p in target.values()
        if p.location in leaving or not storage.list_files(p.location, aws, suffix=".parquet")
    ]
    if missing:
        p = missing[0]
        raise UsageError(
            f"cannot roll back to {to_run}: its version of partition {'/'.join(p.values)} was removed "
            f"({len(missing)} partitions missing; retain_versions is {table.retain_versions}); nothing changed"
        )
    meta = catalog.get_table(table.database, table.name)
    if meta is None:
        raise UsageError(f"table {table.database}.{table.name} is not in the catalog")
    source = manifests.load(admin, to_run, aws)
    if source is None:
        raise UsageError(f"run {to_run!r}: its manifest is gone from {manifests.manifest_uri(admin, to_run)}")
    columns = meta["StorageDescriptor"]["Columns"]
    live = {tuple(p["Values"]) for p in catalog.get_partitions(table.database, table.name)}
    catalog.put_partitions(
        table.database,
        table.name,
        [partition_input(p.values, p.location, columns, {"lakeloader.run_id": to_run}) for p in target.values()],
    )
    catalog.delete_partitions(table.database, table.name, [list(v) for v in live - set(target)])
    now = retention.utcnow()
    record = replace(
        source,
        run_id=f"rollback-to-{to_run}-{now:%Y%m%dT%H%M%S}",
        mode="rollback",
        status="published",
        partitions=list(target.values()),
        rows_written=sum(p.rows for p in target.values()),
        created_at=now.isoformat(),
        audit=None,
    )
    after = table_state.advance(current, record, table.retain_versions, now.isoformat())
    retention.prune(after, admin, table, catalog, aws, now, unsaved=True)  # never what the catalog points to
    manifests.save(record, admin, aws)
    log.info("rolled %s.%s back to %s (%d partitions)", table.database, table.name, to_run, len(target))
    return record
