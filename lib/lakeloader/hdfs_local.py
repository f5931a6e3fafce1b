"""A local single-node HDFS (one NameNode, one DataNode) for tests, `make hdfs` and `make demo-hdfs`.

It runs Hadoop's MiniDFSClusterManager (from the shaded hadoop-client-minicluster of the `hdfs`
profile of jvm/pom.xml) in its OWN JVM, never on Spark's classpath: Spark talks to it through the
Hadoop client pyspark already ships, exactly as it talks to a cluster's HDFS. The JVM runs in its own
process group and is stopped at exit, so a crashed test run leaves no orphan JVM behind.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from lakeloader import jvm
from lakeloader.errors import ConfigError

log = logging.getLogger(__name__)

PROFILE = "hdfs"
MAIN_CLASS = "org.apache.hadoop.test.MiniDFSClusterManager"
START_TIMEOUT_S = 120.0


@dataclass
class LocalHdfs:
    """A running local HDFS: its `hdfs://127.0.0.1:PORT` URI, its JVM and its directory."""

    uri: str
    proc: subprocess.Popen
    base_dir: Path
    log_path: Path

    def stop(self) -> None:
        """Stop the JVM (its whole process group) and wait for it; idempotent."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
            except ProcessLookupError:
                pass


def java_missing() -> str | None:
    """Why a local HDFS cannot run here (no `java` on PATH), or None when it can."""
    return None if shutil.which("java") else "java is not on PATH (a local HDFS needs a Java 8+ runtime)"


def start(base_dir: Path | None = None, permissions: bool = True, timeout_s: float = START_TIMEOUT_S) -> LocalHdfs:
    """Format and start a one-DataNode HDFS on a free loopback port under `base_dir` (a temp dir if None).

    Raises ConfigError (one line) when java or the pinned jars are missing, or when it does not come up
    within `timeout_s` (naming its log file).
    """
    why = java_missing()
    if why:
        raise ConfigError(why)
    classpath = os.pathsep.join(jvm.require(PROFILE, "a local HDFS"))
    base = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="lakeloader-hdfs-"))
    base.mkdir(parents=True, exist_ok=True)
    details, log_path = base / "details.json", base / "hdfs.log"
    details.unlink(missing_ok=True)
    cmd = [
        "java", "-Xmx384m", "-Djava.net.preferIPv4Stack=true",
        f"-Dtest.build.data={base / 'data'}", "-cp", classpath, MAIN_CLASS,
        "-format", "-writeDetails", str(details), "-writeConfig", str(base / "hdfs-site.xml"),
        "-D", f"dfs.permissions.enabled={'true' if permissions else 'false'}",
        # bind to loopback only: nothing outside this machine should reach a test cluster
        "-D", "dfs.namenode.rpc-bind-host=127.0.0.1",
    ]  # fmt: skip
    with open(log_path, "wb") as out:
        # its own session/process group: stop() kills the JVM and anything it forked, and Ctrl-C in a
        # terminal reaches only us, so we shut it down in order
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip
    hdfs = LocalHdfs(uri="", proc=proc, base_dir=base, log_path=log_path)
    atexit.register(hdfs.stop)
    deadline, delay = time.monotonic() + timeout_s, 0.2
    while True:
        if details.is_file() and details.stat().st_size:
            port = json.loads(details.read_text())["namenode_port"]
            hdfs.uri = f"hdfs://127.0.0.1:{port}"
            log.info("local HDFS up at %s (dir %s)", hdfs.uri, base)
            return hdfs
        if proc.poll() is not None or time.monotonic() > deadline:
            hdfs.stop()
            state = (
                f"exited with {proc.returncode}" if proc.returncode is not None else f"not up after {timeout_s:.0f}s"
            )
            raise ConfigError(f"local HDFS {state}; see {log_path}")
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


def main(argv: list[str] | None = None) -> int:
    """`python -m lakeloader.hdfs_local [DIR]`: start a local HDFS, print its URI, stop it on Ctrl-C."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print(main.__doc__)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        hdfs = start(Path(args[0]) if args else None)
    except ConfigError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    print(f"local HDFS running: {hdfs.uri}   (data in {hdfs.base_dir}; Ctrl-C stops it)", flush=True)
    try:
        hdfs.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        hdfs.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
