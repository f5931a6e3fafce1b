"""Retrying throttled Glue calls: a bounded budget of attempts and time, with full-jitter backoff."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from lakeloader import aws as awsutil
from lakeloader.errors import CatalogError


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep retrying throttled Glue calls or items of one batch before giving up.

    `max_attempts` counts the first try; `time_limit_s` runs from the batch's first call.
    """

    max_attempts: int = 8
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0
    time_limit_s: float = 120.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)


class Backoff:
    """One retry budget: attempts counted, sleeps with full jitter, gives up at the bound or the deadline."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.deadline = time.monotonic() + policy.time_limit_s
        self.attempt = 1

    def wait(self) -> bool:
        """Sleep before the next attempt; False when the attempt bound or the time limit is reached."""
        p = self.policy
        if self.attempt >= p.max_attempts:
            return False
        delay = random.uniform(0, min(p.max_delay_s, p.base_delay_s * 2 ** (self.attempt - 1)))
        if time.monotonic() + delay > self.deadline:
            return False
        p.sleep(delay)
        self.attempt += 1
        return True


class GlueCallError(CatalogError):
    """A Glue call failed; carries the AWS error code so callers can treat expected codes specially."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def call_retrying(call: Callable[..., dict], operation: str, where: str, backoff: Backoff, **kwargs: Any) -> dict:
    """`call` (GlueCatalog._call), retried while Glue throttles the whole call (after botocore's retries)."""
    while True:
        try:
            return call(operation, where, checked=True, **kwargs)
        except GlueCallError as e:
            if not awsutil.is_throttling(e.code, str(e)):
                raise
            if not backoff.wait():
                raise CatalogError(
                    f"{operation} {where}: still throttled ({e.code}) after {backoff.attempt} attempts; "
                    "retry later or lower the calls in flight"
                ) from None
