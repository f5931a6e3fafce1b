"""Failpoints: let the fault-matrix tests kill (or freeze) a real run at an exact stage, as `kill -9` would.

An in-process test can instead run its own action at a point (`with at("before-write", stop_datanode):`),
e.g. to break the run's environment between two stages.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ENV = "LAKELOADER_FAILPOINT"
_hits: Counter[str] = Counter()
_actions: dict[str, Callable[[], None]] = {}


@contextmanager
def at(name: str, action: Callable[[], None]) -> Iterator[None]:
    """Within the block, run `action` each time this process reaches failpoint `name` (for tests)."""
    _actions[name] = action
    try:
        yield
    finally:
        _actions.pop(name, None)


def failpoint(name: str) -> None:
    """Run a test's action registered with at(); die at once (SIGKILL: no cleanup, no finally) when
    $LAKELOADER_FAILPOINT names this point.

    `name#N` dies at the N-th time the point is reached in this process (e.g. in the second date of a
    backfill); a plain `name` at the first. `name:stop` freezes the process instead (SIGSTOP, every
    thread, as a long GC pause or a suspended VM would) until someone sends it SIGCONT.
    """
    if name in _actions:
        _actions[name]()
    want = os.environ.get(ENV)
    if not want:
        return
    want, _, action = want.partition(":")
    point, _, nth = want.partition("#")
    if point != name:
        return
    _hits[name] += 1
    if _hits[name] == int(nth or 1):  # once: a frozen run resumed must not freeze at its next date
        os.kill(os.getpid(), signal.SIGSTOP if action == "stop" else signal.SIGKILL)
