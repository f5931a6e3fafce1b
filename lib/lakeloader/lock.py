"""One writer at a time per table, with a leased lock kept in the catalog itself.

The lock is a table `<table>__lakeloader_lock` in the same database. Every change to it is one atomic
create, which SQLite and Glue (and moto) both enforce with AlreadyExists, so of several runs racing for
the same step exactly one wins:

- taking a free lock creates the table; its Parameters are the holder's record (slot 0);
- renewing a lease, or taking over a stale one, creates the partition `(incarnation, slot + 1)` holding
  the new record. The holder is whoever wrote the highest slot. A takeover and a renewal of one slot
  race for the same partition, so a stalled holder that wakes up cannot overwrite its successor: its
  renewal fails and it knows it lost the lock (it is *fenced*).

Glue's UpdateTable with a VersionId would also be a conditional step, but moto ignores the VersionId,
so the tests could not prove it; creates behave the same everywhere. `incarnation` (a random id set when
the table is created) keeps a stray write of a stalled run out of a lock table created after its own
was released.

While a run holds the lock a daemon thread renews the lease every third of `lock.ttl_s`; `Lease.check()`
(called by publish before each catalog change) raises FencedError once the lease ran out or is held by
someone else.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Optional

from lakeloader import retry
from lakeloader.catalog.base import Catalog
from lakeloader.config import LockConfig
from lakeloader.errors import CatalogError, FencedError, LockedError, PartitionExistsError, TableExistsError
from lakeloader.retry import Backoff

log = logging.getLogger(__name__)
LOCK_SUFFIX = "__lakeloader_lock"
RENEWALS_PER_TTL = 3  # a renewal may fail twice (a catalog hiccup) before the lease runs out
_KEYS = [{"Name": "incarnation", "Type": "string"}, {"Name": "slot", "Type": "string"}]


def lock_table_name(table: str) -> str:
    """The lock table's name for a table."""
    return f"{table}{LOCK_SUFFIX}"


@dataclass(frozen=True)
class Holder:
    """The lock's current record: who holds it and at which slot of which incarnation of the lock table."""

    incarnation: str
    slot: int
    params: dict[str, str]

    @property
    def token(self) -> str:
        return self.params.get("lakeloader.token", "")


def read_holder(catalog: Catalog, database: str, table: str) -> Optional[Holder]:
    """The lock's current holder, or None when the table is not locked."""
    name = lock_table_name(table)
    found = catalog.get_table(database, name)
    if found is None:
        return None
    params = found.get("Parameters", {})
    incarnation = params.get("lakeloader.incarnation", "")
    best = Holder(incarnation, 0, params)
    if not incarnation:  # a lock left by a lakeloader before leases: no slots
        return best
    for p in catalog.get_partitions(database, name):
        values = p.get("Values", [])
        if len(values) == 2 and values[0] == incarnation and int(values[1]) > best.slot:
            best = Holder(incarnation, int(values[1]), p.get("Parameters", {}))
    return best


def _wrote_it(catalog: Catalog, database: str, table: str, token: str, slot: int) -> bool:
    """After AlreadyExists on our create of `slot`: True when the slot is ours all the same.

    botocore retries a call whose answer was lost (a reset connection, a 5xx); the retry of a create
    that had succeeded then finds its own partition.
    """
    current = read_holder(catalog, database, table)
    return current is not None and current.slot == slot and current.token == token


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


def _slot_partition(incarnation: str, slot: int, params: dict[str, str], location: str) -> dict:
    return {"Values": [incarnation, f"{slot:012d}"], "Parameters": params,
            "StorageDescriptor": {"Columns": [], "Location": location}}  # fmt: skip


