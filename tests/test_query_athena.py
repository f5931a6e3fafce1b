"""AthenaEngine against a moto server: moto runs no SQL, it hands out result sets seeded through its API.

Seeded result sets sit in one queue per account and region; each StartQueryExecution takes the next one
(a query started while the queue is empty takes one at its first GetQueryResults, or none). Moto returns
a result set exactly as seeded, in one response: it ignores MaxResults and never sends a NextToken, so
Athena's paging is emulated by a wrapping client here.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any, Optional

import pytest
from botocore.exceptions import ClientError

from lakeloader import aws
from lakeloader.catalog import open_catalog
from lakeloader.config import AwsConfig, QueryConfig, parse_config
from lakeloader.errors import QueryError
from lakeloader.query import open_engine
from lakeloader.query.athena import DEFAULT_POLL, AthenaEngine
from lakeloader.query.sql import sql_literal
from lakeloader.retry import Backoff

pytestmark = pytest.mark.aws

ACCOUNT = "123456789012"  # moto's default account for the test credentials
REGION = "us-east-1"

Hook = Callable[[int, dict, Callable[..., dict]], dict]


class FaultyClient:
    """Delegates to a real (moto-backed) Athena client; `hooks[method](n, kwargs, real)` may change the answer.

    `n` counts calls of that method from 1; `calls` counts every call, `requests` keeps each call's kwargs.
    """

    def __init__(self, real: Any, hooks: Optional[dict[str, Hook]] = None) -> None:
        self.real, self.hooks = real, dict(hooks or {})
        self.calls: Counter = Counter()
        self.requests: dict[str, list[dict]] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if not callable(attr) or name in ("get_paginator", "meta"):
            return attr

        def call(**kwargs: Any) -> Any:
            self.calls[name] += 1
            self.requests.setdefault(name, []).append(kwargs)
            hook = self.hooks.get(name)
            return hook(self.calls[name], kwargs, attr) if hook else attr(**kwargs)

        return call


def athena_paging(n: int, kwargs: dict, real: Callable[..., dict]) -> dict:
    """GetQueryResults as Athena pages it: MaxResults rows a page, header row counted on the first."""
    kwargs = dict(kwargs)  # the wrapper keeps the caller's kwargs: leave them as sent
    token = kwargs.pop("NextToken", None)
    size = kwargs.pop("MaxResults")
    full = real(**kwargs)
    start = int(token or 0)
    rows = full["ResultSet"]["Rows"]
    page = {"ResultSet": {**full["ResultSet"], "Rows": rows[start : start + size]}}
    if start + size < len(rows):
        page["NextToken"] = str(start + size)
    return page


def with_state(state: str, **status: Any) -> Hook:
    """A GetQueryExecution hook reporting `state` (and extra Status fields) instead of moto's."""

    def hook(n: int, kwargs: dict, real: Callable[..., dict]) -> dict:
        resp = real(**kwargs)
        resp["QueryExecution"]["Status"] = {"State": state, **status}
        return resp

    return hook


class FakeTime:
    """A clock that only moves when slept on; records every sleep."""

    def __init__(self, interrupt_at: Optional[int] = None) -> None:
        self.now, self.sleeps, self.interrupt_at = 1000.0, [], interrupt_at

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.interrupt_at is not None and len(self.sleeps) >= self.interrupt_at:
            raise KeyboardInterrupt
        self.now += seconds

    def policy(self) -> Backoff:
        return replace(DEFAULT_POLL, sleep=self.sleep, clock=self.clock)


# --------------------------------------------------------------------------- seeding


