"""Faults on a real HDFS: a DataNode that dies during a run, a path the reading user may not read."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import events_contents, events_table, expected_from_csv, hdfs_put
from lakeloader.catalog import open_catalog
from lakeloader.cli import main
from lakeloader.config import load_config
from lakeloader.faults import at
from lakeloader.sample import generate

pytestmark = [pytest.mark.spark, pytest.mark.e2e]


@pytest.fixture(scope="module")
def split_hdfs(spark, tmp_path_factory):
    """A local HDFS whose DataNode a test can stop and restart; the test session's client fails fast on it."""
    from lakeloader import hdfs_cluster, hdfs_local

    why = hdfs_local.java_missing()
    if why:
        pytest.skip(why)
    # A read whose only replica is on a dead DataNode must fail at once, not after the client's default
    # 3 rounds of refetching with 3 s windows. The HDFS client reads these when it first meets this cluster.
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    fast = {"dfs.client.max.block.acquire.failures": "1", "dfs.client.retry.window.base": "10"}
    before = {k: conf.get(k) for k in fast}
    for k, v in fast.items():
        conf.set(k, v)
    cluster = hdfs_cluster.start(tmp_path_factory.mktemp("split-hdfs"))
    yield cluster
    cluster.stop()
    for k, v in before.items():
        if v is None:
            conf.unset(k)
        else:
            conf.set(k, v)


def published(cfg: str) -> bool:
    return open_catalog(load_config(cfg)).get_table("demo", "events") is not None


def test_a_datanode_dying_before_the_read_fails_in_one_line_and_the_rerun_converges(
    spark, split_hdfs, write_config, tmp_path, capsys
):
    local = tmp_path / "in"
    generate(local, rows=1_000, files=2, days=2, bad_rows=0, seed=31)
    hdfs_put(spark, local, f"{split_hdfs.uri}/landing/events")
    cfg = write_config({"events": events_table(checks=[])})
    argv = ["run", "--config", cfg, "--table", "events", "--input", f"{split_hdfs.uri}/landing/events"]

    # The DataNode dies after planning (the listing is the NameNode's) and before the write job reads a block.
    with at("before-write", split_hdfs.stop_datanode):
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"input error: {cfg}: tables.events.source ({split_hdfs.uri}/landing/events): ")
    assert "no live DataNode holds a block of /landing/events/part-000" in last
    assert last.endswith("; nothing was published")
    assert not published(cfg)
    assert not [p for p in (tmp_path / "warehouse").rglob("*.parquet") if "_lakeloader" not in p.parts]

    split_hdfs.start_datanode()
    assert main(argv) == 0
    assert events_contents(cfg) == expected_from_csv(local)


@pytest.mark.parametrize("locked", ["directory", "files"])
def test_an_hdfs_path_the_user_may_not_read_is_one_line_naming_it(spark, hdfs, write_config, tmp_path, locked):
    local = tmp_path / "in"
    generate(local, rows=200, files=1, days=1, bad_rows=0, seed=41)
    uri = f"{hdfs}/secure/{locked}/events"
    hdfs_put(spark, local, uri)
    # Owned by bob, mode 700. This test process is the NameNode's own user (its superuser) and may do
    # this; the run below is alice, neither the owner nor in the superuser group.
    jvm = spark.sparkContext._jvm
    root = jvm.org.apache.hadoop.fs.Path(uri)
    fs = root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    paths = [root] if locked == "directory" else [s.getPath() for s in fs.listStatus(root)]
    for p in paths:
        fs.setOwner(p, "bob", "bob")
        fs.setPermission(p, jvm.org.apache.hadoop.fs.permission.FsPermission(0o700))
    cfg = write_config({"events": events_table(checks=[])})

    cmd = [sys.executable, "-m", "lakeloader.cli", "run", "--config", cfg, "--table", "events", "--input", uri]
    done = subprocess.run(cmd, env={**os.environ, "HADOOP_USER_NAME": "alice"}, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("input error: ") and "permission denied on HDFS (user=alice, access=" in last
    assert f"/secure/{locked}/events" in last
    assert not published(cfg)
