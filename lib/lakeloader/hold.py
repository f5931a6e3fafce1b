"""A batch's hold on one table's lock for its whole span, so its runs can overlap (`backfill --parallel`).

Runs of one table normally take the table's lock one after the other. A parallel backfill takes it
once instead, renews it for as long as the backfill lasts, and hands it to every date's run
(`run_table(..., held=...)`): one run's planning, audit and publish overlap another's write; writes
take turns (one committer scratch directory per table root), and so do publishes (audit, catalog
change, state object), under the batch's lease.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from lakeloader import storage
from lakeloader.catalog import open_catalog
from lakeloader.config import Config
from lakeloader.lock import SharedLock, table_lock

log = logging.getLogger(__name__)


@contextmanager
def hold_table(config: Config, table_name: str, owner: str) -> Iterator[SharedLock]:
    """Hold the table's lock (renewed) for the block; LockedError when another run holds it."""
    table = config.table(table_name)
    root, aws = config.table_location(table), config.aws
    catalog = open_catalog(config)
    with table_lock(catalog, table.database, table.name, owner, config.admin_location(table), config.lock) as lease:
        # What a killed run left; done once here, as each run does when it holds the lock alone.
        if aborted := storage.clear_interrupted_write(root, aws):
            log.info("aborted %d multipart uploads an interrupted write left under %s", aborted, root)
        yield SharedLock(lease)