def seed(endpoint: str, *results: dict) -> None:
    """Queue result sets on the moto server, for the next queries in order."""
    body = json.dumps({"account_id": ACCOUNT, "region": REGION, "results": list(results)}).encode()
    req = urllib.request.Request(
        f"{endpoint}/moto-api/static/athena/query-results",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 201


def result(column_info: list[dict], rows: list[list[Optional[str]]], header: bool = True) -> dict:
    """A seeded result set; with `header`, the label row first, as Athena returns a SELECT's results."""
    data = ([[c["Name"] for c in column_info]] if header else []) + rows
    return {
        "rows": [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in data],
        "column_info": [{"Label": c["Name"], **c} for c in column_info],
    }


def col(name: str, type_: str, **extra: Any) -> dict:
    return {"Name": name, "Type": type_, **extra}


@pytest.fixture(scope="module")
def athena_client(moto_endpoint: str) -> Any:
    """One moto-backed Athena client for the module (building a boto3 client takes ~0.2 s)."""
    return aws.client("athena", AwsConfig(endpoint_url=moto_endpoint, region=REGION))


@pytest.fixture
def real(moto_endpoint: str, athena_client: Any) -> Any:
    """The moto-backed Athena client, with the server's queue of seeded results drained first."""
    client = athena_client
    marker = f"drain-{uuid.uuid4().hex}"
    seed(moto_endpoint, result([col("m", "varchar")], [[marker]], header=False))
    for _ in range(1000):  # leftovers of an earlier failed test come out before the marker
        qid = client.start_query_execution(QueryString="SELECT 1", WorkGroup="primary")["QueryExecutionId"]
        rows = client.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"]
        if rows and rows[0]["Data"][0].get("VarCharValue") == marker:
            return client
    raise AssertionError("could not drain moto's Athena result queue")


def engine(real: Any, hooks: Optional[dict[str, Hook]] = None, **kw: Any) -> tuple[AthenaEngine, FaultyClient]:
    client = FaultyClient(real, hooks)
    query = kw.pop("query", QueryConfig(engine="athena"))
    return AthenaEngine(AwsConfig(region=REGION), query, client=client, **kw), client


# --------------------------------------------------------------------------- results and types


# (column, Athena's text in row 1, its Python value, text in row 2, its value); row 3 is all NULL.
TYPED = [
    (col("s", "varchar"), "it's", "it's", "", ""),  # an empty string is not NULL
    (col("c", "char", Precision=3), "ab ", "ab ", "x", "x"),
    (col("ti", "tinyint"), "-128", -128, "0", 0),
    (col("si", "smallint"), "32767", 32767, "0", 0),
    (col("i", "integer"), "-2147483648", -2147483648, "0", 0),
    (col("bi", "bigint"), "9223372036854775807", 9223372036854775807, "-1", -1),
    (col("d", "double"), "1.5", 1.5, "1.0E10", 1e10),
    (col("f", "float"), "2.25", 2.25, "Infinity", float("inf")),
    (col("r", "real"), "-0.5", -0.5, "-Infinity", float("-inf")),
    (col("dec", "decimal", Precision=38, Scale=2), "12345678901234567890.10", Decimal("12345678901234567890.10"),
     "-0.01", Decimal("-0.01")),
    (col("b", "boolean"), "true", True, "false", False),
    (col("day", "date"), "2026-01-31", dt.date(2026, 1, 31), "1970-01-01", dt.date(1970, 1, 1)),
    (col("ts", "timestamp"), "2026-01-31 23:59:58.123", dt.datetime(2026, 1, 31, 23, 59, 58, 123000),
     "2026-02-01 00:00:00.000", dt.datetime(2026, 2, 1)),
    (col("arr", "array"), "[1, 2]", "[1, 2]", "[]", "[]"),
    (col("m", "map"), "{a=1, b=2}", "{a=1, b=2}", "{}", "{}"),
    (col("rw", "row"), "{x=1, y=abc}", "{x=1, y=abc}", "{x=null}", "{x=null}"),
    (col("j", "json"), '{"k": [1, null]}', '{"k": [1, null]}', "null", "null"),
]  # fmt: skip


def test_values_are_typed_by_their_columns(moto_endpoint, real):
    columns = [t[0] for t in TYPED]
    rows = [[t[1] for t in TYPED], [t[3] for t in TYPED], [None] * len(TYPED)]
    seed(moto_endpoint, result(columns, rows))
    res = engine(real)[0].query("SELECT * FROM demo.t")
    assert res.columns == [c["Name"] for c in columns]
    first, second, nulls = res.rows
    assert first == tuple(t[2] for t in TYPED)
    assert second == tuple(t[4] for t in TYPED)
    assert nulls == (None,) * len(TYPED)
    for row, expected in ((first, 2), (second, 4)):
        assert [type(v) for v in row] == [type(t[expected]) for t in TYPED]  # True is not 1, 1.5 not Decimal
    assert str(first[9]) == "12345678901234567890.10"  # exact, scale kept: no float on the way


def test_nan_double(moto_endpoint, real):
    seed(moto_endpoint, result([col("d", "double")], [["NaN"]]))
    (value,) = engine(real)[0].query("SELECT d FROM demo.t").rows[0]
    assert isinstance(value, float) and value != value


@pytest.mark.parametrize(
    "type_, text, expected",
    [
        ("timestamp", "2026-01-31 12:00:00", dt.datetime(2026, 1, 31, 12)),
        ("timestamp", "2026-01-31 12:00:00.123456", dt.datetime(2026, 1, 31, 12, 0, 0, 123456)),
        ("timestamp", "2026-01-31 12:00:00.123456789", dt.datetime(2026, 1, 31, 12, 0, 0, 123456)),  # ns cut
        ("timestamp(3)", "2026-01-31 12:00:00.5", dt.datetime(2026, 1, 31, 12, 0, 0, 500000)),
        ("timestamp with time zone", "2026-01-31 12:00:00.000 UTC", "2026-01-31 12:00:00.000 UTC"),
        ("time", "23:59:59.250", dt.time(23, 59, 59, 250000)),
        ("date", "10000-01-01", "10000-01-01"),  # beyond Python's dates: Athena's text
        ("decimal(10,3)", "-1.500", Decimal("-1.500")),
        ("varbinary", "68 65", "68 65"),
        ("unknown", None, None),  # the type of a bare NULL
        ("interval day to second", "1 02:03:04.000", "1 02:03:04.000"),
    ],
)
def test_more_types(moto_endpoint, real, type_, text, expected):
    seed(moto_endpoint, result([col("v", type_)], [[text]]))
    value = engine(real)[0].query("SELECT v FROM demo.t").rows[0][0]
    assert value == expected and type(value) is type(expected)


def test_a_value_that_does_not_fit_its_type_is_a_query_error(moto_endpoint, real):
    seed(moto_endpoint, result([col("n", "bigint")], [["12x"]]))
    with pytest.raises(QueryError) as e:
        engine(real)[0].query("SELECT n FROM demo.t")
    assert "column 'n' is bigint, but its value '12x' does not read as one" in str(e.value)


# --------------------------------------------------------------------------- header row


@pytest.mark.parametrize(
    "seeded, expected",
    [
        # Athena: labels first. moto: whatever was seeded, so also no header at all.
        (result([col("a", "varchar"), col("n", "bigint")], [["x", "1"], ["y", "2"]]), [("x", 1), ("y", 2)]),
        (result([col("a", "varchar"), col("n", "bigint")], [["x", "1"]], header=False), [("x", 1)]),
        (result([col("a", "varchar"), col("n", "bigint")], []), []),  # a SELECT with no rows: header only
        (result([col("a", "varchar")], [["a"], ["a"]]), [("a",), ("a",)]),  # data equal to labels, after header
        (result([col("a", "varchar")], [[None]], header=False), [(None,)]),  # NULL is never a label
        ({"rows": [], "column_info": []}, []),
    ],
)
def test_header_row_is_skipped_only_when_it_holds_the_labels(moto_endpoint, real, seeded, expected):
    seed(moto_endpoint, seeded)
    assert engine(real)[0].query("SELECT * FROM demo.t").rows == expected


def test_result_without_column_info_is_text_and_header_matches_labels(moto_endpoint, real):
    seed(
        moto_endpoint,
        {"rows": [{"Data": [{"VarCharValue": "Count"}]}, {"Data": [{"VarCharValue": "3"}]}], "column_info": []},
    )
    seeded = {
        "rows": [{"Data": [{"VarCharValue": "_col0"}]}, {"Data": [{"VarCharValue": "3"}]}],
        "column_info": [{"Name": "_col0", "Label": "_col0", "Type": "bigint"}],
    }
    seed(moto_endpoint, seeded)
    eng, _ = engine(real)
    assert eng.query("SELECT 1").rows == [("Count",), ("3",)]  # no column info: text, nothing taken as header
    res = eng.query("SELECT count(*) FROM demo.t")
    assert (res.columns, res.rows) == (["_col0"], [(3,)])


def test_no_result_seeded_gives_no_rows(real):
    res = engine(real)[0].query("SELECT 1")
    assert (res.columns, res.rows) == ([], [])


# --------------------------------------------------------------------------- pagination


def test_pages_are_followed_and_only_the_first_has_a_header(moto_endpoint, real):
    n = 2500
    rows = [[f"v{i}", str(i)] for i in range(n)]
    rows[999] = ["a", "n"]  # row 1000 overall (header first): the first row of page 2 equals the labels
    seed(moto_endpoint, result([col("a", "varchar"), col("n", "varchar")], rows))
    eng, client = engine(real, {"get_query_results": athena_paging})
    res = eng.query("SELECT a, n FROM demo.t")
    assert len(res.rows) == n and res.rows[999] == ("a", "n") and res.rows[-1] == ("v2499", "2499")
    calls = client.requests["get_query_results"]
    assert [c.get("NextToken") for c in calls] == [None, "1000", "2000"]
    assert {c["MaxResults"] for c in calls} == {1000}


def test_small_page_size(moto_endpoint, real):
    seed(moto_endpoint, result([col("n", "integer")], [[str(i)] for i in range(20)]))
    eng, client = engine(real, {"get_query_results": athena_paging}, page_size=7)
    assert [r[0] for r in eng.query("SELECT n FROM demo.t").rows] == list(range(20))
    assert client.calls["get_query_results"] == 3  # 21 rows with the header: 7 + 7 + 7


def test_more_than_1000_rows_from_moto(moto_endpoint, real):
    # Moto sends every seeded row in one response, whatever MaxResults says.
    seed(moto_endpoint, result([col("n", "bigint")], [[str(i)] for i in range(1500)]))
    eng, client = engine(real)
    assert [r[0] for r in eng.query("SELECT n FROM demo.t").rows] == list(range(1500))
    assert client.calls["get_query_results"] == 1


def test_page_size_is_bounded(real):
    with pytest.raises(ValueError):
        engine(real, page_size=1001)


# --------------------------------------------------------------------------- requests and parameters


def test_parameters_travel_as_sql_literals_never_in_the_sql(real):
    eng, client = engine(real)
    sql = "SELECT count(*) FROM demo.t WHERE a = ? AND b IN (?, ?, ?, ?) AND c < ? AND d = ? AND e > ?"
    params = [
        "it's",
        "'; DROP TABLE demo.t; --",
        'say "hi" \\ ?',
        "",
        None,
        Decimal("12.50"),
        dt.date(2026, 1, 31),
        dt.datetime(2026, 1, 31, 12, 30, 5, 250000),
    ]
    eng.query(sql, params)
    (request,) = client.requests["start_query_execution"]
    assert request["QueryString"] == sql
    expected = [
        "'it''s'",
        "'''; DROP TABLE demo.t; --'",
        "'say \"hi\" \\ ?'",
        "''",
        "NULL",
        "12.50",
        "DATE '2026-01-31'",
        "TIMESTAMP '2026-01-31 12:30:05.250000'",
    ]
    assert request["ExecutionParameters"] == expected
    # ... and that is what the server received.
    qid = eng.last_execution.query_id
    assert real.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["ExecutionParameters"] == expected


@pytest.mark.parametrize(
    "value, literal",
    [
        (42, "42"),
        (-7, "-7"),
        (2**63 - 1, "9223372036854775807"),
        (1.5, "1.5E0"),  # a DOUBLE literal; plain 1.5 is a DECIMAL in Trino
        (100.0, "100.0E0"),
        (1e20, "1E+20"),
        (-2.5e-7, "-2.5E-07"),
        (Decimal("1E+2"), "100"),  # never exponent form: that would be a DOUBLE
        (Decimal("-0.001"), "-0.001"),
        (True, "true"),
        (False, "false"),
        (None, "NULL"),
        ("Zürich 東京", "'Zürich 東京'"),
        ("a\nb", "'a\nb'"),
        (dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30))),
         "TIMESTAMP '2026-01-02 03:04:05.000000 -05:30'"),
        (dt.time(1, 2, 3), "TIME '01:02:03.000000'"),
        (b"\x00\xff", "X'00ff'"),
    ],
)  # fmt: skip
def test_sql_literal(value, literal):
    assert sql_literal(value) == literal


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), Decimal("NaN"), object(), [1, 2]])
def test_values_without_a_literal_are_refused_before_anything_runs(real, bad):
    eng, client = engine(real)
    with pytest.raises(QueryError) as e:
        eng.query("SELECT 1 WHERE x = ? AND y = ?", ["ok", bad])
    assert "query parameter 2" in str(e.value)
    assert client.calls["start_query_execution"] == 0 and eng.queries_issued == 0


