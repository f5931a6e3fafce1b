"""The CLI's output formats and its argument / config errors (no Spark: these paths never start a JVM)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
from decimal import Decimal

import pytest

from conftest import events_table
from lakeloader.cli import main, render_report, render_rows
from lakeloader.validate import CheckResult, Report

COLUMNS = ["id", "name", "amount", "day", "ts"]
ROWS = [
    (1, "plain", Decimal("1.10"), dt.date(2026, 1, 2), dt.datetime(2026, 1, 2, 3, 4, 5)),
    (2, 'comma, "quote"', Decimal("12345678901234567.89"), None, None),
    (3, None, Decimal("-0.01"), dt.date(1999, 12, 31), dt.datetime(2026, 1, 2, 3, 4, 5, 600000)),
]


@pytest.fixture(autouse=True)
def restore_logging():
    """main() installs a stderr handler on the root logger; keep it from leaking into other tests."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    ll_level = logging.getLogger("lakeloader").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("lakeloader").setLevel(ll_level)


# --------------------------------------------------------------------------- render_rows


def test_csv_header_then_rows():
    text = render_rows(COLUMNS, ROWS, "csv")
    assert text.splitlines()[0] == "id,name,amount,day,ts"
    assert list(csv.reader(io.StringIO(text))) == [
        COLUMNS,
        ["1", "plain", "1.10", "2026-01-02", "2026-01-02 03:04:05"],
        ["2", 'comma, "quote"', "12345678901234567.89", "", ""],
        ["3", "", "-0.01", "1999-12-31", "2026-01-02 03:04:05.600000"],
    ]
    assert text.splitlines()[2] == '2,"comma, ""quote""",12345678901234567.89,,'
    assert text.endswith("\n") and "\r" not in text


def test_csv_no_rows_is_just_the_header():
    assert render_rows(["a", "b"], [], "csv") == "a,b\n"


def test_json_one_array_of_objects():
    text = render_rows(COLUMNS, ROWS, "json")
    assert text.endswith("\n") and text.count("\n") == 1
    data = json.loads(text)
    assert data == [
        {"id": 1, "name": "plain", "amount": 1.1, "day": "2026-01-02", "ts": "2026-01-02 03:04:05"},
        {"id": 2, "name": 'comma, "quote"', "amount": "12345678901234567.89", "day": None, "ts": None},
        {"id": 3, "name": None, "amount": -0.01, "day": "1999-12-31", "ts": "2026-01-02 03:04:05.600000"},
    ]


@pytest.mark.parametrize(
    "value",
    [
        Decimal("1.10"),
        Decimal("0.1"),
        Decimal("-0.01"),
        Decimal("12345678901234567.89"),
        Decimal("1E+30"),
        Decimal("3"),
    ],
)
def test_json_decimals_are_exact(value):
    (out,) = json.loads(render_rows(["x"], [(value,)], "json"), parse_float=Decimal, parse_int=Decimal)
    got = out["x"]
    assert Decimal(got) == value


def test_json_keeps_non_ascii_and_bytes():
    text = render_rows(["city", "raw"], [("Zürich 東京", b"\x00\xff")], "json")
    assert "Zürich 東京" in text  # not \u-escaped
    assert json.loads(text) == [{"city": "Zürich 東京", "raw": "00ff"}]


def test_json_no_rows():
    assert render_rows(["a"], [], "json") == "[]\n"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([Decimal("1.5"), Decimal("2")], [1.5, 2]),
        ({"d": dt.date(2026, 1, 2)}, {"d": "2026-01-02"}),
        (dt.time(10, 30), "10:30:00"),
    ],
)
def test_json_nested_and_other_types(value, expected):
    assert json.loads(render_rows(["v"], [(value,)], "json")) == [{"v": expected}]


def test_table_format():
    text = render_rows(["id", "name", "amount"], [(1, "a", Decimal("1.10")), (22, None, None)], "table")
    assert text == ("id  name  amount\n--  ----  ------\n1   a     1.10\n22  NULL  NULL\n(2 rows)\n")


def test_table_format_dates_iso():
    text = render_rows(["d", "t"], [(dt.date(2026, 1, 2), dt.datetime(2026, 1, 2, 3, 4, 5))], "table")
    assert text.splitlines()[2] == "2026-01-02  2026-01-02 03:04:05"


