"""A local single-node HDFS (one NameNode, one DataNode) for tests, `make hdfs` and `make demo-hdfs`.

It runs Hadoop's MiniDFSClusterManager (from the shaded hadoop-client-minicluster of the `hdfs`
profile of jvm/pom.xml) in its OWN JVM, never on Spark's classpath: Spark talks to it through the
Hadoop client pyspark already ships, exactly as it talks to a cluster's HDFS. The JVM runs in its own
process group and is stopped at exit, so a crashed test run leaves no orphan JVM behind.
"""

from __future__ import annotations

import argparse
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
    owns_dir: bool = False  # base_dir was made by start(): stop() removes it

    def stop(self) -> None:
        """Stop the JVM (its whole process group) and wait for it, then remove a temp dir; idempotent."""
        stop_jvm(self.proc)
        if self.owns_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)


def stop_jvm(proc: subprocess.Popen) -> None:
    """Stop a JVM started in its own process group (and anything it forked) and wait for it; idempotent."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
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
    hdfs = LocalHdfs(uri="", proc=proc, base_dir=base, log_path=log_path, owns_dir=base_dir is None)
    atexit.register(hdfs.stop)
    deadline, delay = time.monotonic() + timeout_s, 0.2
    while True:
        if details.is_file() and details.stat().st_size:
            port = json.loads(details.read_text())["namenode_port"]
            hdfs.uri = f"hdfs://127.0.0.1:{port}"
            log.info("local HDFS up at %s (dir %s)", hdfs.uri, base)
            return hdfs
        if proc.poll() is not None or time.monotonic() > deadline:
            state = (
                f"exited with {proc.returncode}" if proc.returncode is not None else f"not up after {timeout_s:.0f}s"
            )
            hdfs.owns_dir = False  # keep the log the error points at
            hdfs.stop()
            raise ConfigError(f"local HDFS {state}; see {log_path}")
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


def put_dir(hdfs: LocalHdfs, local: Path, path: str) -> int:
    """Upload the files directly in `local` to the HDFS directory `path` with Hadoop's FsShell; how many."""
    files = sorted(str(f) for f in Path(local).iterdir() if f.is_file())
    # FsShell's Configuration insists on a core-site.xml on its classpath: one naming this cluster
    conf = hdfs.base_dir / "client-conf"
    conf.mkdir(exist_ok=True)
    (conf / "core-site.xml").write_text(
        f"<configuration><property><name>fs.defaultFS</name><value>{hdfs.uri}</value></property></configuration>"
    )
    classpath = os.pathsep.join([str(conf), *jvm.require(PROFILE, "a local HDFS")])
    target = f"{hdfs.uri}/{path.strip('/')}"
    for shell_args in (["-mkdir", "-p", target], ["-put", "-f", *files, target]):
        done = subprocess.run(["java", "-cp", classpath, "org.apache.hadoop.fs.FsShell", *shell_args],
                              capture_output=True, text=True)  # fmt: skip
        if done.returncode:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ConfigError(f"cannot upload {local} to {target}: {last}")
    return len(files)


def main(argv: list[str] | None = None) -> int:
    """`python -m lakeloader.hdfs_local`: start a local HDFS and print its URI; see --help."""
    p = argparse.ArgumentParser(
        prog="python -m lakeloader.hdfs_local",
        description="Start a local single-node HDFS (own JVM, loopback), print its hdfs:// URI. Without a "
        "command it runs until Ctrl-C; with one it runs the command ({hdfs} in it replaced by the URI), "
        "stops HDFS and exits with the command's status.",
    )
    p.add_argument("--dir", type=Path, help="where its data and log go (default: a new temp dir)")
    p.add_argument("--put", metavar="LOCAL_DIR:HDFS_DIR", help="upload the files of LOCAL_DIR to HDFS_DIR first")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ARGS...: run this against it, then stop")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        hdfs = start(args.dir)
        if args.put:
            local, _, remote = args.put.partition(":")
            n = put_dir(hdfs, Path(local), remote)
            print(f"uploaded {n} files from {local} to {hdfs.uri}/{remote.strip('/')}", flush=True)
    except (ConfigError, OSError) as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    try:
        if command:
            return subprocess.call([a.replace("{hdfs}", hdfs.uri) for a in command])
        print(f"local HDFS running: {hdfs.uri}   (data in {hdfs.base_dir}; Ctrl-C stops it)", flush=True)
        hdfs.proc.wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        hdfs.stop()


if __name__ == "__main__":
    raise SystemExit(main())