def test_request_shape(real):
    eng, client = engine(real)
    eng.query("SELECT 1")
    (plain,) = client.requests["start_query_execution"]
    assert plain == {
        "QueryString": "SELECT 1",
        "WorkGroup": "primary",
        "QueryExecutionContext": {"Catalog": "AwsDataCatalog"},
    }  # no ExecutionParameters without parameters: Athena refuses an empty list
    query = QueryConfig(engine="athena", workgroup="primary", output_location="s3://results/athena/")
    eng, client = engine(real, query=query, database="demo")
    eng.query("SELECT 1")
    (full,) = client.requests["start_query_execution"]
    assert full["QueryExecutionContext"] == {"Catalog": "AwsDataCatalog", "Database": "demo"}
    assert full["ResultConfiguration"] == {"OutputLocation": "s3://results/athena/"}


def test_last_execution_and_result_csv_location(moto_endpoint, real):
    s3 = aws.client("s3", AwsConfig(endpoint_url=moto_endpoint, region=REGION))
    bucket = f"results-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    seed(moto_endpoint, result([col("n", "bigint")], [["7"]]))
    stats = {"DataScannedInBytes": 123456789, "EngineExecutionTimeInMillis": 812, "TotalExecutionTimeInMillis": 990}

    def hook(n: int, kwargs: dict, real_call: Callable[..., dict]) -> dict:
        resp = real_call(**kwargs)
        resp["QueryExecution"]["Statistics"].update(stats)
        return resp

    query = QueryConfig(engine="athena", output_location=f"s3://{bucket}/athena")
    eng, _ = engine(real, {"get_query_execution": hook}, query=query)
    assert eng.last_execution is None
    assert eng.query("SELECT count(*) FROM demo.t").rows == [(7,)]
    info = eng.last_execution
    assert info.state == "SUCCEEDED" and info.statement_type == "DML"
    assert (info.data_scanned_bytes, info.engine_execution_ms, info.total_execution_ms) == (123456789, 812, 990)
    assert info.output_location == f"s3://{bucket}/athena/{info.query_id}.csv"
    # moto writes its (header-as-seeded, all-quoted) CSV there, as Athena writes its own.
    body = s3.get_object(Bucket=bucket, Key=f"athena/{info.query_id}.csv")["Body"].read().decode()
    assert body == '"n"\n"7"\n'


