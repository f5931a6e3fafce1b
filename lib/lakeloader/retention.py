"""Deleting superseded versions only once no reader can still be on them (`retain_for`).

A publish flips the catalog; a query that planned its splits on the old location before the flip
(Athena's DML timeout is 30 minutes, a Spark job's can be hours) still opens those files. So a
version that falls out of `retain_versions`' window is not deleted at once: the state object records
it in `pending` with the time, and the table's next run (whatever its outcome) or `lakeloader
vacuum` deletes it once it has waited `retain_for`. Nothing a catalog partition points to is ever
deleted, whatever the state says (a rollback can make a pending version live again).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Optional

from lakeloader import state as table_state
from lakeloader import storage
from lakeloader.catalog.base import Catalog
from lakeloader.config import AwsConfig, TableConfig
from lakeloader.state import TableState

log = logging.getLogger(__name__)


def utcnow() -> dt.datetime:
    """The clock retention reads (tests replace it rather than sleep)."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Due:
    state: TableState  # the state to save before deleting `doomed`
    doomed: tuple[str, ...]  # unreferenced for at least retain_for: delete now
    live: tuple[str, ...]  # were due, but a catalog partition points there: kept
    again: tuple[str, ...]  # an earlier prune's list, deleted again in case it died midway (not live)
    waiting: int  # pending, not due yet
    next_due: Optional[dt.datetime]  # when the first of those becomes due


def due(state: TableState, table: TableConfig, catalog: Catalog, now: dt.datetime) -> Due:
    """What of `pending` is due at `now`; reads the catalog (only when something is) to never doom a live one."""
    wait = dt.timedelta(seconds=table.retain_for_s)
    ends = {loc: dt.datetime.fromisoformat(since) + wait for loc, since in state.pending}
    ripe = [loc for loc, end in ends.items() if end <= now]
    live: set[str] = set()
    if ripe or state.unpruned:
        live = {p["StorageDescriptor"]["Location"] for p in catalog.get_partitions(table.database, table.name)}
    doomed = tuple(loc for loc in ripe if loc not in live)
    later = [end for end in ends.values() if end > now]
    after = state
    if doomed or state.unpruned:
        # The crash-safety list: deleted again by the next prune if this one dies midway.
        gone = set(doomed)
        after = replace(state, pending=tuple(p for p in state.pending if p[0] not in gone), unpruned=doomed)
    kept = tuple(loc for loc in ripe if loc in live)
    again = tuple(loc for loc in state.unpruned if loc not in live)
    return Due(after, doomed, kept, again, len(later), min(later, default=None))


def remove(locations: Sequence[str], aws: Optional[AwsConfig], progress_s: float = 10.0) -> None:
    """Delete version directories, logging progress on long lists."""
    t = last = time.monotonic()
    for i, loc in enumerate(locations, 1):
        storage.delete_dir(loc, aws)
        if time.monotonic() - last >= progress_s and i < len(locations):
            last = time.monotonic()
            log.info("removed %d of %d superseded versions (%.0f s)", i, len(locations), last - t)
    if locations:
        log.info("removed %d superseded versions in %.1f s", len(locations), time.monotonic() - t)


def prune(
    state: TableState,
    admin: str,
    table: TableConfig,
    catalog: Catalog,
    aws: Optional[AwsConfig],
    now: Optional[dt.datetime] = None,
    dry_run: bool = False,
    unsaved: bool = False,
) -> Due:
    """Delete the pending versions that have waited retain_for, the state saved first; dry_run: only say which.

    `unsaved`: `state` is the caller's new state, saved even when nothing is due.
    """
    d = due(state, table, catalog, now or utcnow())
    if d.live:
        log.warning("kept %d due versions a catalog partition still points to: %s", len(d.live), d.live[0])
    if dry_run or (d.state is state and not unsaved):
        return d
    table_state.save(d.state, admin, aws)
    remove(sorted(set(d.doomed) | set(d.again)), aws)
    return d
