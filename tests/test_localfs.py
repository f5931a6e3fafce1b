"""jvm/src NioLocalFileSystem: Hadoop's local file system answered through java.nio, with Hadoop's own results.

Every local session uses it (fs.file.impl), so the whole suite runs over it; these tests hold it to
RawLocalFileSystem's answers for the calls it replaces, on the session's own JVM.
"""

from __future__ import annotations

import os
import stat

import pytest
from py4j.protocol import Py4JJavaError

from lakeloader import jvm
from lakeloader.session import _loadable, with_local_fs

pytestmark = [pytest.mark.spark]

needs_jar = pytest.mark.skipif(
    jvm.local_fs_jar() is None, reason="build/jvm/lakeloader-localfs.jar not built: make install found no javac"
)


@pytest.fixture(scope="module")
def fs_pair(spark):
    """(the session's local file system, a plain RawLocalFileSystem) on the session's JVM."""
    gateway, conf = spark.sparkContext._jvm, spark.sparkContext._jsc.hadoopConfiguration()
    raw = gateway.org.apache.hadoop.fs.RawLocalFileSystem()
    raw.initialize(gateway.java.net.URI("file:///"), conf)
    return gateway.org.apache.hadoop.fs.FileSystem.getLocal(conf), raw, gateway.org.apache.hadoop.fs.Path, gateway


def _status(st) -> tuple:  # noqa: ANN001
    # Reading the permission first makes Hadoop's own status load it (by running `ls -ld`).
    return (st.getPermission().toShort(), st.getOwner(), st.getGroup(), st.getPath().toString(), st.isDirectory(),
            st.getLen() if not st.isDirectory() else None, st.getModificationTime())  # fmt: skip


@needs_jar
def test_local_sessions_use_it(spark, fs_pair):
    fs, *_ = fs_pair
    assert fs.getClass().getName() == jvm.LOCAL_FS_CLASS
    assert fs.getRawFileSystem().getClass().getName() == jvm.LOCAL_FS_CLASS + "$Raw"


@needs_jar
def test_file_statuses_equal_hadoops_own(tmp_path, fs_pair):
    fs, raw, Path, _ = fs_pair
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.csv").write_text("a,b\n1,2\n")
    os.chmod(tmp_path / "d" / "f.csv", 0o640)
    os.chmod(tmp_path / "d", 0o750)
    (tmp_path / "link").symlink_to(tmp_path / "d")
    for p in ("d", "d/f.csv", "link", "link/f.csv"):
        assert _status(fs.getFileStatus(Path(str(tmp_path / p)))) == _status(raw.getFileStatus(Path(str(tmp_path / p))))
    for p in ("d", "link", "d/f.csv"):
        ours = sorted(_status(s) for s in fs.listStatus(Path(str(tmp_path / p))))
        assert ours == sorted(_status(s) for s in raw.listStatus(Path(str(tmp_path / p)))), p
    assert _status(fs.getFileStatus(Path(str(tmp_path / "d" / "f.csv"))))[0] == 0o640


@needs_jar
def test_a_missing_path_is_file_not_found(tmp_path, fs_pair):
    fs, _, Path, _ = fs_pair
    for call in (fs.getFileStatus, fs.listStatus):
        with pytest.raises(Py4JJavaError, match="java.io.FileNotFoundException"):
            call(Path(str(tmp_path / "nope")))


@needs_jar
def test_mkdirs_and_set_permission_give_hadoops_modes(tmp_path, fs_pair):
    fs, raw, Path, gateway = fs_pair
    assert fs.mkdirs(Path(str(tmp_path / "ours" / "a" / "b"))) and raw.mkdirs(Path(str(tmp_path / "raw" / "a" / "b")))
    for level in ("", "/a", "/a/b"):
        assert stat.S_IMODE(os.stat(f"{tmp_path}/ours{level}").st_mode) == stat.S_IMODE(
            os.stat(f"{tmp_path}/raw{level}").st_mode
        )
    mode = gateway.org.apache.hadoop.fs.permission.FsPermission.valueOf
    target = Path(str(tmp_path / "ours" / "a"))
    fs.setPermission(target, mode("-rw-r-----"))
    assert stat.S_IMODE(os.stat(tmp_path / "ours" / "a").st_mode) == 0o640
    fs.setPermission(target, mode("drwxrwxrwt"))  # the sticky bit: java.nio cannot set it, Hadoop's chmod does
    assert stat.S_IMODE(os.stat(tmp_path / "ours" / "a").st_mode) == 0o1777


@needs_jar
def test_spark_reads_a_symlinked_input_folder(spark, tmp_path):
    # A java.nio file system that lists a symlinked folder as a file sends Spark's listing into endless recursion.
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "x.csv").write_text("a,b\n1,2\n3,4\n")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    rows = spark.read.option("header", True).csv(str(tmp_path / "link")).orderBy("a").collect()
    assert [tuple(r) for r in rows] == [("1", "2"), ("3", "4")]


@needs_jar
def test_it_is_named_only_where_the_running_jvm_can_load_it(spark):
    assert _loadable(jvm.LOCAL_FS_CLASS)
    assert not _loadable("org.example.NoSuchFileSystem")


def test_a_users_own_local_file_system_is_kept(monkeypatch, tmp_path):
    jar = tmp_path / "lakeloader-localfs.jar"
    jar.write_bytes(b"")
    monkeypatch.setattr(jvm, "local_fs_jar", lambda: jar)
    mine = {"spark.hadoop.fs.file.impl": "org.example.MyFs"}
    assert with_local_fs(mine) == mine
    monkeypatch.setattr(jvm, "local_fs_jar", lambda: None)
    assert with_local_fs({"spark.driver.extraClassPath": "/x.jar"}) == {"spark.driver.extraClassPath": "/x.jar"}
