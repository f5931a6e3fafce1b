"""Glue's retry split: botocore retries whole calls; this retries the items a batch call reports failed.

A throttled or failed *call* is retried by botocore's retry mode (aws.py: `aws.retry_mode`,
`aws.max_attempts`), so one request makes at most `aws.max_attempts` HTTP calls and GlueCatalog never
repeats a call botocore gave up on. A batch call that succeeds can still report per-item errors
(`Errors`, e.g. a throttled partition); botocore cannot see those, so GlueCatalog retries those items,
within one budget of attempts and time per batch (`DEFAULT_RETRY`, lakeloader.retry).
"""

from __future__ import annotations

from lakeloader import aws as awsutil
from lakeloader.errors import CatalogError
from lakeloader.retry import Backoff

# Per batch: 8 tries of its throttled items, full jitter from 0.2 s up to 5 s apart, 2 minutes at most.
DEFAULT_RETRY = Backoff(initial_s=0.2, max_s=5.0, jitter=1.0, max_attempts=8, timeout_s=120.0)


class GlueCallError(CatalogError):
    """A Glue call failed; carries the AWS error code so callers can treat expected codes specially."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def call_error(operation: str, where: str, exc: BaseException) -> GlueCallError:
    """The one-line error of a Glue call botocore gave up on; a throttled one says after how many attempts."""
    code = awsutil.error_code(exc) or type(exc).__name__
    message = awsutil.error_message(exc)
    if awsutil.is_throttling(code, message):
        tries = int(getattr(exc, "response", {}).get("ResponseMetadata", {}).get("RetryAttempts", 0)) + 1
        return GlueCallError(
            f"{operation} {where}: still throttled ({code}) after {tries} attempts; "
            "retry later, lower the calls in flight or raise aws.max_attempts",
            code,
        )
    return GlueCallError(f"{operation} {where}: {code}: {message}", code)
