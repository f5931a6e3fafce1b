"""The one retry helper: exponential backoff with jitter, bounded by attempts and a deadline.

Use it only for what botocore's own retry mode (set once in aws.py) and boto3's waiters cannot retry:
per-item errors inside a successful batch call (Glue), polling a job's state (Athena queries, EMR
steps), waiting for a lock another run holds. Wrapping a boto3 call in it would multiply botocore's
attempts by these (docs/reliability.md, "Who retries what").

    for attempt in retry.attempts(Backoff(max_attempts=8, timeout_s=120)):
        if try_once():
            break
    else:
        raise SomeError(f"... after {attempt} attempts")

A loop that shares one budget across several places keeps the iterator and asks `next(budget, None)`.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Optional


@dataclass(frozen=True)
class Backoff:
    """How to space attempts: `initial_s`, times `multiplier` after each, capped at `max_s`.

    Each pause is drawn from [delay * (1 - jitter), delay]: `jitter=1` is "full jitter" (spreads many
    clients retrying against one service), `0` none (a single poller whose pauses a user reads).
    `max_attempts` counts the first try; `timeout_s` runs from the first attempt, and the last pause is cut
    so one final attempt happens at the deadline. At least one of the two bounds is required. `sleep` and
    `clock` are injectable so tests of timeouts run instantly.
    """

    initial_s: float = 0.2
    max_s: float = 5.0
    multiplier: float = 2.0
    jitter: float = 1.0
    max_attempts: Optional[int] = None
    timeout_s: Optional[float] = None
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts is None and self.timeout_s is None:
            raise ValueError("Backoff needs max_attempts or timeout_s: an unbounded retry never gives up")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"Backoff.max_attempts must be at least 1, not {self.max_attempts}")
        if self.timeout_s is not None and self.timeout_s < 0:
            raise ValueError(f"Backoff.timeout_s must be 0 or positive, not {self.timeout_s}")
        if self.initial_s < 0 or self.max_s < 0 or self.multiplier < 1:
            raise ValueError("Backoff delays must be 0 or positive and multiplier at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"Backoff.jitter must be between 0 and 1, not {self.jitter}")


def attempts(policy: Backoff) -> Iterator[int]:
    """Yield attempt numbers 1, 2, ..., pausing before each after the first; stop when a bound is reached.

    The caller breaks out on success; running off the end means every attempt allowed was used.
    """
    deadline = math.inf if policy.timeout_s is None else policy.clock() + policy.timeout_s
    delay = policy.initial_s
    attempt = 1
    while True:
        yield attempt
        if policy.max_attempts is not None and attempt >= policy.max_attempts:
            return
        remaining = deadline - policy.clock()
        if remaining <= 0:
            return
        pause = delay * random.uniform(1.0 - policy.jitter, 1.0) if policy.jitter else delay
        policy.sleep(min(pause, remaining))
        delay = min(delay * policy.multiplier, policy.max_s)
        attempt += 1
