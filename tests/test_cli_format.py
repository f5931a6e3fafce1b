"""The CLI's output formats and its argument / config errors (no Spark: these paths never start a JVM)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import subprocess
import sys
import uuid
from decimal import Decimal

import boto3
import pytest

from conftest import events_table
from lakeloader.cli import main
from lakeloader.cli.format import render_report, render_rows
from lakeloader.validate import CheckResult, Report
from test_query_athena import athena_client, col, real, result, seed  # noqa: F401 (athena_client, real: fixtures)

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
    werkzeug = logging.getLogger("werkzeug")  # the in-process moto server logs every request at INFO
    wz_level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)
    yield
    werkzeug.setLevel(wz_level)
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
        "usage error: lakeloader run: the following arguments are required: --config (see --help)\n"
    )
    assert main(["run", "--config", "x.yaml"]) == 2
    assert capsys.readouterr().err == (
        "usage error: lakeloader run: one of the arguments --table --tables --all is required (see --help)\n"
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
    # An explicit --format wins over the file name; -v/-q work after the subcommand too.
    csv_named = tmp_path / "out.csv"
    assert main(["query", "--config", path, sql, "--format", "json", "--output", str(csv_named), "-q"]) == 0
    assert json.loads(csv_named.read_text(encoding="utf-8")) == [{"n": 1, "s": None, "d": 2.5, "day": "2026-01-02"}]
    assert main(["query", "--config", path, sql, "--format", "csv", "--output", str(out_file), "-v"]) == 0
    assert out_file.read_text(encoding="utf-8") == "n,s,d,day\n1,,2.50,2026-01-02\n"


def test_query_unknown_table(capsys, write_config):
    path = write_config({"events": events_table()})
    assert main(["-q", "query", "--config", path, "SELECT * FROM demo.nope"]) == 2
    assert capsys.readouterr().err == "query error: table demo.nope is not in the catalog\n"


def test_render_report_prints_bytes_scanned_when_known():
    checks = (CheckResult("c", "not_null", "id", "error", 0, "d"),)
    athena = Report("demo.events", "r1", 5, checks, 2, bytes_scanned=3 * 1024**2 + 1)
    assert render_report(athena).splitlines()[0] == (
        "validation of demo.events (5 rows, run r1, 2 queries, 3.0 MiB scanned)"
    )
    assert (
        render_report(Report("demo.events", "r1", 5, checks, 2, bytes_scanned=0))
        .splitlines()[0]
        .endswith("2 queries, 0 B scanned)")
    )
    assert Report("demo.events", "r1", 5, checks, 2).to_dict()["bytes_scanned"] is None


def test_failure_summary_names_kind_column_and_count():
    report = Report(
        "demo.events",
        "r1",
        9,
        (
            CheckResult("unique(id)", "unique", "id", "error", 2, "extra rows sharing a key"),
            CheckResult("regex(d)", "regex", "d", "warn", 4, "non-NULL values not matching '^a'"),
            CheckResult("freshness(ts)", "freshness", "ts", "error", 1, "newest ... is 30.0 h old; limit 24 h"),
        ),
        2,
    )
    assert report.failure_summary() == (
        "unique(id) 2 failing; freshness(ts) 1 failing (newest ... is 30.0 h old; limit 24 h)"
    )


# --------------------------------------------------------------------------- validate --report, query --output


def _bucket(endpoint: str) -> tuple[object, str]:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    name = f"lakeloader-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return s3, name


def _events(tmp_path, checks=None) -> dict:
    """The events table with two partitions of good rows in the tmp_path catalog."""
    from lakeloader.catalog.local import LocalCatalog
    from test_validate_engines import Part, write

    write(tmp_path, LocalCatalog(str(tmp_path / "catalog.sqlite")), [
        Part(["2026-01-01", "de"], [1, 2], device=["ios", "web"]),
        Part(["2026-01-02", "fr"], [3], device=["android"]),
    ])  # fmt: skip
    return {"events": events_table(**({"checks": checks} if checks is not None else {}))}


@pytest.mark.aws
def test_validate_report_to_s3(capsys, write_config, tmp_path, moto_endpoint):
    s3, bucket = _bucket(moto_endpoint)
    aws = {"region": "us-east-1", "endpoint_url": moto_endpoint}
    path = write_config(_events(tmp_path), aws=aws)
    uri = f"s3://{bucket}/reports/events/r.json"
    assert main(["-q", "validate", "--config", path, "--table", "events", "--report", uri]) == 0
    assert "all checks passed" in capsys.readouterr().out
    report = json.loads(s3.get_object(Bucket=bucket, Key="reports/events/r.json")["Body"].read())
    assert (report["passed"], report["rows"], report["queries"], report["bytes_scanned"]) == (True, 3, 1, None)
    # A failing check: exit 1 naming it, and the report is written all the same.
    path = write_config(
        _events(tmp_path, [{"kind": "accepted_values", "column": "device", "values": ["ios"]}]), aws=aws
    )
    assert main(["-q", "validate", "--config", path, "--table", "events", "--report", uri]) == 1
    assert capsys.readouterr().err == "validation failed: demo.events: accepted_values(device) 2 failing\n"
    report = json.loads(s3.get_object(Bucket=bucket, Key="reports/events/r.json")["Body"].read())
    assert report["passed"] is False and report["checks"][0]["failing"] == 2


def test_validate_report_to_a_local_file(capsys, write_config, tmp_path):
    path = write_config(_events(tmp_path))
    out = tmp_path / "report #1.json"  # '#' would be cut off by a URI parser
    assert main(["-q", "validate", "--config", path, "--table", "events", "--report", str(out)]) == 0
    assert json.loads(out.read_text())["checks"][0]["name"] == "not_null(event_id)"
    missing = tmp_path / "no" / "such" / "dir" / "r.json"
    assert main(["-q", "validate", "--config", path, "--table", "events", "--report", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage error: --report {missing}: cannot write (") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("dest", "message"),
    [
        ("gs://b/r.json", "usage error: --report gs://b/r.json: use a local path, file:// or s3://bucket/key"),
        ("s3://bucket", "usage error: --report s3://bucket: name a file, e.g. s3://bucket/reports/report.json"),
        ("s3://bucket/reports/", "usage error: --report s3://bucket/reports/: name a file, e.g. s3://bucket/"),
    ],
)
def test_validate_report_destination_is_checked_before_anything_runs(capsys, tmp_path, dest, message):
    # The config does not even exist: the destination is refused first.
    assert main(["validate", "--config", str(tmp_path / "none.yaml"), "--table", "t", "--report", dest]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


@pytest.mark.aws
def test_validate_report_to_a_missing_bucket(capsys, write_config, tmp_path, moto_endpoint):
    path = write_config(_events(tmp_path), aws={"region": "us-east-1", "endpoint_url": moto_endpoint})
    uri = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/r.json"
    assert main(["-q", "validate", "--config", path, "--table", "events", "--report", uri]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage error: --report {uri}: cannot write (") and err.count("\n") == 1
    assert err.count(uri) == 1 and "NoSuchBucket" in err  # the store's answer, the URI named once


@pytest.mark.aws
def test_query_output_to_s3_with_duckdb_is_rendered(capsys, write_config, tmp_path, moto_endpoint):
    s3, bucket = _bucket(moto_endpoint)
    path = write_config(_events(tmp_path), aws={"region": "us-east-1", "endpoint_url": moto_endpoint})
    sql = "SELECT country, count(*) AS n FROM demo.events GROUP BY country ORDER BY country"
    assert main(["-q", "query", "--config", path, sql, "--output", f"s3://{bucket}/out/q.csv"]) == 0
    assert s3.get_object(Bucket=bucket, Key="out/q.csv")["Body"].read() == b"country,n\nde,2\nfr,1\n"
    assert main(["-q", "query", "--config", path, sql, "--output", f"s3://{bucket}/out/q.json"]) == 0
    body = s3.get_object(Bucket=bucket, Key="out/q.json")["Body"].read()
    assert json.loads(body) == [{"country": "de", "n": 2}, {"country": "fr", "n": 1}]


@pytest.fixture
def athena_config(write_config, moto_endpoint, request):
    """A config with engine athena against the moto server, results in a fresh bucket; (config path, s3, bucket)."""
    request.getfixturevalue("real")  # drains moto's queue of seeded results
    s3, bucket = _bucket(moto_endpoint)
    path = write_config(
        {"events": events_table()},
        aws={"region": "us-east-1", "endpoint_url": moto_endpoint},
        catalog={"kind": "glue"},
        query={"engine": "athena", "output_location": f"s3://{bucket}/athena/"},
    )
    return path, s3, bucket


def _athena_csv(s3, bucket: str) -> bytes:
    (key,) = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="athena/")["Contents"]]
    assert key.endswith(".csv")
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


@pytest.mark.aws
def test_query_output_with_athena_copies_the_result_csv(capsys, athena_config, moto_endpoint, tmp_path):
    path, s3, bucket = athena_config
    seed(moto_endpoint, result([col("n", "bigint"), col("s", "varchar")], [["1", None], ["2", 'a "b", c']]))
    assert (
        main(["-q", "query", "--config", path, "SELECT n, s FROM demo.t", "--output", f"s3://{bucket}/out/q.csv"]) == 0
    )
    written = _athena_csv(s3, bucket)
    # Byte for byte Athena's file (every value quoted, NULL empty), not lakeloader's rendering of the rows.
    assert s3.get_object(Bucket=bucket, Key="out/q.csv")["Body"].read() == written
    assert written.startswith(b'"n","s"\n"1",\n') and written != render_rows(["n", "s"], [(1, None)], "csv").encode()
    assert capsys.readouterr().out == ""


@pytest.mark.aws
def test_query_output_with_athena_to_a_local_file_and_as_json(capsys, athena_config, moto_endpoint, tmp_path):
    path, s3, bucket = athena_config
    seed(moto_endpoint, result([col("day", "date"), col("n", "bigint")], [["2026-01-02", "7"]]))
    out = tmp_path / "q.csv"
    assert main(["-q", "query", "--config", path, "SELECT day, n FROM demo.t", "--output", str(out)]) == 0
    assert out.read_bytes() == _athena_csv(s3, bucket) == b'"day","n"\n"2026-01-02","7"\n'
    # JSON is not what Athena writes: the typed rows are rendered.
    seed(moto_endpoint, result([col("day", "date"), col("n", "bigint")], [["2026-01-02", "7"]]))
    out = tmp_path / "q.json"
    assert main(["-q", "query", "--config", path, "SELECT day, n FROM demo.t", "--output", str(out)]) == 0
    assert json.loads(out.read_text()) == [{"day": "2026-01-02", "n": 7}]


@pytest.mark.aws
def test_query_output_with_athena_copy_errors_are_one_line(capsys, athena_config, moto_endpoint, tmp_path):
    path, _, _ = athena_config
    seed(moto_endpoint, result([col("n", "bigint")], [["1"]]))
    missing = tmp_path / "no" / "dir" / "q.csv"
    assert main(["-q", "query", "--config", path, "SELECT 1", "--output", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage error: --output {missing}: cannot copy s3://") and err.count("\n") == 1


@pytest.mark.aws
@pytest.mark.usefixtures("real")
def test_query_output_with_athena_without_a_result_location_renders(capsys, write_config, moto_endpoint, tmp_path):
    aws = {"region": "us-east-1", "endpoint_url": moto_endpoint}
    path = write_config({"events": events_table()}, aws=aws, catalog={"kind": "glue"}, query={"engine": "athena"})
    seed(moto_endpoint, result([col("n", "bigint")], [["1"]]))
    out = tmp_path / "q.csv"
    assert main(["-q", "query", "--config", path, "SELECT 1 AS n", "--output", str(out)]) == 0
    assert out.read_text() == "n\n1\n"


def test_query_does_not_load_spark(tmp_path, write_config):
    """`lakeloader query` is DuckDB (or Athena) and the catalog: starting it must not import pyspark."""
    path = write_config({"events": events_table()})
    code = (
        "import sys\nfrom lakeloader.cli import main\n"
        f"rc = main(['-q', 'query', '--config', {path!r}, 'SELECT 1 AS n', '--format', 'csv'])\n"
        "assert rc == 0, rc\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'pyspark'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.splitlines() == ["n", "1", "[]"]
