"""Athena's failure reasons, explained in one line: no AWS needed."""

from __future__ import annotations

import pytest

from lakeloader.query.athena_errors import explain


@pytest.mark.parametrize(
    "reason, expected",
    [
        ("HIVE_PARTITION_SCHEMA_MISMATCH: There is a mismatch between the table and partition schemas.",
         "a partition's column types in Glue differ from the table's"),
        ("HIVE_BAD_DATA: Error parsing field value '2026-13-01' for field 3", "does not fit its column's type"),
        ("HIVE_CANNOT_OPEN_SPLIT: Error opening Hive split s3://b/k (offset=0, length=9): Access Denied",
         "could not read a data file"),
        ("TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.demo.tt' does not exist", "not in the Glue catalog"),
        ("SCHEMA_NOT_FOUND: line 1:15: Schema 'dem' does not exist", "not in the Glue catalog"),
        ("SYNTAX_ERROR: line 1:15: Table awsdatacatalog.demo.tt does not exist", "not in the Glue catalog"),
        ("COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be resolved", "not in the table's Glue schema"),
        ("Access denied when writing output to url: s3://results/x.csv . Please ensure you are allowed to access "
         "the S3 bucket.", "query.output_location"),
        ("Unable to verify/create output bucket results", "query.output_location"),
        ("line 1:1: mismatched input 'SELEC'. Expecting: 'ALTER', 'ANALYZE'", "Athena could not parse"),
        ("SYNTAX_ERROR: line 1:8: Unexpected parameters (varchar) for function count_if", "Athena could not parse"),
        ("GENERIC_INTERNAL_ERROR: something new", None),
    ],
)  # fmt: skip
def test_known_reasons_are_explained(reason, expected):
    hint = explain(reason)
    assert hint == expected if expected is None else expected in hint
