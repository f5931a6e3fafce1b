"""Athena failures as one line: what Athena's reason means and what to do about it."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Optional

from lakeloader import aws as awsutil
from lakeloader.config import QueryConfig

if TYPE_CHECKING:
    from lakeloader.query.athena import AthenaExecution

_MAX_REASON_CHARS = 1000  # Athena's reasons can quote whole file paths and rows; keep the line readable

# (what to look for in Athena's reason, what it means and what to do), first match wins.
_EXPLANATIONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), text)
    for pattern, text in (
        (
            r"HIVE_PARTITION_SCHEMA_MISMATCH",
            "a partition's column types in Glue differ from the table's; re-register the partition with the "
            "table's schema (lakeloader run) or rewrite it, and check schema_evolution",
        ),
        (
            r"HIVE_BAD_DATA",
            "a data file holds a value that does not fit its column's type in Glue (or the file is corrupt); "
            "compare the named file's Parquet schema with the table's columns, then rewrite the file or fix the type",
        ),
        (
            r"HIVE_CANNOT_OPEN_SPLIT",
            "Athena could not read a data file: it was deleted or moved after registration, S3 denied or throttled "
            "the read, or it is not valid Parquet; check the named file exists and the role can read it",
        ),
        (
            r"TABLE_NOT_FOUND|SCHEMA_NOT_FOUND|does not exist",
            "the table or database is not in the Glue catalog Athena reads; check the name (Athena lowercases it), "
            "aws.region, and that `lakeloader run` registered it",
        ),
        (
            r"COLUMN_NOT_FOUND|cannot be resolved",
            "the column is not in the table's Glue schema; check its spelling and the table's columns",
        ),
        (
            r"access denied|Unable to verify/create output bucket|output location",
            "Athena cannot write its results or read the data in S3; check that query.output_location (or the "
            "workgroup's result location) is an existing bucket in this region and that the role may write to it "
            "and read the table's location",
        ),
        (
            r"SYNTAX_ERROR|mismatched input|extraneous input|no viable alternative",
            "Athena could not parse or analyse the SQL; it is Trino SQL: strings in single quotes, identifiers "
            "in double quotes, `?` parameters only in WHERE",
        ),
    )
)


def explain(reason: str) -> Optional[str]:
    """A one-line explanation and remedy for a known Athena failure reason, or None."""
    for pattern, text in _EXPLANATIONS:
        if pattern.search(reason):
            return text
    return None


def failure_message(info: AthenaExecution) -> str:
    """The one line for a query that did not succeed: Athena's reason and what it means, or why there is none."""
    if info.reason:
        hint = explain(info.reason)
        return f"Athena query {info.query_id} {info.state}: {info.reason}{'; ' + hint if hint else ''}"
    if info.state == "CANCELLED":
        return (
            f"Athena query {info.query_id} was CANCELLED (by a user, or a workgroup data-scan limit); "
            "run it again or raise the workgroup's limit"
        )
    return f"Athena query {info.query_id} {info.state} without a reason; see it in the Athena console"


def client_error_hint(code: str, message: str, config: QueryConfig) -> Optional[str]:
    """What to check when Athena refuses a call (`code`, `message`), or None."""
    low = message.lower()
    if "output location" in low:
        return "set query.output_location (s3://bucket/prefix/) or a result location on the workgroup"
    if "workgroup" in low and ("not found" in low or "does not exist" in low or "not exist" in low):
        return f"check query.workgroup ({config.workgroup!r}) exists in this region"
    if code in ("AccessDeniedException", "UnrecognizedClientException", "NoCredentialsError"):
        return "check the AWS credentials and that they allow Athena, Glue and S3 access for this workgroup"
    if awsutil.is_throttling(code, message):
        return "Athena is throttling this account; retry later or run fewer queries at once"
    return None


def shorten(text: str) -> str:
    """`text` cut to a readable length (Athena's reasons can quote whole rows)."""
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 3] + "..."
