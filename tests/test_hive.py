"""Hive-compatible partition path escaping: pure functions, no SparkSession."""

from __future__ import annotations

import pytest

from lakeloader.hive import (
    HIVE_DEFAULT_PARTITION,
    catalog_value,
    escape_path_name,
    parse_partition_path,
    partition_path,
    unescape_path_name,
)

HOSTILE = [
    "a/b",
    "x=y",
    "10:30",
    "100%",
    "#1",
    "it's",
    'say "hi"',
    "back\\slash",
    "..",
    ".",
    "two  spaces ",
    "Zürich",
    "東京",
    "tab\there",
    "line\nbreak",
    "\x01\x1f\x7f",
    "{[]}^*?",
    "%2F",  # already looks escaped: must survive as the literal text
    "%",
    "a%zz",
    "__HIVE_DEFAULT_PARTITION__x",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_escape_unescape_round_trip(value):
    escaped = escape_path_name(value)
    assert "/" not in escaped
    assert unescape_path_name(escaped) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a/b", "a%2Fb"),
        ("é x=%#'\"\\:", "é x%3D%25%23%27%22%5C%3A"),
        ("{[]}^*?", "%7B%5B%5D}%5E%2A%3F"),
        ("Zürich", "Zürich"),  # Hive leaves non-ASCII alone
        ("東京", "東京"),
        ("a b", "a b"),
        ("..", ".."),
        ("tab\t\x01\x7f", "tab%09%01%7F"),
        ("2026-01-01", "2026-01-01"),
        ("%2F", "%252F"),
        ("plain_Value-1.5~!@$&()+,;<>|`", "plain_Value-1.5~!@$&()+,;<>|`"),
    ],
)
def test_escape_matches_hive(value, expected):
    assert escape_path_name(value) == expected


@pytest.mark.parametrize("value", [None, ""])
def test_catalog_value_null_and_empty_are_default_partition(value):
    assert catalog_value(value) == "__HIVE_DEFAULT_PARTITION__"
    assert HIVE_DEFAULT_PARTITION == "__HIVE_DEFAULT_PARTITION__"


@pytest.mark.parametrize("value", ["x", " ", "0", "null", "NULL", "__HIVE_DEFAULT_PARTITION__"])
def test_catalog_value_keeps_other_values(value):
    assert catalog_value(value) == value


def test_partition_path_layout():
    assert partition_path(["dt", "country"], ["2026-01-01", "a/b"]) == "dt=2026-01-01/country=a%2Fb"
    assert partition_path(["dt", "country"], ["2026-01-01", None]) == "dt=2026-01-01/country=__HIVE_DEFAULT_PARTITION__"
    assert partition_path(["c"], [""]) == "c=__HIVE_DEFAULT_PARTITION__"
    assert partition_path(["k=v"], ["x"]) == "k%3Dv=x"


@pytest.mark.parametrize("value", HOSTILE)
def test_partition_path_round_trip(value):
    names = ["dt", "country", "bucket"]
    values = ["2026-01-01", value, "7"]
    path = partition_path(names, values)
    assert path.count("/") == 2
    assert parse_partition_path(path) == list(zip(names, values, strict=False))


def test_parse_partition_path_default_partition_and_slashes():
    assert parse_partition_path("/dt=2026-01-01/country=__HIVE_DEFAULT_PARTITION__/") == [
        ("dt", "2026-01-01"),
        ("country", "__HIVE_DEFAULT_PARTITION__"),
    ]
    assert parse_partition_path("a=x%3Dy=z") == [("a", "x=y=z")]  # first '=' separates name and value


def test_parse_partition_path_rejects_non_partition_segment():
    with pytest.raises(ValueError, match="not a partition directory: '_v'"):
        parse_partition_path("dt=2026-01-01/_v")


def test_case_distinct_values_stay_distinct():
    assert escape_path_name("a") != escape_path_name("A")
    assert partition_path(["c"], ["a"]) == "c=a"
    assert partition_path(["c"], ["A"]) == "c=A"
    assert parse_partition_path("c=A") == [("c", "A")]
    # Hive's escape is upper-case hex; unescape accepts either case.
    assert unescape_path_name("a%2fb") == "a/b"