def test_queries_issued_counts_started_queries(moto_endpoint, real):
    eng, _ = engine(real)
    eng.query("SELECT 1")
    eng.query("SELECT 2", [1])
    assert eng.queries_issued == 2
    bad, _ = engine(real, query=QueryConfig(engine="athena", workgroup="no_such_group"))
    with pytest.raises(QueryError):
        bad.query("SELECT 1")
    assert bad.queries_issued == 0  # refused at the start: nothing ran


# --------------------------------------------------------------------------- failures


def test_failed_query_carries_the_reason_and_an_explanation(real):
    reason = (
        "HIVE_BAD_DATA: Field amount's type INT64 in parquet file\n"
        "s3://lake/demo/t/dt=2026-01-01/_v=r1/part-0.parquet is incompatible with type decimal(12,2)"
    )
    eng, _ = engine(real, {"get_query_execution": with_state("FAILED", StateChangeReason=reason)})
    with pytest.raises(QueryError) as e:
        eng.query("SELECT * FROM demo.t")
    msg = str(e.value)
    qid = eng.last_execution.query_id
    assert "\n" not in msg
    assert msg.startswith(f"query error: Athena query {qid} FAILED: HIVE_BAD_DATA: Field amount's type INT64")
    assert "part-0.parquet is incompatible with type decimal(12,2); a data file holds a value" in msg
    assert "rewrite the file or fix the type" in msg
    assert eng.last_execution.state == "FAILED" and eng.last_execution.reason.startswith("HIVE_BAD_DATA")
    assert eng.queries_issued == 1


