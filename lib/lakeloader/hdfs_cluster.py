"""A local HDFS whose NameNode and DataNode are separate JVMs, so a test can stop and restart the DataNode.

hdfs_local's MiniDFSClusterManager runs both daemons in one JVM, which is all most tests need; the fault
tests need a DataNode that dies while the NameNode lives on, as on a real cluster. Both daemons are
Hadoop's own `NameNode` / `DataNode` main classes from the same pinned `hdfs` jars, configured with `-D`
generic options, on free loopback ports, in their own process groups. Readiness comes from each daemon's
JMX servlet over HTTP, so waiting costs no extra JVM.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from lakeloader import jvm, retry
from lakeloader.errors import ConfigError
from lakeloader.hdfs_local import PROFILE, START_TIMEOUT_S, java_missing, stop_jvm

log = logging.getLogger(__name__)

NAMENODE = "org.apache.hadoop.hdfs.server.namenode.NameNode"
DATANODE = "org.apache.hadoop.hdfs.server.datanode.DataNode"
_LOG4J = """log4j.rootLogger=INFO,out
log4j.appender.out=org.apache.log4j.ConsoleAppender
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=%d{ISO8601} %p %c{1}: %m%n
"""


@dataclass
class SplitHdfs:
    """A running NameNode (`uri`) and, between stop_datanode() and start_datanode(), no DataNode."""

    uri: str
    base_dir: Path
    namenode: subprocess.Popen
    conf: list[str]  # -D options both daemons share
    ports: dict[str, int]
    datanode: Optional[subprocess.Popen] = None
    _jvm: list[str] = field(default_factory=list)  # java + options + classpath

    def start_datanode(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start the DataNode (same storage and ports as before) and wait until the NameNode has it."""
        dn = [
            "-D", f"dfs.datanode.data.dir={self.base_dir / 'data'}",
            "-D", f"dfs.datanode.address=127.0.0.1:{self.ports['dn']}",
            "-D", f"dfs.datanode.http.address=127.0.0.1:{self.ports['dn_http']}",
            "-D", f"dfs.datanode.ipc.address=127.0.0.1:{self.ports['dn_ipc']}",
        ]  # fmt: skip
        self.datanode = _spawn([*self._jvm, DATANODE, *self.conf, *dn], self.base_dir / "datanode.log")
        _wait(self.datanode, self.base_dir / "datanode.log", timeout_s, self._datanode_registered)

    def stop_datanode(self) -> None:
        """Stop the DataNode; the NameNode still lists it (as after a crash) until its heartbeat expires."""
        if self.datanode is not None:
            stop_jvm(self.datanode)
            self.datanode = None

    def stop(self) -> None:
        """Stop both daemons; idempotent. The directory stays (it is the caller's)."""
        self.stop_datanode()
        stop_jvm(self.namenode)

    def _datanode_registered(self) -> bool:
        bean = _jmx(self.ports["dn_http"], "Hadoop:service=DataNode,name=DataNodeInfo")
        actors = json.loads(bean.get("BPServiceActorInfo") or "[]") if bean else []
        return any(a.get("ActorState") == "RUNNING" for a in actors)


def start(base_dir: Path, timeout_s: float = START_TIMEOUT_S) -> SplitHdfs:
    """Format and start a NameNode and one DataNode under `base_dir` (replication 1, permissions on).

    Raises ConfigError (one line) when java or the jars are missing or a daemon does not come up in time
    (naming its log file).
    """
    why = java_missing()
    if why:
        raise ConfigError(why)
    classpath = os.pathsep.join(jvm.require(PROFILE, "a local HDFS"))
    base = Path(base_dir)
    base.mkdir(parents=True, exist_ok=True)
    (base / "log4j.properties").write_text(_LOG4J)
    ports = {name: _free_port() for name in ("nn", "nn_http", "dn", "dn_http", "dn_ipc")}
    java = ["java", "-Xmx256m", "-Djava.net.preferIPv4Stack=true",
            f"-Dlog4j.configuration=file:{base / 'log4j.properties'}", "-cp", classpath]  # fmt: skip
    conf = [
        "-D", f"fs.defaultFS=hdfs://127.0.0.1:{ports['nn']}",
        "-D", f"hadoop.tmp.dir={base / 'tmp'}",
        "-D", "dfs.replication=1",
        "-D", "dfs.permissions.enabled=true",
    ]  # fmt: skip
    nn = [
        "-D", f"dfs.namenode.name.dir={base / 'name'}",
        "-D", "dfs.namenode.rpc-bind-host=127.0.0.1",  # loopback only: nothing outside should reach it
        "-D", f"dfs.namenode.http-address=127.0.0.1:{ports['nn_http']}",
        "-D", "dfs.namenode.safemode.extension=0",
    ]  # fmt: skip
    fmt_log = base / "format.log"
    with open(fmt_log, "wb") as out:
        cmd = [*java, NAMENODE, *conf, *nn, "-format", "-force", "-nonInteractive"]
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout_s)
    if done.returncode:
        raise ConfigError(f"formatting the local NameNode failed ({done.returncode}); see {fmt_log}")
    namenode = _spawn([*java, NAMENODE, *conf, *nn], base / "namenode.log")
    cluster = SplitHdfs(f"hdfs://127.0.0.1:{ports['nn']}", base, namenode, conf, ports, _jvm=java)
    atexit.register(cluster.stop)
    try:
        _wait(namenode, base / "namenode.log", timeout_s, lambda: _namenode_up(ports["nn_http"]))
        cluster.start_datanode(timeout_s)
    except BaseException:
        cluster.stop()
        raise
    log.info("local HDFS (separate NameNode and DataNode) up at %s (dir %s)", cluster.uri, base)
    return cluster


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(cmd: list[str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "ab") as out:
        # its own process group, stopped as one by stop_jvm (see hdfs_local)
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip


def _jmx(port: int, bean: str) -> Optional[dict]:
    """One bean of a daemon's /jmx servlet, or None while the daemon is not serving it yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/jmx?qry={bean}", timeout=5) as r:
            beans = json.load(r).get("beans") or []
    except (OSError, urllib.error.URLError, ValueError):
        return None
    return beans[0] if beans else None


def _namenode_up(http_port: int) -> bool:
    bean = _jmx(http_port, "Hadoop:service=NameNode,name=FSNamesystemState")
    return bool(bean) and bean.get("FSState") == "Operational"


def _wait(proc: subprocess.Popen, log_path: Path, timeout_s: float, ready) -> None:  # noqa: ANN001
    """Poll `ready()` with backoff until true; ConfigError naming the log if the JVM exits or time runs out."""
    for _ in retry.attempts(retry.Backoff(initial_s=0.3, max_s=2.0, jitter=0, timeout_s=timeout_s)):
        if proc.poll() is not None:
            raise ConfigError(f"local HDFS daemon exited with {proc.returncode}; see {log_path}")
        if ready():
            return
    raise ConfigError(f"local HDFS daemon not up after {timeout_s:.0f}s; see {log_path}")
