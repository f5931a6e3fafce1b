"""Failpoints: let the fault-matrix tests kill a real run at an exact stage, as `kill -9` would."""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "LAKELOADER_FAILPOINT"
_hits: Counter[str] = Counter()


def failpoint(name: str) -> None:
    """Die at once (SIGKILL: no cleanup, no finally) when $LAKELOADER_FAILPOINT names this point.

    `name#N` dies at the N-th time the point is reached in this process (e.g. in the second date of a
    backfill); a plain `name` at the first.
    """
    want = os.environ.get(ENV)
    if not want:
        return
    point, _, nth = want.partition("#")
    if point != name:
        return
    _hits[name] += 1
    if _hits[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
