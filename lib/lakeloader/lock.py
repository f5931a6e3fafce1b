"""One writer at a time per table, with a lock kept in the catalog itself.

The lock is a table `<table>__lakeloader_lock` in the same database: creating a table is atomic in
both SQLite and Glue (AlreadyExists), so exactly one run wins. It records who holds it and until
when; a holder whose process is gone (same host) or whose lease expired is taken over.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Optional

from lakeloader.catalog.base import Catalog
from lakeloader.config import LockConfig
from lakeloader.errors import LockedError, TableExistsError

log = logging.getLogger(__name__)
LOCK_SUFFIX = "__lakeloader_lock"


def lock_table_name(table: str) -> str:
    """The lock table's name for a table."""
    return f"{table}{LOCK_SUFFIX}"


def _holder_gone(params: dict[str, str], now: float) -> Optional[str]:
    """Why a lock may be taken over, or None while its holder may still be running."""
    if float(params.get("lakeloader.expires_at", "0")) < now:
        return "its lease expired"
    if params.get("lakeloader.host") == socket.gethostname():
        try:
            os.kill(int(params.get("lakeloader.pid", "0")), 0)
        except ProcessLookupError:
            return "its process is gone"
        except (PermissionError, ValueError):
            pass
    return None


@contextmanager
def table_lock(
    catalog: Catalog,
    database: str,
    table: str,
    owner: str,
    location: str,
    cfg: LockConfig,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold the table's lock for the block; LockedError when another run keeps it past `cfg.wait_s`."""
    name = lock_table_name(table)
    deadline = clock() + cfg.wait_s
    delay = 0.5
    catalog.ensure_database(database)
    while True:
        now = clock()
        params = {
            "lakeloader.owner": owner,
            "lakeloader.host": socket.gethostname(),
            "lakeloader.pid": str(os.getpid()),
            "lakeloader.since": dt.datetime.fromtimestamp(now, dt.timezone.utc).isoformat(timespec="seconds"),
            "lakeloader.expires_at": str(now + cfg.ttl_s),
        }
        body = {
            "Name": name,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": params,
            "StorageDescriptor": {"Columns": [], "Location": location},
            "PartitionKeys": [],
        }
        try:
            catalog.create_table(database, body)
            break
        except TableExistsError:
            current = catalog.get_table(database, name)
            if current is None:
                continue  # released between our create and our read
            held = current.get("Parameters", {})
            why = _holder_gone(held, now)
            if why:
                log.warning(
                    "taking over the lock of %s.%s from %s: %s", database, table, held.get("lakeloader.owner"), why
                )
                catalog.delete_table(database, name)
                continue
            if now >= deadline:
                raise LockedError(
                    f"{database}.{table} is being loaded by run {held.get('lakeloader.owner')} "
                    f"(host {held.get('lakeloader.host')}, pid {held.get('lakeloader.pid')}, since "
                    f"{held.get('lakeloader.since')}); retry later, or raise lock.wait_s to wait for it"
                ) from None
            log.info("waiting for the lock of %s.%s held by %s", database, table, held.get("lakeloader.owner"))
            sleep(min(delay, max(0.0, deadline - now)) * random.uniform(0.8, 1.2))
            delay = min(delay * 2, 15.0)
    try:
        yield
    finally:
        current = catalog.get_table(database, name)
        if current is not None and current.get("Parameters", {}).get("lakeloader.owner") == owner:
            catalog.delete_table(database, name)
