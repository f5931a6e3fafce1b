"""stat_checks: which checks a run's statistics answer exactly, and their answer. No Spark, no data."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from lakeloader.config import CheckConfig
from lakeloader.manifest import Manifest, PartitionStats
from lakeloader.stat_checks import answer, unanswered

SCHEMA = [
    {"Name": "id", "Type": "bigint"},
    {"Name": "amount", "Type": "decimal(12,2)"},
    {"Name": "score", "Type": "double"},
    {"Name": "name", "Type": "string"},
    {"Name": "dt", "Type": "date"},  # the partition key: not in the files
]


def col(nulls: Optional[int], lo: Any = None, hi: Any = None) -> dict[str, Any]:  # noqa: ANN401
    return {"nulls": nulls, "min": lo, "max": hi}


def manifest(*parts: tuple[int, dict[str, dict[str, Any]]]) -> Manifest:
    stats = [
        PartitionStats([f"2026-01-0{i + 1}"], f"file:///t/dt={i}", 1, rows, 10, cols)
        for i, (rows, cols) in enumerate(parts)
    ]
    return Manifest("r", "db", "t", "append", "2026-01-01", "staged", "file:///t", ["dt"], SCHEMA, stats,
                    "in", 1, 1, 0, 0, 0, None)  # fmt: skip


FIRST = {"ID": col(1, "-5", "40"), "amount": col(0, "0.50", "99.99"), "score": col(0, "1.0", "2.0")}
SECOND = {"ID": col(0, "7", "7"), "amount": col(2), "score": col(0, "0.5", "3.5")}
M = manifest((3, {**FIRST, "name": col(2, "a", "b")}), (2, {**SECOND, "name": col(0, "c", "d")}))


@pytest.mark.parametrize(
    "check, expected",
    [
        (CheckConfig("not_null", column="id"), 1),  # column names match case-insensitively, as in Athena
        (CheckConfig("not_null", column="amount"), 2),
        (CheckConfig("range", column="id", min=-5, max=40), 0),
        (CheckConfig("range", column="id", min=-4.5), None),  # a violation: the query counts the rows
        (CheckConfig("range", column="id", max=39), None),
        (CheckConfig("range", column="amount", min=0.5, max=100), 0),  # partition 2 holds only NULLs
        (CheckConfig("range", column="amount", max=99.98), None),
        (CheckConfig("range", column="score", min=0, max=10), None),  # floating point: NaN is not in the stats
        (CheckConfig("range", column="name", min=0), None),
        (CheckConfig("not_null", column="dt"), None),  # a partition key
        (CheckConfig("not_null", column="missing"), None),
        (CheckConfig("unique", columns=["id"]), None),
        (CheckConfig("accepted_values", column="name", values=["a"]), None),
        (CheckConfig("freshness", column="dt", max_age_hours=1), None),
    ],
)
def test_answers_only_what_the_statistics_say_exactly(check, expected):
    assert answer(check, M) == expected


def test_a_partition_without_a_null_count_or_with_values_but_no_min_max_is_not_answered():
    unknown = manifest((2, {"id": col(None, "1", "2")}))
    assert answer(CheckConfig("not_null", column="id"), unknown) is None
    no_minmax = manifest((2, {"id": col(1)}))  # one value, but no min/max recorded for it
    assert answer(CheckConfig("not_null", column="id"), no_minmax) == 1
    assert answer(CheckConfig("range", column="id", min=0), no_minmax) is None


def test_unanswered_leaves_row_count_change_to_the_manifest():
    checks = [
        CheckConfig("not_null", column="id"),
        CheckConfig("row_count_change", max_pct=5),
        CheckConfig("unique", columns=["id"]),
    ]
    assert [c.kind for c in unanswered(checks, M)] == ["unique"]
    assert [c.kind for c in unanswered(checks[:1], manifest())] == ["not_null"]  # no partitions: nothing to answer
