"""What a Spark failure was, from its Java cause chain: Spark 3.5 error classes and exception classes.

A write job's failure reaches Python as a Py4JJavaError (or a captured PySparkException) whose message is
the whole stack of causes; the causes themselves say exactly what happened, so lakeloader asks them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

MALFORMED_RECORD = "MALFORMED_RECORD_IN_PARSING"
ACCESS_DENIED = "org.apache.hadoop.security.AccessControlException"
BLOCK_MISSING = "org.apache.hadoop.hdfs.BlockMissingException"
_MAX_DEPTH = 20  # a cause chain is a few links; this only guards against a cycle


@dataclass(frozen=True)
class Cause:
    """One link of a Java cause chain."""

    java_class: str
    error_class: Optional[str]
    message: str


def cause_chain(e: BaseException) -> list[Cause]:
    """The Java causes of `e`, outermost first; [] for a failure that never reached the JVM."""
    java: Any = getattr(e, "java_exception", None) or getattr(e, "_origin", None)
    chain: list[Cause] = []
    while java is not None and len(chain) < _MAX_DEPTH:
        try:
            error_class = java.getErrorClass()  # org.apache.spark.SparkThrowable
        except Exception:  # py4j raises for a Throwable without the method
            error_class = None
        chain.append(Cause(java.getClass().getName(), error_class, str(java.getMessage() or "")))
        java = java.getCause()
    return chain


def find(chain: list[Cause], error_class: str = "", java_class: str = "") -> Optional[Cause]:
    """The first cause with that Spark error class (or a sub-class of it) or that Java class."""
    for c in chain:
        if error_class and c.error_class and c.error_class.split(".")[0] == error_class:
            return c
        if java_class and c.java_class == java_class:
            return c
    return None


def input_file_vanished(chain: list[Cause]) -> bool:
    """True when a read found an input file gone since planning.

    Spark 3.5 aborts the job with the task's SparkFileNotFoundException named only in the job's message
    (the task failure is not the cause), so the exception's class name is looked for there too.
    """
    return find(chain, java_class="java.io.FileNotFoundException") is not None or any(
        "SparkFileNotFoundException" in c.message for c in chain
    )


def hdfs_refused(chain: list[Cause]) -> Optional[str]:
    """One line when HDFS refused a read: permission denied, or a block no live DataNode holds; else None.

    Found as a cause of that class (a listing on the driver), or named in a cause's message (Spark 3.5
    aborts a job with the failed task's exception only in its message).
    """
    denied = _text_of(chain, ACCESS_DENIED)
    if denied is not None:
        detail = re.search(r"Permission denied: ([^\n]*)", denied)
        first = (denied.strip().splitlines() or ["no detail"])[0]
        return f"permission denied on HDFS ({(detail.group(1) if detail else first).strip()[:300]})"
    missing = _text_of(chain, BLOCK_MISSING)
    if missing is not None:
        file = re.search(r"file=(\S+)", missing)
        return (
            f"no live DataNode holds a block of {file.group(1) if file else 'an input file'} "
            "(a DataNode is down or unreachable)"
        )
    return None


def _text_of(chain: list[Cause], java_class: str) -> Optional[str]:
    """The message of a cause of `java_class`, or what follows the class's name in a cause's message."""
    for c in chain:
        if c.java_class == java_class:
            return c.message
    for c in chain:
        at = c.message.find(java_class)
        if at >= 0:
            return c.message[at + len(java_class) :].lstrip(": ")
    return None


# Where the S3 clients' exceptions live: S3A's own (AWSServiceThrottledException, AWSStatus500Exception,
# AWSClientIOException, ...), the AWS SDKs' (v1, v2) and EMRFS's.
_STORE_PACKAGES = ("org.apache.hadoop.fs.s3a.", "com.amazonaws.", "software.amazon.awssdk.", "com.amazon.ws.emr.")


def storage_failure(chain: list[Cause]) -> Optional[Cause]:
    """The innermost cause raised by an S3 client (after its retries), or None when S3 is not to blame."""
    found = [c for c in chain if c.java_class.startswith(_STORE_PACKAGES)]
    return found[-1] if found else None