def test_failure_reason_from_athena_error_and_cancelled(real):
    error = {"ErrorCategory": 2, "ErrorType": 1301, "ErrorMessage": "SYNTAX_ERROR: line 1:8: mismatched input"}
    eng, _ = engine(real, {"get_query_execution": with_state("FAILED", AthenaError=error)})
    with pytest.raises(QueryError, match=r"FAILED: SYNTAX_ERROR: line 1:8: mismatched input; Athena could not parse"):
        eng.query("SELEC 1")
    eng, _ = engine(real, {"get_query_execution": with_state("CANCELLED")})
    with pytest.raises(QueryError, match=r"was CANCELLED \(by a user, or a workgroup data-scan limit\)"):
        eng.query("SELECT 1")


def test_timeout_stops_the_query(real):
    fake = FakeTime()
    query = QueryConfig(engine="athena", timeout_s=30)
    eng, client = engine(real, {"get_query_execution": with_state("RUNNING")}, query=query, poll=fake.policy())
    with pytest.raises(QueryError) as e:
        eng.query("SELECT * FROM demo.big")
    (started,) = client.requests["start_query_execution"]
    qid = eng.last_execution.query_id
    assert eng.last_execution.state == "RUNNING"  # the last state seen before the deadline
    assert client.requests["stop_query_execution"] == [{"QueryExecutionId": qid}]
    assert real.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]["State"] == "CANCELLED"
    assert str(e.value) == (
        f"query error: Athena query {qid} did not finish within 30 s (state RUNNING); stopped it. "
        "Raise query.timeout_s or scan less (filter on partition columns)"
    )
    # Exponential backoff with jitter, capped, ending at the deadline with one last look.
    assert sum(fake.sleeps) == pytest.approx(30)
    caps = [min(0.2 * 2**i, 5.0) for i in range(len(fake.sleeps))]
    assert all(c / 2 <= s <= c for s, c in zip(fake.sleeps[:-1], caps, strict=False))
    assert max(fake.sleeps) <= 5.0 and len(fake.sleeps) < 15
    assert client.calls["get_query_execution"] == len(fake.sleeps) + 1
    assert eng.queries_issued == 1 and started["QueryString"] == "SELECT * FROM demo.big"


