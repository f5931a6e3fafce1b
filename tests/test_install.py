"""`make install` and the Python lakeloader needs: one floor everywhere, and an older Python refused in one line."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Optional

import pytest

from lakeloader.config import EmrConfig

ROOT = Path(__file__).resolve().parents[1]


def python_floor() -> str:
    return re.search(r"^PYTHON_MIN := (\d+\.\d+)$", (ROOT / "Makefile").read_text(), re.M).group(1)


def older_python() -> Optional[str]:
    """An interpreter older than the floor on this machine (on PATH or from pyenv), or None."""
    floor = tuple(int(n) for n in python_floor().split("."))
    candidates = [shutil.which(f"python3.{minor}") for minor in range(floor[1] - 1, 7, -1)]
    candidates += [str(p) for p in sorted(Path.home().glob(".pyenv/versions/3.*/bin/python3"), reverse=True)]
    for path in filter(None, candidates):
        ask = [path, "-c", "import sys; print(*sys.version_info[:2])"]
        version = subprocess.run(ask, capture_output=True, text=True)
        if version.returncode == 0 and tuple(int(n) for n in version.stdout.split()) < floor:
            return path
    return None


def test_the_python_floor_is_the_same_everywhere():
    floor = python_floor()
    assert f'python_requires=">={floor}"' in (ROOT / "setup.py").read_text()
    assert f"Python {floor}+" in (ROOT / "README.md").read_text()
    assert EmrConfig().python == f"python{floor}"  # what EMR runs unless the config says otherwise
    assert f'python="${{3:-python{floor}}}"' in (ROOT / "bootstrap" / "install-lakeloader.sh").read_text()


def test_make_install_refuses_an_older_python_in_one_line(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    old = older_python()
    if old is None:
        pytest.skip(f"no Python older than {python_floor()} here (python3.X on PATH or ~/.pyenv/versions)")
    venv = tmp_path / "venv"
    proc = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "install", f"PYTHON={old}", f"VENV={venv}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert f"{old} is Python 3." in line and f"lakeloader needs {python_floor()}+" in line
    assert not venv.exists()  # refused before anything was built
