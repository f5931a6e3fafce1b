"""lakeloader.hdfs_cluster without a cluster: what a person sees when it cannot start."""

from __future__ import annotations

import pytest

from lakeloader import hdfs_cluster, hdfs_local, jvm
from lakeloader.errors import ConfigError


def test_missing_jars_are_one_line_naming_the_fix_and_nothing_starts(tmp_path, monkeypatch):
    monkeypatch.setenv(jvm.JARS_DIR_ENV, str(tmp_path / "empty"))
    monkeypatch.setattr(hdfs_cluster, "java_missing", lambda: None)
    needs = r"a local HDFS needs the jar hadoop-client-minicluster-3\.3\.4\.jar .*make install"
    with pytest.raises(ConfigError, match=needs):
        hdfs_cluster.start(tmp_path / "hdfs")
    assert not (tmp_path / "hdfs").exists()


def test_no_java_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(hdfs_local.shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="java is not on PATH"):
        hdfs_cluster.start(tmp_path / "hdfs")