def test_timeout_reports_a_failed_stop(real):
    def refuse(n: int, kwargs: dict, real_call: Callable[..., dict]) -> dict:
        raise ClientError({"Error": {"Code": "InvalidRequestException", "Message": "no"}}, "StopQueryExecution")

    fake = FakeTime()
    hooks = {"get_query_execution": with_state("QUEUED"), "stop_query_execution": refuse}
    eng, _ = engine(real, hooks, query=QueryConfig(engine="athena", timeout_s=1), poll=fake.policy())
    with pytest.raises(QueryError, match=r"could not stop it \(InvalidRequestException: no\); stop it in the Athena"):
        eng.query("SELECT 1")


def test_polls_until_the_query_ends(moto_endpoint, real):
    states = iter(["QUEUED", "RUNNING", "RUNNING"])

    def hook(n: int, kwargs: dict, real_call: Callable[..., dict]) -> dict:
        resp = real_call(**kwargs)
        state = next(states, None)
        if state:
            resp["QueryExecution"]["Status"]["State"] = state
        return resp

    seed(moto_endpoint, result([col("n", "bigint")], [["1"]]))
    fake = FakeTime()
    eng, client = engine(real, {"get_query_execution": hook}, poll=fake.policy())
    assert eng.query("SELECT 1").rows == [(1,)]
    assert client.calls["get_query_execution"] == 4 and len(fake.sleeps) == 3
    assert 0.1 <= fake.sleeps[0] <= 0.2 and 0.4 <= fake.sleeps[2] <= 0.8
    assert "stop_query_execution" not in client.calls