def test_table_format_no_rows():
    assert render_rows(["a"], [], "table") == "a\n-\n(0 rows)\n"


# --------------------------------------------------------------------------- render_report


def test_render_report():
    report = Report(
        table="demo.events",
        run_id="r1",
        rows=10,
        results=(
            CheckResult("not_null(id)", "not_null", "id", "error", 0, "rows with NULL"),
            CheckResult("unique(id)", "unique", "id", "error", 2, "extra rows sharing a key"),
            CheckResult("range(x)", "range", "x", "warn", 1, "between 0 and 1"),
        ),
        queries=2,
    )
    lines = render_report(report).splitlines()
    assert lines[0] == "validation of demo.events (10 rows, run r1, 2 queries)"
    assert lines[1].split() == ["check", "severity", "failing", "result", "detail"]
    assert lines[3].split()[:4] == ["not_null(id)", "error", "0", "PASS"]
    assert lines[4].split()[:4] == ["unique(id)", "error", "2", "FAIL"]
    assert lines[5].split()[:4] == ["range(x)", "warn", "1", "WARN"]
    assert lines[-1] == "1 check(s) failed, 1 warning(s)"


def test_render_report_all_passed_without_run():
    report = Report("demo.events", None, 0, (CheckResult("c", "not_null", "id", "error", 0, "d"),), 1)
    text = render_report(report)
    assert text.splitlines()[0] == "validation of demo.events (0 rows, run -, 1 queries)"
    assert text.splitlines()[-1] == "all checks passed"


# --------------------------------------------------------------------------- main: exit codes, one-line errors


def test_help(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: lakeloader")
    for command in ("run", "validate", "query"):
        assert command in out


def test_subcommand_help(capsys):
    assert main(["query", "--help"]) == 0
    assert "--format {table,csv,json}" in capsys.readouterr().out


def test_no_command(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage error: lakeloader: ")
    assert err.count("\n") == 1


def test_run_missing_arguments(capsys):
    assert main(["run"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "usage error: lakeloader run: the following arguments are required: --config, --table (see --help)\n"
    )


def test_run_bad_date(capsys):
    assert main(["run", "--config", "x", "--table", "t", "--run-date", "2026-13-01"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("usage error: lakeloader run: argument --run-date: ")
    assert "'2026-13-01' is not a date as YYYY-MM-DD" in err


def test_query_missing_config(capsys, tmp_path):
    missing = tmp_path / "nope.yaml"
    assert main(["query", "--config", str(missing), "SELECT 1"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"config error: {missing}: file not found\n"


def test_run_wrong_table_name_fails_before_spark(capsys, write_config):
    path = write_config({"events": events_table()})
    assert main(["run", "--config", path, "--table", "evnts"]) == 2
    err = capsys.readouterr().err
    assert err == (f"config error: {path}: no table 'evnts' under 'tables' (did you mean 'events'?) (tables: events)\n")


def test_query_formats(capsys, write_config, tmp_path):
    path = write_config({"events": events_table()})
    sql = "SELECT 1 AS n, CAST(NULL AS VARCHAR) AS s, CAST('2.50' AS DECIMAL(4, 2)) AS d, DATE '2026-01-02' AS day"
    assert main(["-q", "query", "--config", path, sql, "--format", "csv"]) == 0
    assert capsys.readouterr().out == "n,s,d,day\n1,,2.50,2026-01-02\n"
    assert main(["-q", "query", "--config", path, sql, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 1, "s": None, "d": 2.5, "day": "2026-01-02"}]
    out_file = tmp_path / "out.json"
    assert main(["-q", "query", "--config", path, sql, "--output", str(out_file)]) == 0
    assert json.loads(out_file.read_text(encoding="utf-8")) == [{"n": 1, "s": None, "d": 2.5, "day": "2026-01-02"}]


def test_query_unknown_table(capsys, write_config):
    path = write_config({"events": events_table()})
    assert main(["-q", "query", "--config", path, "SELECT * FROM demo.nope"]) == 2
    assert capsys.readouterr().err == "query error: table demo.nope is not in the catalog\n"
