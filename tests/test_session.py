"""The local SparkSession's JVM start: quiet unless -v (a fresh interpreter, so a fresh JVM)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import events_table
from lakeloader.sample import generate

pytestmark = [pytest.mark.spark, pytest.mark.e2e, pytest.mark.slow]

NOISE = ("resolves to a loopback address", "NativeCodeLoader", "Setting default log level", "log4j")


def test_a_local_run_starts_with_lakeloaders_own_lines(tmp_path, write_config):
    generate(tmp_path / "in", rows=200, files=1, bad_rows=0, seed=1)
    cfg = write_config({"events": events_table()})
    argv = ["run", "--config", cfg, "--table", "events", "--input", str(tmp_path / "in")]
    proc = subprocess.run(
        [sys.executable, "-m", "lakeloader.cli", *argv], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stderr.splitlines()
    assert lines and re.match(r"^\d\d:\d\d:\d\d INFO    lakeloader\.", lines[0]), lines[:5]
    assert not [line for line in lines if any(n in line for n in NOISE)], lines[:10]