def test_keyboard_interrupt_stops_the_query_and_propagates(real):
    fake = FakeTime(interrupt_at=2)
    eng, client = engine(real, {"get_query_execution": with_state("RUNNING")}, poll=fake.policy())
    with pytest.raises(KeyboardInterrupt):
        eng.query("SELECT * FROM demo.big")
    qid = real.list_query_executions()["QueryExecutionIds"][-1]
    assert client.requests["stop_query_execution"] == [{"QueryExecutionId": qid}]
    assert real.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]["State"] == "CANCELLED"


def test_client_error_is_one_line(real):
    def refuse(n: int, kwargs: dict, real_call: Callable[..., dict]) -> dict:
        message = "No output location provided.\nAn output location is required either through the Workgroup"
        raise ClientError({"Error": {"Code": "InvalidRequestException", "Message": message}}, "StartQueryExecution")

    eng, _ = engine(real, {"start_query_execution": refuse})
    with pytest.raises(QueryError) as e:
        eng.query("SELECT 1")
    assert str(e.value) == (
        "query error: Athena StartQueryExecution: InvalidRequestException: No output location provided. "
        "An output location is required either through the Workgroup; "
        "set query.output_location (s3://bucket/prefix/) or a result location on the workgroup"
    )


def test_client_error_from_the_server(real):
    eng, _ = engine(real, query=QueryConfig(engine="athena", workgroup="no_such_group"))
    with pytest.raises(QueryError) as e:
        eng.query("SELECT 1")
    assert str(e.value) == (
        "query error: Athena StartQueryExecution: InvalidRequestException: WorkGroup does not exist; "
        "check query.workgroup ('no_such_group') exists in this region"
    )


def test_client_error_while_polling_stops_the_query(real):
    def fail(n: int, kwargs: dict, real_call: Callable[..., dict]) -> dict:
        raise ClientError({"Error": {"Code": "InternalServerException", "Message": "oops"}}, "GetQueryExecution")

    eng, client = engine(real, {"get_query_execution": fail})
    with pytest.raises(QueryError, match=r"^query error: Athena GetQueryExecution: InternalServerException: oops$"):
        eng.query("SELECT 1")
    assert client.calls["stop_query_execution"] == 1


def test_client_error_reading_results(real):
    def fail(n: int, kwargs: dict, real_call: Callable[..., dict]) -> dict:
        raise ClientError({"Error": {"Code": "InvalidRequestException", "Message": "bad token"}}, "GetQueryResults")

    eng, client = engine(real, {"get_query_results": fail})
    with pytest.raises(QueryError, match=r"^query error: Athena GetQueryResults: InvalidRequestException: bad token$"):
        eng.query("SELECT 1")
    assert "stop_query_execution" not in client.calls  # it had already finished


# --------------------------------------------------------------------------- wiring


def test_open_engine_builds_an_athena_engine(tmp_path, moto_endpoint):
    raw = {
        "warehouse": "s3://lake/wh",
        "catalog": {"kind": "glue"},
        "query": {"engine": "athena", "workgroup": "analytics", "output_location": "s3://r/", "timeout_s": 60},
        "aws": {"region": REGION, "endpoint_url": moto_endpoint},
        "tables": {"t": {"database": "demo", "source": {"path": "x", "format": "csv"}, "partitions": [{"name": "a"}]}},
    }
    config = parse_config(raw, "test.yaml")
    eng = open_engine(config, open_catalog(config))
    assert isinstance(eng, AthenaEngine)
    assert eng.config == config.query and eng.database is None and eng.queries_issued == 0
    assert eng._client.meta.endpoint_url == moto_endpoint and eng._client.meta.region_name == REGION
