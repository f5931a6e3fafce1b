"""`format: delta` through the whole run on Spark with delta-spark (the jars of jvm/pom.xml): write,
snapshot stats, audit, native Delta registration, restore on failure, partition replace, schema
evolution, reruns and a kill."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from conftest import events_contents, events_table, expected_from_csv
from lakeloader import delta
from lakeloader.catalog import open_catalog
from lakeloader.cli import main
from lakeloader.config import load_config
from lakeloader.query import open_engine
from lakeloader.sample import SCHEMA_DDL, generate

pytestmark = [pytest.mark.spark, pytest.mark.e2e]
ONLY_NOT_NULL = [{"kind": "not_null", "column": "event_id"}]


def delta_rs_rows(root: str) -> int:
    """Rows of the table's latest snapshot as delta-rs lists it (read with pyarrow, file by file)."""
    return sum(pq.read_metadata(f).num_rows for f in DeltaTable(root).file_uris())


def run(cfg: str, inp: Path, *extra: str) -> int:
    return main(["run", "--config", cfg, "--table", "events", "--input", str(inp), *extra])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    base = tmp_path_factory.mktemp("delta-inputs")
    generate(base / "a", rows=2_000, files=1, days=2, bad_rows=2, seed=3)
    # Day 2 only, other rows: overwrite_partitions must replace just these (dt, country) partitions.
    generate(base / "b", rows=20, files=1, days=1, seed=4, start=dt.date(2026, 11, 2))
    return base


def test_delta_run_registers_a_native_delta_table_restores_a_failed_audit_and_reruns_idempotently(
    inputs, write_config, capsys
):
    inp = inputs / "a"
    cfg = write_config({"events": events_table(format="delta")})
    assert run(cfg, inp, "--run-id", "first") == 0
    assert "rows       2000 written of 2002 read, 2 malformed" in capsys.readouterr().out
    expected = expected_from_csv(inp)
    assert events_contents(cfg) == expected  # hostile partition values included

    config = load_config(cfg)
    meta = open_catalog(config).get_table("demo", "events")
    root = meta["StorageDescriptor"]["Location"]
    assert root == config.table_location(config.table("events"))
    assert meta["Parameters"]["table_type"] == "DELTA" and meta["PartitionKeys"] == []
    assert open_catalog(config).get_partitions("demo", "events") == []
    assert delta_rs_rows(root) == 2000
    version = delta.delta_version(root)

    # The same run again: already published, nothing written.
    assert run(cfg, inp, "--run-id", "first") == 0
    assert "already-published" in capsys.readouterr().out
    assert delta.delta_version(root) == version

    # Appending the same rows breaks unique(event_id): the audit fails and the table is restored.
    assert run(cfg, inp, "--mode", "append", "--run-id", "dup") == 1
    assert "audit of run dup failed; the Delta table was restored" in capsys.readouterr().err
    assert events_contents(cfg) == expected and delta_rs_rows(root) == 2000
    assert delta.delta_version(root) == version + 2  # append, then restore
    assert open_catalog(config).get_table("demo", "events")["Parameters"]["lakeloader.run_id"] == "first"


def test_overwrite_partitions_replaces_only_the_partitions_in_the_input(inputs, write_config):
    cfg = write_config({"events": events_table(format="delta", checks=ONLY_NOT_NULL)})
    assert run(cfg, inputs / "a") == 0
    assert run(cfg, inputs / "b", "--mode", "overwrite_partitions") == 0
    a, b = expected_from_csv(inputs / "a"), expected_from_csv(inputs / "b")
    # Day 2's partitions that b has no rows for keep a's rows: a partition replace, not a day's or the table's.
    assert any(k[0] == "2026-11-02" and k not in b for k in a) and any(k[0] == "2026-11-01" for k in a)
    assert events_contents(cfg) == {**a, **b}


def test_failed_first_load_into_a_custom_location_removes_only_what_it_wrote(inputs, write_config, tmp_path):
    location = tmp_path / "shared"
    (location / "theirs").mkdir(parents=True)
    (location / "theirs" / "keep.csv").write_text("not lakeloader's\n")
    (location / "README").write_text("a folder someone else owns\n")
    checks = [{"kind": "accepted_values", "column": "device", "values": ["ios"]}]  # fails: android, web too
    cfg = write_config({"events": events_table(format="delta", location=str(location), checks=checks)})
    assert run(cfg, inputs / "a") == 1
    left = sorted(str(p.relative_to(location)) for p in location.rglob("*"))
    assert left == ["README", "theirs", "theirs/keep.csv"]
    assert open_catalog(load_config(cfg)).get_table("demo", "events") is None


def test_schema_evolution_adds_a_column(inputs, write_config, tmp_path):
    cfg = write_config({"events": events_table(format="delta")})
    assert run(cfg, inputs / "a") == 0
    more = tmp_path / "more"
    more.mkdir()
    lines = [f"{100_000 + i},2026-11-01 10:00:00,u1,FR,web,1.00,ok,C{i}" for i in range(5)]
    (more / "part-0.csv").write_text(
        "event_id,event_ts,user_id,country,device,amount,status,coupon\n" + "\n".join(lines) + "\n"
    )
    source = {**events_table()["source"], "schema": SCHEMA_DDL + ", coupon STRING"}
    cfg = write_config({"events": events_table(format="delta", source=source)})
    assert run(cfg, more, "--mode", "append") == 0
    config = load_config(cfg)
    columns = [c["Name"] for c in open_catalog(config).get_table("demo", "events")["StorageDescriptor"]["Columns"]]
    assert columns[-1] == "coupon"
    engine = open_engine(config, open_catalog(config))
    assert engine.query("SELECT count(*), count(coupon) FROM demo.events").rows == [(2005, 5)]


def test_kill_after_the_delta_commit_then_rerun_converges(inputs, write_config):
    cfg = write_config({"events": events_table(format="delta")})
    argv = ["run", "--config", cfg, "--table", "events", "--input", str(inputs / "a")]
    env = {**os.environ, "LAKELOADER_FAILPOINT": "after-write"}
    killed = subprocess.run([sys.executable, "-m", "lakeloader.cli", *argv], env=env, capture_output=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    # Committed to the log but never registered: no reader finds the table yet.
    assert open_catalog(load_config(cfg)).get_table("demo", "events") is None
    assert main(argv) == 0
    assert events_contents(cfg) == expected_from_csv(inputs / "a")
