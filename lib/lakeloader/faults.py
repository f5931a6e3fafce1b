"""Failpoints: let the fault-matrix tests kill a real run at an exact stage, as `kill -9` would."""

from __future__ import annotations

import os
import signal

ENV = "LAKELOADER_FAILPOINT"


def failpoint(name: str) -> None:
    """Die at once (SIGKILL: no cleanup, no finally) when $LAKELOADER_FAILPOINT names this point."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
