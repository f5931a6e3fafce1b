"""One writer per table: the catalog-held lock, on the local catalog and on Glue (moto)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from conftest import events_table
from lakeloader.catalog.local import LocalCatalog
from lakeloader.config import AwsConfig, LockConfig
from lakeloader.errors import FencedError, LockedError
from lakeloader.lock import acquire, lock_table_name, read_holder, table_lock

LOCATION = "file:///tmp/lakeloader-admin"


@pytest.fixture(params=["local", pytest.param("glue", marks=pytest.mark.aws)])
def catalog(request, tmp_path):
    if request.param == "local":
        return LocalCatalog(str(tmp_path / "c.sqlite"))
    from lakeloader.catalog.glue import GlueCatalog

    return GlueCatalog(AwsConfig(endpoint_url=request.getfixturevalue("moto_endpoint")))


@pytest.fixture
def db():
    return f"db_{uuid.uuid4().hex[:8]}"


def hold(catalog, db, owner: str, **params: str) -> None:
    """Put a lock in place as another run would have left it."""
    base = {
        "lakeloader.owner": owner,
        "lakeloader.host": socket.gethostname(),
        "lakeloader.pid": str(os.getpid()),
        "lakeloader.since": "2026-01-01T00:00:00+00:00",
        "lakeloader.expires_at": "9999999999",
    }
    catalog.ensure_database(db)
    body = {"Name": lock_table_name("events"), "TableType": "EXTERNAL_TABLE", "PartitionKeys": [],
            "Parameters": {**base, **params}, "StorageDescriptor": {"Columns": [], "Location": LOCATION}}  # fmt: skip
    catalog.create_table(db, body)


def test_second_writer_is_refused_naming_the_holder_then_gets_it_after_release(catalog, db):
    with table_lock(catalog, db, "events", "run-a", LOCATION, LockConfig()):
        with pytest.raises(LockedError) as e:
            with table_lock(catalog, db, "events", "run-b", LOCATION, LockConfig()):
                pass
        assert f"{db}.events is being loaded by run run-a" in str(e.value) and e.value.exit_code == 3
    with table_lock(catalog, db, "events", "run-b", LOCATION, LockConfig()):
        assert catalog.get_table(db, lock_table_name("events"))["Parameters"]["lakeloader.owner"] == "run-b"
    assert catalog.get_table(db, lock_table_name("events")) is None


def test_lock_of_a_dead_process_or_an_expired_lease_is_taken_over(catalog, db):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    hold(catalog, db, "crashed", **{"lakeloader.pid": dead.stdout.strip()})
    with table_lock(catalog, db, "events", "run-b", LOCATION, LockConfig()):
        pass
    hold(catalog, db, "slow", **{"lakeloader.host": "another-host", "lakeloader.expires_at": "1"})
    with table_lock(catalog, db, "events", "run-c", LOCATION, LockConfig()):
        pass


def test_waits_up_to_wait_s_for_the_holder(catalog, db):
    hold(catalog, db, "run-a", **{"lakeloader.host": "another-host"})
    sleeps = []

    def sleep(seconds):  # the holder finishes while we wait
        sleeps.append(seconds)
        if len(sleeps) == 2:
            catalog.delete_table(db, lock_table_name("events"))

    clock = iter(range(0, 1000, 1)).__next__
    with table_lock(catalog, db, "events", "run-b", LOCATION, LockConfig(wait_s=60), clock=clock, sleep=sleep):
        pass
    assert len(sleeps) == 2
    hold(catalog, db, "run-a", **{"lakeloader.host": "another-host"})
    with pytest.raises(LockedError):
        with table_lock(catalog, db, "events", "run-b", LOCATION, LockConfig(wait_s=3), clock=clock, sleep=sleep):
            pass


def test_release_never_removes_another_runs_lock(catalog, db):
    with table_lock(catalog, db, "events", "run-a", LOCATION, LockConfig()):
        catalog.delete_table(db, lock_table_name("events"))  # e.g. taken over after our lease expired
        hold(catalog, db, "run-b")
    assert catalog.get_table(db, lock_table_name("events"))["Parameters"]["lakeloader.owner"] == "run-b"


def test_a_stalled_holder_is_taken_over_then_fenced_and_its_release_keeps_the_new_lock(catalog, db):
    now = [1000.0]
    clock = lambda: now[0]  # noqa: E731
    stalled = acquire(catalog, db, "events", "run-a", LOCATION, LockConfig(ttl_s=10), clock=clock)
    stalled.check()  # holds it while its lease runs
    now[0] += 11  # run-a stalls past its lease (no renewal ran)
    with table_lock(catalog, db, "events", "run-b", LOCATION, LockConfig(ttl_s=10), clock=clock) as taker:
        taker.check()
        with pytest.raises(FencedError) as e:
            stalled.check()  # run-a resumes: before any catalog change it finds the lock gone
        assert "run run-a no longer holds the table's lock" in str(e.value) and e.value.exit_code == 3
        with pytest.raises(FencedError):
            stalled.renew()
        stalled.release()
        assert read_holder(catalog, db, "events").token == taker.token
    assert catalog.get_table(db, lock_table_name("events")) is None


def test_a_renewal_that_loses_the_race_to_a_takeover_fences_the_holder(catalog, db):
    now = [1000.0]
    clock = lambda: now[0]  # noqa: E731
    holder = acquire(catalog, db, "events", "run-a", LOCATION, LockConfig(ttl_s=10), clock=clock)
    holder.renew()
    now[0] += 11
    taker = acquire(catalog, db, "events", "run-b", LOCATION, LockConfig(ttl_s=10), clock=clock)
    holder.expires_at = now[0] + 5  # its own clock says it still holds: the catalog decides
    with pytest.raises(FencedError, match="held by run-b"):
        holder.renew()
    assert read_holder(catalog, db, "events").token == taker.token and taker.slot == holder.slot + 1


def test_a_healthy_run_longer_than_its_lease_is_never_taken_over(catalog, db):
    cfg = LockConfig(ttl_s=0.9)  # renewed every 0.3 s
    refused = 0
    with table_lock(catalog, db, "events", "long-run", LOCATION, cfg) as lease:
        deadline = time.monotonic() + 3 * cfg.ttl_s
        while time.monotonic() < deadline:
            with pytest.raises(LockedError) as e:
                acquire(catalog, db, "events", "intruder", LOCATION, cfg)
            assert not isinstance(e.value, FencedError) and "being loaded by run long-run" in str(e.value)
            refused += 1
            time.sleep(0.1)
        lease.check()
        assert lease.slot >= 3  # renewed, each renewal a new slot
        assert len(catalog.get_partitions(db, lock_table_name("events"))) <= 2  # old slots dropped
    assert refused >= 3 and catalog.get_table(db, lock_table_name("events")) is None


def _race(args: tuple) -> tuple[str, int]:
    """One contender (in its own process): try to take the stale lock once.

    Contenders start together, and each one's takeover step waits until every contender has reached
    it, so all of them saw the lock stale and make the same conditional create at once: the race the
    lock must decide, forced even on a machine with fewer cores than contenders.
    """
    kind, where, db, start, at_takeover = args
    if kind == "local":
        inner = LocalCatalog(where)
    else:
        from lakeloader.catalog.glue import GlueCatalog

        inner = GlueCatalog(AwsConfig(endpoint_url=where))
    attempts = [0]
    create = inner.create_partition

    def gated(*a, **k):
        attempts[0] += 1
        if attempts[0] == 1:
            at_takeover.wait(timeout=60)
        return create(*a, **k)

    inner.create_partition = gated
    start.wait(timeout=60)
    try:
        lease = acquire(inner, db, "events", f"run-{os.getpid()}", LOCATION, LockConfig(ttl_s=600))
    except LockedError:
        return "", attempts[0]
    return lease.token, attempts[0]


@pytest.mark.parametrize("kind", ["local", pytest.param("glue", marks=pytest.mark.aws)])
def test_processes_racing_for_one_stale_lock_exactly_one_wins_every_time(kind, tmp_path, request):
    where = str(tmp_path / "c.sqlite") if kind == "local" else request.getfixturevalue("moto_endpoint")
    catalog = LocalCatalog(where) if kind == "local" else None
    if catalog is None:
        from lakeloader.catalog.glue import GlueCatalog

        catalog = GlueCatalog(AwsConfig(endpoint_url=where))
    db, contenders, rounds = f"db_{uuid.uuid4().hex[:8]}", 4, 10
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(contenders) as pool:
        for n in range(rounds):
            stale = acquire(catalog, db, "events", f"stale-{n}", LOCATION, LockConfig(ttl_s=0.3))
            if n % 2:
                stale.renew()  # the stale record in a slot partition, not only in the table's parameters
            time.sleep(0.35)  # its lease runs out: every contender sees it stale
            barriers = (manager.Barrier(contenders), manager.Barrier(contenders))
            results = pool.map(_race, [(kind, where, db, *barriers)] * contenders, chunksize=1)
            assert [tried for _, tried in results] == [1] * contenders  # every one made the takeover step
            winners = [token for token, _ in results if token]
            assert len(winners) == 1, f"round {n}: {len(winners)} winners"
            assert read_holder(catalog, db, "events").token == winners[0]
            catalog.delete_table(db, lock_table_name("events"))


@pytest.mark.spark
@pytest.mark.e2e
def test_run_while_another_run_holds_the_table_exits_3(write_config, tmp_path, capsys):
    from lakeloader.cli import main
    from lakeloader.config import load_config
    from lakeloader.sample import generate

    generate(tmp_path / "in", rows=200, files=1, days=1)
    cfg = write_config({"events": events_table()})
    hold(LocalCatalog(load_config(cfg).catalog.path), "demo", "other-run")
    assert main(["run", "--config", cfg, "--table", "events", "--input", str(tmp_path / "in")]) == 3
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("busy: demo.events is being loaded by run other-run")
    assert LocalCatalog(load_config(cfg).catalog.path).get_table("demo", "events") is None


def _stopped(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"


@pytest.mark.spark
@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc to see that the run is frozen")
def test_a_run_frozen_past_its_lease_is_taken_over_and_publishes_nothing_when_it_resumes(write_config, tmp_path):
    from lakeloader.config import load_config
    from lakeloader.sample import generate

    generate(tmp_path / "in", rows=200, files=1, days=1)
    ttl = 6.0
    cfg = write_config({"events": events_table()}, lock={"ttl_s": ttl})
    argv = ["run", "--config", cfg, "--table", "events", "--input", str(tmp_path / "in")]
    env = {**os.environ, "LAKELOADER_FAILPOINT": "after-audit:stop"}  # written and audited, then frozen
    run = subprocess.Popen([sys.executable, "-m", "lakeloader.cli", *argv], env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not _stopped(run.pid):
            assert run.poll() is None and time.monotonic() < deadline, "the run never reached after-audit"
            time.sleep(0.5)
        time.sleep(ttl + 1)  # frozen (renewal thread too) past its lease
        catalog = LocalCatalog(load_config(cfg).catalog.path)
        with table_lock(catalog, "demo", "events", "taker", LOCATION, LockConfig(ttl_s=120)) as taker:
            os.kill(run.pid, signal.SIGCONT)
            _, err = run.communicate(timeout=300)
            taker.check()  # the resumed run left the taker's lock alone
        assert run.returncode == 3, err[-2000:]
        last = err.strip().splitlines()[-1]
        assert last.startswith("lock lost: demo.events: run ") and "no longer holds the table's lock" in last
        assert catalog.get_table("demo", "events") is None  # nothing published
        assert not list((tmp_path / "warehouse").rglob("*.parquet"))  # and its files removed
    finally:
        if run.poll() is None:
            os.kill(run.pid, signal.SIGCONT)
            run.kill()


@pytest.mark.parametrize("lock, message", [({"ttl_s": 0}, "lock.ttl_s: must be more than 0"),
                                           ({"wait_s": -1}, "lock.wait_s: must be 0 or more")])  # fmt: skip
def test_a_lease_of_no_time_or_a_negative_wait_is_a_config_error(write_config, lock, message):
    from lakeloader.config import load_config
    from lakeloader.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_config(write_config({"events": events_table()}, lock=lock))
