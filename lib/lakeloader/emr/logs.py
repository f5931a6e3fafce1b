"""A failed step explained: its logs in S3, and the one line in them that names the cause."""

from __future__ import annotations

import gzip
import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, Optional

from lakeloader.config import EmrConfig
from lakeloader.emr.calls import aws_call, object_exists, s3_uri, split_s3
from lakeloader.errors import DeployError
from lakeloader.retry import Backoff, attempts

log = logging.getLogger(__name__)

STDERR_TAIL_LINES = 20
_APP_ID_RE = re.compile(r"application_[0-9]+_[0-9]+")
# How lakeloader's CLI reports a user-caused failure (`input error: ...`, `validation failed: ...`, `busy: ...`).
LAKELOADER_ERROR_RE = re.compile(r"^(?:[a-z]+ )?(?:error|failed|busy): ")
_EXCEPTION_RE = re.compile(r"(?:Exception|Error)\b")


def step_log_location(log_uri: Optional[str], cluster_id: str, step_id: str) -> Optional[str]:
    """`<log_uri>/<cluster id>/steps/<step id>/`, where EMR copies the step's stdout, stderr and controller logs."""
    base = s3_uri(log_uri)
    return f"{base.rstrip('/')}/{cluster_id}/steps/{step_id}/" if base else None


def _wait_for_object(
    s3: Any, uri: str, wait_s: float, sleep: Callable[[float], None], clock: Callable[[], float]
) -> bool:
    """True once the object exists; EMR copies logs to S3 every few minutes, so give it `wait_s`.

    Not boto3's ObjectExists waiter: it polls every 5 s, where EMR copies logs every few minutes, so this
    backs off to a minute between looks.
    """
    policy = Backoff(initial_s=5.0, max_s=60.0, jitter=0, timeout_s=wait_s, sleep=sleep, clock=clock)
    for attempt in attempts(policy):
        if attempt > 1:
            log.info("waiting for %s (EMR copies step logs to S3 every few minutes)", uri)
        try:
            if object_exists(s3, uri):
                return True
        except DeployError as e:  # the error line will say the log is missing; this says why
            log.warning("%s", e)
            return False
    return False


def read_log_tail(s3: Any, uri: str, lines: int = STDERR_TAIL_LINES) -> list[str]:
    """The last `lines` lines of a (gzipped) log object."""
    bucket, key = split_s3(uri)
    body = aws_call(s3.get_object, f"GET {uri}", Bucket=bucket, Key=key)["Body"].read()
    if uri.endswith(".gz"):
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError):  # EMR names it .gz; a partly written object is not worth a crash
            pass
    text = body.decode("utf-8", errors="replace").rstrip()
    return [line.rstrip() for line in text.splitlines()[-lines:]]


def _driver_log_tail(s3: Any, log_uri: str, cluster_id: str, step_tail: list[str]) -> list[str]:
    """The driver's stderr (YARN's first container) of the application the step's stderr names, if copied yet."""
    apps = _APP_ID_RE.findall("\n".join(step_tail))
    if not apps:
        return []
    prefix = f"{log_uri.rstrip('/')}/{cluster_id}/containers/{apps[-1]}/"
    bucket, key_prefix = split_s3(prefix)
    try:
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=key_prefix)
    except Exception as e:  # best effort: the step's own stderr is already in hand
        log.debug("cannot list %s: %s", prefix, e)
        return []
    keys = sorted(o["Key"] for o in listing.get("Contents", []) if o["Key"].endswith("_000001/stderr.gz"))
    if not keys:
        return []
    try:
        return read_log_tail(s3, f"s3://{bucket}/{keys[0]}", 200)
    except DeployError as e:
        log.debug("%s", e)
        return []


def root_cause(lines: Sequence[str]) -> Optional[str]:
    """The most telling line of a log tail: lakeloader's own one-line error, else the last exception line."""
    stripped = [line.strip() for line in lines if line.strip()]
    for line in reversed(stripped):
        if LAKELOADER_ERROR_RE.match(line):
            return line
    for line in reversed(stripped):
        if _EXCEPTION_RE.search(line) and not line.startswith("at "):
            return line
    return stripped[-1] if stripped else None


def explain_failure(
    s3: Any,
    step: dict[str, Any],
    cluster_id: str,
    log_uri: Optional[str],
    emr: EmrConfig,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    cluster_note: Optional[str] = None,
) -> DeployError:
    """A one-line error for a step that ended FAILED (or CANCELLED/INTERRUPTED), with the stderr tail as detail.

    `cluster_note` says why the cluster stopped, for a step that never ran (e.g. a failed bootstrap action).
    """
    step_id, state, name = step["Id"], step["Status"]["State"], step.get("Name", "")
    location = step_log_location(log_uri, cluster_id, step_id)
    details = step["Status"].get("FailureDetails") or {}
    reason = (
        details.get("Message")
        or details.get("Reason")
        or (step["Status"].get("StateChangeReason") or {}).get("Message")
    )
    tail: list[str] = []
    cause = None
    if location and state == "FAILED":
        stderr_uri = location + "stderr.gz"
        if _wait_for_object(s3, stderr_uri, emr.log_wait_s, sleep, clock):
            tail = read_log_tail(s3, stderr_uri)
            # In cluster mode the step's stderr is spark-submit's; lakeloader's own one-line error is in the
            # driver's log, which names the cause far better when it is there.
            driver_cause = root_cause(_driver_log_tail(s3, s3_uri(log_uri) or "", cluster_id, tail))
            if driver_cause and LAKELOADER_ERROR_RE.match(driver_cause):
                cause = driver_cause
            else:
                cause = root_cause(tail)
        else:
            cause = (
                f"no stderr.gz in {location} yet after {emr.log_wait_s:g} s (EMR copies step logs every few minutes)"
            )
    where = f"; logs: {location}" if location else "; the cluster has no LogUri: logs are on the master node"
    text = cause or reason or "no reason given by EMR"
    if state != "FAILED":
        text = "; ".join(filter(None, [reason, cluster_note])) or text
    return DeployError(f"step {step_id} ({name}) {state} on {cluster_id}: {text}{where}", detail=tail)
