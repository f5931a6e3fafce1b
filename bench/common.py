"""Helpers the benchmark scripts (and tests needing a foreign venv) share: local ports, a process's CPU time,
the commit being measured, a venv built from pinned requirements."""

from __future__ import annotations

import hashlib
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("LAKELOADER_CACHE", Path.home() / ".cache" / "lakeloader"))


def pinned_venv(venv: Path, requirements: Path, check: str, timeout_s: float = 900) -> tuple[Optional[Path], str]:
    """The python of a venv built from `requirements` (rebuilt when missing or its pins changed), then
    checked with `python -c check`; (None, why) if it cannot be built. The pip cache is lakeloader's."""
    py = venv / "bin" / "python"
    stamp = venv / ".lakeloader-requirements.sha256"
    want = hashlib.sha256(requirements.read_bytes() + sys.version.encode()).hexdigest()
    if py.exists() and stamp.exists() and stamp.read_text() == want:
        return py, f"venv {venv} up to date"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.setdefault("PIP_CACHE_DIR", str(CACHE / "pip"))
    t = time.monotonic()
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(py), "-m", "pip", "install", "--quiet", "--retries", "1", "--timeout", "30", "-r", str(requirements)],
        [str(py), "-c", check],
    ]
    for cmd in steps:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout_s)
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, f"could not build {venv}: {e}"
        if r.returncode != 0:
            lines = r.stderr.strip().splitlines()
            errors = [ln for ln in lines if ln.startswith("ERROR")] or lines or [f"exit {r.returncode}"]
            return None, f"could not build {venv}: {errors[-1].strip()}"
    stamp.write_text(want)
    return py, f"venv {venv} built in {time.monotonic() - t:.0f} s"


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


def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares a, b of y = a + b x."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=False)) / var if var else 0.0
    return my - b * mx, b