class Lease:
    """A held lock: renewed by `renew()`, checked by `check()` before each change a holder makes."""

    def __init__(self, catalog: Catalog, database: str, table: str, owner: str, location: str, cfg: LockConfig,
                 clock: Callable[[], float]) -> None:  # fmt: skip
        self.catalog, self.database, self.table, self.owner = catalog, database, table, owner
        self.location, self.ttl_s, self.clock = location, cfg.ttl_s, clock
        self.token = uuid.uuid4().hex
        self.incarnation = ""
        self.slot = 0
        self.expires_at = 0.0  # by our own clock, from just before the record that set it was written
        self.fenced: Optional[str] = None
        self.since: Optional[float] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def record(self, now: float) -> dict[str, str]:
        """The lock's parameters for this holder, valid for one lease from `now`."""
        self.since = self.since or now
        return {
            "lakeloader.owner": self.owner,
            "lakeloader.token": self.token,
            "lakeloader.host": socket.gethostname(),
            "lakeloader.pid": str(os.getpid()),
            "lakeloader.since": dt.datetime.fromtimestamp(self.since, dt.UTC).isoformat(timespec="seconds"),
            "lakeloader.expires_at": str(now + self.ttl_s),
        }

    def _lost(self, why: str) -> FencedError:
        self.fenced = self.fenced or why
        return FencedError(
            f"{self.database}.{self.table}: run {self.owner} no longer holds the table's lock ({self.fenced}); "
            "nothing more was published by it; rerun it"
        )

    def check(self) -> None:
        """FencedError unless this run still holds the lock, by its own clock and by the catalog."""
        if self.fenced:
            raise self._lost(self.fenced)
        if self.clock() >= self.expires_at:
            raise self._lost(f"its lease ran out at {self.expires_at:.0f} without a renewal")
        current = read_holder(self.catalog, self.database, self.table)
        if current is None or current.token != self.token:
            who = current.params.get("lakeloader.owner") if current else "nobody"
            raise self._lost(f"it is held by {who} now")

    def renew(self) -> None:
        """Extend the lease by one `ttl_s`; FencedError when the lock is no longer ours."""
        self.check()
        now = self.clock()
        part = _slot_partition(self.incarnation, self.slot + 1, self.record(now), self.location)
        try:
            self.catalog.create_partition(self.database, lock_table_name(self.table), part)
        except PartitionExistsError:
            if not _wrote_it(self.catalog, self.database, self.table, self.token, self.slot + 1):
                raise self._lost("another run took it over") from None
        except CatalogError:
            if read_holder(self.catalog, self.database, self.table) is None:
                raise self._lost("its lock table is gone") from None
            raise
        old, self.slot, self.expires_at = self.slot, self.slot + 1, now + self.ttl_s
        try:  # keep the lock table small; a leftover slot below ours changes nothing
            if old:  # slot 0 is the table's own parameters
                self.catalog.delete_partitions(
                    self.database, lock_table_name(self.table), [[self.incarnation, f"{old:012d}"]]
                )
        except CatalogError as e:
            log.debug("could not drop old lease slots of %s.%s: %s", self.database, self.table, e)

    def start_renewing(self) -> None:
        """Renew in a daemon thread every `ttl_s / RENEWALS_PER_TTL` until `stop_renewing`."""
        self._thread = threading.Thread(target=self._renew_loop, name=f"lease-{self.table}", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        interval = self.ttl_s / RENEWALS_PER_TTL
        while not self._stop.wait(interval):
            try:
                self.renew()
                log.debug("renewed the lease of %s.%s (slot %d)", self.database, self.table, self.slot)
            except FencedError as e:
                log.error("%s", e)
                return
            except Exception as e:  # a failed renewal is retried; check() fences once the lease runs out
                log.warning("renewing the lease of %s.%s failed (retrying): %s", self.database, self.table, e)

    def stop_renewing(self) -> None:
        """Stop the renewal thread (waits for a renewal in flight)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def release(self) -> None:
        """Drop the lock table if the lock is still ours and our lease has not run out.

        After our lease ran out another run may be taking over at this moment: its new slot would
        vanish with the table, so an expired lock is left for the next run to take over instead.
        """
        self.stop_renewing()
        if self.fenced or self.clock() >= self.expires_at:
            return
        current = read_holder(self.catalog, self.database, self.table)
        if current is not None and current.token == self.token:
            self.catalog.delete_table(self.database, lock_table_name(self.table))


def acquire(
    catalog: Catalog,
    database: str,
    table: str,
    owner: str,
    location: str,
    cfg: LockConfig,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Lease:
    """Take the table's lock (waiting up to `cfg.wait_s`); LockedError when another run keeps it."""
    lease = Lease(catalog, database, table, owner, location, cfg, clock)
    catalog.ensure_database(database)
    wait = Backoff(initial_s=0.5, max_s=15.0, jitter=0.2, timeout_s=cfg.wait_s, sleep=sleep, clock=clock)
    for _ in retry.attempts(wait):
        held = _try_once(catalog, database, lease)
        if held is None:
            return lease
        log.info("waiting for the lock of %s.%s held by %s", database, table, held.params.get("lakeloader.owner"))
    raise LockedError(
        f"{database}.{table} is being loaded by run {held.params.get('lakeloader.owner')} "
        f"(host {held.params.get('lakeloader.host')}, pid {held.params.get('lakeloader.pid')}, since "
        f"{held.params.get('lakeloader.since')}); retry later, or raise lock.wait_s to wait for it"
    )


def _try_once(catalog: Catalog, database: str, lease: Lease) -> Optional[Holder]:
    """Take the lock if it is free or stale: None when it is ours now, else its live holder."""
    name = lock_table_name(lease.table)
    while True:  # each pass ends in ours, a live holder, or a change another run just made: look again
        now = lease.clock()
        incarnation = uuid.uuid4().hex[:16]
        body = {
            "Name": name,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {**lease.record(now), "lakeloader.incarnation": incarnation},
            "StorageDescriptor": {"Columns": [], "Location": lease.location},
            "PartitionKeys": _KEYS,
        }
        try:
            catalog.create_table(database, body)
            lease.incarnation, lease.slot, lease.expires_at = incarnation, 0, now + lease.ttl_s
            return None
        except TableExistsError:
            pass
        held = read_holder(catalog, database, lease.table)
        if held is None:
            continue  # released between our create and our read
        if held.token == lease.token:  # our create succeeded, its answer was lost and botocore retried it
            lease.incarnation, lease.slot, lease.expires_at = held.incarnation, held.slot, now + lease.ttl_s
            return None
        why = _holder_gone(held.params, now)
        if not why:
            return held
        if _take_over(catalog, database, held, lease, now):
            log.warning(
                "took over the lock of %s.%s from %s: %s",
                database, lease.table, held.params.get("lakeloader.owner"), why,
            )  # fmt: skip
            return None


def _take_over(catalog: Catalog, database: str, held: Holder, lease: Lease, now: float) -> bool:
    """The single conditional step of a takeover: create the slot after the stale holder's. True if ours."""
    name = lock_table_name(lease.table)
    if not held.incarnation:  # a lock from before leases has no slots: replaced the old way, once
        catalog.delete_table(database, name)
        return False
    try:
        catalog.create_partition(database, name, _slot_partition(held.incarnation, held.slot + 1, lease.record(now),
                                                                 lease.location))  # fmt: skip
    except PartitionExistsError:
        if not _wrote_it(catalog, database, lease.table, lease.token, held.slot + 1):
            return False
    except CatalogError:
        if catalog.get_table(database, name) is None:
            return False
        raise
    lease.incarnation, lease.slot, lease.expires_at = held.incarnation, held.slot + 1, now + lease.ttl_s
    return True


@dataclass(frozen=True)
class SharedLock:
    """A table's lock held by a batch for all its runs (`backfill --parallel`).

    Its runs publish one at a time (`publishing`), and write one at a time too (`writing`): Spark's file
    committers keep one scratch directory per output root (`_temporary`, `__magic`), which a job's commit
    removes, so two jobs writing into one table root at once would break each other.
    """

    lease: Lease
    publishing: AbstractContextManager = field(default_factory=threading.Lock)
    writing: AbstractContextManager = field(default_factory=threading.Lock)


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
) -> Iterator[Lease]:
    """Hold the table's lock for the block, renewing its lease in the background; yields the Lease.

    LockedError when another run keeps it past `cfg.wait_s`.
    """
    lease = acquire(catalog, database, table, owner, location, cfg, clock, sleep)
    lease.start_renewing()
    try:
        yield lease
    finally:
        lease.release()
