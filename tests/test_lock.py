"""One writer per table: the catalog-held lock, on the local catalog and on Glue (moto)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid

import pytest

from conftest import events_table
from lakeloader.catalog.local import LocalCatalog
from lakeloader.config import AwsConfig, LockConfig
from lakeloader.errors import LockedError
from lakeloader.lock import lock_table_name, table_lock

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
