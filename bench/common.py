"""Helpers the benchmark scripts share: local ports, a process's CPU time, the commit being measured."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout_s: float, alive: Callable[[], bool] = lambda: True) -> bool:
    """Poll until something listens on 127.0.0.1:port; False on timeout or once `alive()` turns False."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive():
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def cpu_seconds(pid: Optional[int]) -> Optional[float]:
    """User + system CPU seconds a process has used so far (Linux /proc); None where that cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def git_commit() -> str:
    """The short commit of the checkout being measured, for the results' provenance."""
    run = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return run.stdout.strip() or "unknown"
