"""What a Spark failure was, from its Java cause chain: Spark 3.5 error classes and exception classes.

A write job's failure reaches Python as a Py4JJavaError (or a captured PySparkException) whose message is
the whole stack of causes; the causes themselves say exactly what happened, so lakeloader asks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

MALFORMED_RECORD = "MALFORMED_RECORD_IN_PARSING"
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
