"""Validation on both engines: regex and freshness checks, the fixed query count, and one suite run on
DuckDB (real SQL) and on Athena (a moto server seeded with the result sets the same SQL would return).

The Athena results are not copied from DuckDB: `expected_results` computes them in Python from the rows
written, so both engines are held to one independent reference.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Optional

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot

from conftest import events_table
from lakeloader.catalog.local import LocalCatalog
from lakeloader.catalog.tables import partition_input, table_input
from lakeloader.config import AwsConfig, QueryConfig, TableConfig, parse_config
from lakeloader.errors import ConfigError
from lakeloader.hive import HIVE_DEFAULT_PARTITION, partition_path
from lakeloader.manifest import PartitionStats
from lakeloader.query.athena import AthenaEngine
from lakeloader.query.duckdb import DuckDBEngine
from lakeloader.validate import check_expressions, validate
from test_query_athena import REGION, FaultyClient, athena_client, athena_paging, col, real, result, seed  # noqa: F401
from test_validate import make_manifest as manifest

COLS = [
    {"Name": "event_id", "Type": "bigint"},
    {"Name": "device", "Type": "string"},
    {"Name": "amount", "Type": "decimal(12,2)"},
    {"Name": "event_ts", "Type": "timestamp"},
]
KEYS = [{"Name": "dt", "Type": "date"}, {"Name": "country", "Type": "string"}]
NOW = dt.datetime(2026, 1, 3, 12, 0, tzinfo=dt.UTC)
T0 = dt.datetime(2026, 1, 3, 0, 0)  # naive: UTC


def clock() -> dt.datetime:
    return NOW


@dataclass
class Part:
    values: list[str]
    event_id: list[Optional[int]]
    device: list[Optional[str]] = field(default_factory=list)
    amount: list[Optional[Decimal]] = field(default_factory=list)
    event_ts: list[Optional[dt.datetime]] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.event_id)
        self.device = self.device or ["ios"] * n
        self.amount = self.amount or [Decimal(1)] * n
        self.event_ts = self.event_ts or [T0] * n


def write(
    root: Path, catalog: LocalCatalog, parts: Sequence[Part], run_id: str = "r1", utc_adjusted: bool = False
) -> list[PartitionStats]:
    """One Parquet file per partition under `_v=<run_id>`, registered in the catalog; their stats.

    `utc_adjusted` writes timestamps as Spark's TIMESTAMP_MICROS does (isAdjustedToUTC=true), which
    DuckDB reads as TIMESTAMP WITH TIME ZONE; otherwise as naive timestamps.
    """
    table_root = root / "wh" / "demo" / "events"
    catalog.ensure_database("demo")
    if catalog.get_table("demo", "events") is None:
        catalog.create_table("demo", table_input("events", COLS, KEYS, f"file://{table_root}"))
    ts_type = pa.timestamp("us", tz="UTC" if utc_adjusted else None)
    stats, inputs = [], []
    for p in parts:
        version = table_root / partition_path(["dt", "country"], p.values) / f"_v={run_id}"
        version.mkdir(parents=True, exist_ok=True)
        ts = [t.replace(tzinfo=dt.UTC) if t and utc_adjusted else t for t in p.event_ts]
        data = pa.table(
            {
                "event_id": pa.array(p.event_id, pa.int64()),
                "device": pa.array(p.device, pa.string()),
                "amount": pa.array(p.amount, pa.decimal128(12, 2)),
                "event_ts": pa.array(ts, ts_type),
            }
        )
        pq.write_table(data, version / "part-0.parquet")
        location = f"file://{version}"
        inputs.append(partition_input(p.values, location, COLS, {"lakeloader.run_id": run_id}))
        stats.append(PartitionStats(list(p.values), location, 1, len(p.event_id), 100))
    catalog.put_partitions("demo", "events", inputs)
    return stats


def table_config(checks: Sequence[dict[str, Any]]) -> TableConfig:
    return parse_config({"warehouse": "/wh", "tables": {"events": events_table(checks=list(checks))}}, "t.yaml").tables[
        "events"
    ]


class Recording(DuckDBEngine):
    """DuckDBEngine that keeps the Athena SQL it was given."""

    def __init__(self, catalog: LocalCatalog) -> None:
        super().__init__(catalog)
        self.sqls: list[str] = []

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        self.sqls.append(sql)
        return super().query(sql, parameters)


@pytest.fixture
def catalog(tmp_path):
    return LocalCatalog(str(tmp_path / "catalog.sqlite"))


@pytest.fixture
def engine(catalog):
    return Recording(catalog)


def one(report: Any, kind: str) -> Any:
    (r,) = [r for r in report.results if r.kind == kind]
    return r


# --------------------------------------------------------------------------- regex


def test_regex_is_a_partial_match_like_athenas_regexp_like(tmp_path, catalog, engine):
    devices = ["xabcx", "ABC", "abc", None, "it's", "a.c", "123-x", ""]
    write(tmp_path, catalog, [Part(["2026-01-01", "de"], list(range(len(devices))), device=devices)])

    def failing(pattern: str) -> int:
        report = validate(
            engine, catalog, table_config([{"kind": "regex", "column": "device", "pattern": pattern}]), None
        )
        return one(report, "regex").failing

    # Found anywhere in the value (regexp_like), not a whole-value match; NULL is not checked.
    assert failing("abc") == 5  # matches 'xabcx' and 'abc' of the seven non-NULL values
    assert failing("^abc$") == 6
    assert failing("(?i)^abc$") == 5  # case-insensitive flag: 'ABC' too
    assert failing("a.c") == 4  # 'xabcx', 'abc', 'a.c'
    assert failing(r"a\.c") == 6  # backslashes reach the engine as written
    assert failing(r"^\d{3}-") == 6
    assert failing("it's") == 6  # a quote in the pattern is a safe literal
    assert failing(".*") == 0  # the empty string matches '.*'


def test_regex_sql_and_its_duckdb_translation(engine):
    checks = table_config([{"kind": "regex", "column": "device", "pattern": "^[a-z]+'s$"}]).checks
    (expr,) = check_expressions("demo.events", checks)[1:]
    assert expr == "count_if(\"device\" IS NOT NULL AND NOT regexp_like(\"device\", '^[a-z]+''s$'))"
    duck = sqlglot.transpile(f"SELECT {expr} FROM demo.events", read="athena", write="duckdb")[0]
    # regexp_matches is DuckDB's partial match, as Athena's regexp_like; regexp_full_match would not be.
    assert "REGEXP_MATCHES(\"device\", '^[a-z]+''s$')" in duck and "FULL_MATCH" not in duck.upper()


def test_regex_result_row(tmp_path, catalog, engine):
    write(tmp_path, catalog, [Part(["2026-01-01", "de"], [1, 2], device=["ios", "tv-1"])])
    check = {"kind": "regex", "column": "device", "pattern": "^[a-z]+$", "severity": "warn"}
    report = validate(engine, catalog, table_config([check]), None)
    r = one(report, "regex")
    assert (r.name, r.columns, r.failing, r.detail) == (
        "regex(device)",
        "device",
        1,
        "non-NULL values not matching '^[a-z]+$'",
    )
    assert report.failed == [] and report.warnings == [r]
    assert report.queries == 1


# --------------------------------------------------------------------------- freshness


@pytest.mark.parametrize("utc_adjusted", [False, True])
def test_freshness_compares_max_with_the_injected_clock(tmp_path, catalog, engine, utc_adjusted):
    newest = dt.datetime(2026, 1, 2, 12, 0)  # 24 h before NOW
    ts = [T0 - dt.timedelta(days=5), newest, None]
    write(tmp_path, catalog, [Part(["2026-01-01", "de"], [1, 2, 3], event_ts=ts)], utc_adjusted=utc_adjusted)
    # The result must not depend on DuckDB's session zone (UTC-adjusted timestamps are zoned values there).
    engine.con.execute("SET TimeZone = 'America/New_York'")

    def check(hours: float) -> Any:
        table = table_config([{"kind": "freshness", "column": "event_ts", "max_age_hours": hours}])
        return one(validate(engine, catalog, table, None, clock=clock), "freshness")

    fresh = check(24)  # exactly the limit: still fresh
    assert (fresh.failing, fresh.detail) == (0, "newest 2026-01-02 12:00:00 UTC is 24.0 h old; limit 24 h")
    stale = check(23.5)
    assert (stale.failing, stale.detail) == (1, "newest 2026-01-02 12:00:00 UTC is 24.0 h old; limit 23.5 h")
    assert (stale.name, stale.columns) == ("freshness(event_ts)", "event_ts")


def test_freshness_with_a_naive_clock_and_a_future_value(tmp_path, catalog, engine):
    write(tmp_path, catalog, [Part(["2026-01-01", "de"], [1], event_ts=[dt.datetime(2026, 1, 3, 13, 0)])])
    table = table_config([{"kind": "freshness", "column": "event_ts", "max_age_hours": 1}])
    r = one(validate(engine, catalog, table, None, clock=lambda: NOW.replace(tzinfo=None)), "freshness")
    assert (r.failing, r.detail) == (0, "newest 2026-01-03 13:00:00 UTC is -1.0 h old; limit 1 h")  # clock skew


def test_freshness_of_a_date_partition_counts_from_its_midnight(tmp_path, catalog, engine):
    write(tmp_path, catalog, [Part(["2026-01-01", "de"], [1]), Part(["2026-01-02", "fr"], [2])])
    table = table_config([{"kind": "freshness", "column": "dt", "max_age_hours": 36}])
    r = one(validate(engine, catalog, table, None, clock=clock), "freshness")
    assert (r.failing, r.detail) == (0, "newest 2026-01-02 00:00:00 UTC is 36.0 h old; limit 36 h")
    assert 'CAST(max("dt") AS timestamp)' in engine.sqls[-1]


def test_freshness_without_values_fails_and_names_itself_in_the_summary(tmp_path, catalog, engine):
    write(tmp_path, catalog, [Part(["2026-01-01", "de"], [1], event_ts=[None])])
    table = table_config([{"kind": "freshness", "column": "event_ts", "max_age_hours": 6}])
    report = validate(engine, catalog, table, None, clock=clock)
    assert one(report, "freshness").detail == "no non-NULL value; limit 6 h"
    assert report.failure_summary() == "freshness(event_ts) 1 failing (no non-NULL value; limit 6 h)"


def test_freshness_on_a_column_that_is_not_a_time_is_a_config_error(tmp_path, catalog, engine):
    write(tmp_path, catalog, [Part(["2026-01-01", "de"], [1])])
    table = table_config(
        [{"kind": "not_null", "column": "event_id"}, {"kind": "freshness", "column": "device", "max_age_hours": 6}]
    )
    with pytest.raises(ConfigError) as e:
        validate(engine, catalog, table, None, clock=clock)
    assert str(e.value) == (
        "config error: tables.events.checks[1]: freshness column 'device' is string in demo.events; "
        "it needs a timestamp or date column"
    )
    assert engine.sqls == []  # refused before any query


def test_all_checks_share_one_aggregate_query(tmp_path, catalog, engine):
    write(tmp_path, catalog, [Part(["2026-01-01", "de"], [1, 2])])
    checks = [
        {"kind": "not_null", "column": "event_id"},
        {"kind": "regex", "column": "device", "pattern": "^ios$"},
        {"kind": "freshness", "column": "event_ts", "max_age_hours": 24},
        {"kind": "range", "column": "amount", "min": 0},
    ]
    report = validate(engine, catalog, table_config(checks), None, clock=clock)
    assert report.queries == 1 and len(engine.sqls) == 1
    assert [(r.kind, r.failing) for r in report.results] == [
        ("not_null", 0),
        ("regex", 0),
        ("freshness", 0),
        ("range", 0),
    ]
    assert report.bytes_scanned is None  # DuckDB cannot say


# --------------------------------------------------------------------------- config


def config_error(check: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as e:
        table_config([check])
    return str(e.value)


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ({"kind": "regex", "column": "device"}, "tables.events.checks[0]: regex needs 'pattern'"),
        ({"kind": "regex", "pattern": "^a"}, "tables.events.checks[0]: regex needs 'column'"),
        (
            {"kind": "regex", "column": "d", "pattern": ""},
            "tables.events.checks[0].pattern: regex needs a non-empty pattern",
        ),
        (
            {"kind": "regex", "column": "d", "pattern": "([a-z]"},
            "tables.events.checks[0].pattern: '([a-z]' is not a valid regular expression "
            "(missing ), unterminated subpattern at position 0)",
        ),
        ({"kind": "regex", "column": "d", "pattern": 5}, "tables.events.checks[0].pattern: expected str, got int 5"),
        ({"kind": "freshness", "column": "ts"}, "tables.events.checks[0]: freshness needs 'max_age_hours'"),
        ({"kind": "freshness", "max_age_hours": 3}, "tables.events.checks[0]: freshness needs 'column'"),
        (
            {"kind": "freshness", "column": "ts", "max_age_hours": 0},
            "tables.events.checks[0].max_age_hours: must be a positive number of hours, got 0",
        ),
        (
            {"kind": "freshness", "column": "ts", "max_age_hours": -2.5},
            "tables.events.checks[0].max_age_hours: must be a positive number of hours, got -2.5",
        ),
        (
            {"kind": "freshness", "column": "ts", "max_age_hours": "1d"},
            "tables.events.checks[0].max_age_hours: expected float, got str '1d'",
        ),
        ({"kind": "freshnes", "column": "ts"}, "(did you mean 'freshness'?)"),
    ],
)
def test_config_errors_name_the_key(check, message):
    msg = config_error(check)
    assert msg.startswith("config error: t.yaml: ") and msg.endswith(message)


@pytest.mark.parametrize("pattern", [r"^\p{L}+$", r"\Qa.b\E", r"^[a-z]+\z", r"^\d{4}-\d{2}$", "(?i)abc"])
def test_config_accepts_java_and_re2_patterns(pattern):
    (check,) = table_config([{"kind": "regex", "column": "d", "pattern": pattern}]).checks
    assert check.pattern == pattern


def test_config_parses_regex_and_freshness():
    regex, fresh = table_config(
        [
            {"kind": "regex", "column": "device", "pattern": "^[a-z]+$", "severity": "warn"},
            {"kind": "freshness", "column": "event_ts", "max_age_hours": 26},
        ]
    ).checks
    assert (regex.kind, regex.key_columns, regex.pattern, regex.severity) == ("regex", ["device"], "^[a-z]+$", "warn")
    assert (fresh.max_age_hours, type(fresh.max_age_hours)) == (26.0, float)


# --------------------------------------------------------------------------- reconciliation scope


def test_reconcile_counts_only_the_runs_first_key_values(tmp_path, catalog, engine):
    first = write(tmp_path, catalog, [Part(["2026-01-01", "de"], [1]), Part(["2026-01-02", "de"], [2, 3])], "r1")
    second = write(
        tmp_path, catalog, [Part(["2026-01-02", "fr"], [4]), Part([HIVE_DEFAULT_PARTITION, "fr"], [5, 6])], "r2"
    )
    report = validate(engine, catalog, table_config([]), manifest(second, "r2"))
    assert one(report, "reconcile").failing == 0
    assert engine.sqls[-1] == (
        'SELECT "dt", "country", count(*) FROM demo.events WHERE "dt" IN (DATE \'2026-01-02\') OR "dt" IS NULL '
        'GROUP BY "dt", "country"'
    )
    # r1 still owns both its partitions: the filter keeps its first-key values, and the counts still match.
    assert one(validate(engine, catalog, table_config([]), manifest(first, "r1")), "reconcile").failing == 0
    wrong = [first[0], PartitionStats(first[1].values, first[1].location, 1, 5, 1)]
    rec = one(validate(engine, catalog, table_config([]), manifest(wrong, "r1")), "reconcile")
    assert (rec.failing, rec.detail.split("; ")[1]) == (1, "first mismatch 2026-01-02/de: 2 rows, manifest 5")


def test_reconcile_scans_everything_when_the_run_owns_every_partition_or_too_many_values(
    tmp_path, catalog, engine, monkeypatch
):
    parts = write(tmp_path, catalog, [Part(["2026-01-01", "de"], [1]), Part(["2026-01-02", "de"], [2])])
    validate(engine, catalog, table_config([]), manifest(parts))
    assert "WHERE" not in engine.sqls[-1]  # an audit's staging table: every partition is the run's
    write(tmp_path, catalog, [Part(["2026-01-03", "de"], [3])], "r2")
    monkeypatch.setattr("lakeloader.validate.MAX_FILTER_VALUES", 1)
    assert one(validate(engine, catalog, table_config([]), manifest(parts)), "reconcile").failing == 0
    assert "WHERE" not in engine.sqls[-1]


# --------------------------------------------------------------------------- one suite, two engines


SUITE = [
    {"kind": "not_null", "column": "event_id"},
    {"kind": "unique", "columns": ["event_id"]},
    {"kind": "accepted_values", "column": "device", "values": ["ios", "android", "web"]},
    {"kind": "range", "column": "amount", "min": 0, "max": 100},
    {"kind": "regex", "column": "device", "pattern": "^[a-z]+$", "severity": "warn"},
    {"kind": "freshness", "column": "event_ts", "max_age_hours": 24},
    {"kind": "row_count_change", "max_pct": 50},
]


def suite_data(n: int) -> list[Part]:
    """`n` partitions over days and countries, with a few rows breaking the checks (and a default partition)."""
    day = dt.date(2026, 1, 1)
    parts = []
    for i in range(n):
        values = [
            (day - dt.timedelta(days=i // 5)).isoformat(),
            ["de", "fr", "us", "it's", HIVE_DEFAULT_PARTITION][i % 5],
        ]
        ids: list[Optional[int]] = [2 * i, 2 * i + 1]
        device: list[Optional[str]] = ["ios", "web"]
        amount: list[Optional[Decimal]] = [Decimal("1.50"), Decimal(i % 120)]
        if i == 3:
            ids, device, amount = [6, 6, None], ["TV", None, "android"], [Decimal("-1"), None, Decimal(7)]
        ts = [T0 - dt.timedelta(hours=i, minutes=k) for k in range(len(ids))]
        parts.append(Part(values, ids, device, amount, ts))
    return parts


def expected_results(parts: Sequence[Part]) -> tuple[list[Optional[str]], list[list[Optional[str]]]]:
    """The two result sets validate asks for, computed in Python, as Athena renders them (text)."""
    ids = [v for p in parts for v in p.event_id]
    devices = [v for p in parts for v in p.device]
    amounts = [v for p in parts for v in p.amount]
    newest = max(t for p in parts for t in p.event_ts if t is not None)
    dupes = sum(c - 1 for c in Counter(v for v in ids if v is not None).values() if c > 1)
    aggregate = [
        len(ids),
        sum(v is None for v in ids),
        dupes,
        sum(v is not None and v not in ("ios", "android", "web") for v in devices),
        sum(v is not None and not (0 <= v <= 100) for v in amounts),
        sum(v is not None and re.search("^[a-z]+$", v) is None for v in devices),
    ]
    epoch = newest.replace(tzinfo=dt.UTC).timestamp()
    counts = [
        [p.values[0], None if p.values[1] == HIVE_DEFAULT_PARTITION else p.values[1], str(len(p.event_id))]
        for p in parts
    ]
    return [str(v) for v in aggregate] + [java_double(epoch)], counts


def java_double(x: float) -> str:
    """A double as Athena (Java) prints it, e.g. 1.7673904E9."""
    exponent = math.floor(math.log10(abs(x)))
    return f"{x / 10**exponent!r}E{exponent}"


def seed_validation(endpoint: str, parts: Sequence[Part]) -> None:
    aggregate, counts = expected_results(parts)
    agg_cols = [col(f"_col{i}", "bigint") for i in range(len(aggregate) - 1)] + [
        col(f"_col{len(aggregate) - 1}", "double")
    ]
    seed(
        endpoint,
        result(agg_cols, [aggregate]),
        result([col("dt", "date"), col("country", "varchar"), col("_col2", "bigint")], counts),
    )


def scanned(sizes: Sequence[int]) -> Callable[[int, dict, Callable[..., dict]], dict]:
    """GetQueryExecution reporting DataScannedInBytes (moto says 0): `sizes[k]` for the k-th query."""
    seen: dict[str, int] = {}

    def hook(n: int, kwargs: dict, real_call: Callable[..., dict]) -> dict:
        resp = real_call(**kwargs)
        k = seen.setdefault(kwargs["QueryExecutionId"], len(seen))
        resp["QueryExecution"].setdefault("Statistics", {})["DataScannedInBytes"] = sizes[k]
        return resp

    return hook


@pytest.mark.aws
def test_same_report_on_duckdb_and_athena_and_same_query_count_for_10_and_1000_partitions(
    tmp_path,
    moto_endpoint,
    real,  # noqa: F811
):
    queries = {}
    for n in (10, 1000):
        cat = LocalCatalog(str(tmp_path / f"{n}" / "c.sqlite"))
        parts = suite_data(n)
        stats = write(tmp_path / f"{n}", cat, parts, "r2")
        table = table_config(SUITE)
        m, prev = manifest(stats, "r2"), manifest(stats, "r1", rows_written=int(2 * n * 0.6))

        duck = Recording(cat)
        on_duckdb = validate(duck, cat, table, m, prev, clock=clock)

        seed_validation(moto_endpoint, parts)
        client = FaultyClient(real, {"get_query_results": athena_paging, "get_query_execution": scanned([4096, 1000])})
        athena = AthenaEngine(AwsConfig(region=REGION), QueryConfig(engine="athena"), client=client)
        on_athena = validate(athena, cat, table, m, prev, clock=clock)

        assert on_athena.results == on_duckdb.results
        assert (on_athena.table, on_athena.run_id, on_athena.rows, on_athena.queries) == (
            on_duckdb.table,
            on_duckdb.run_id,
            on_duckdb.rows,
            on_duckdb.queries,
        )
        # Athena ran exactly the SQL DuckDB ran, and says what it scanned; DuckDB cannot.
        assert [r["QueryString"] for r in client.requests["start_query_execution"]] == duck.sqls
        assert (on_athena.bytes_scanned, on_duckdb.bytes_scanned) == (5096, None)
        # The per-partition counts came back in pages of 1,000 rows on Athena: still one query.
        assert client.calls["get_query_results"] == 2 + (n + 1) // 1000
        queries[n] = (on_duckdb.queries, athena.queries_issued, duck.queries_issued)

        rows = 2 * n + 1
        assert on_duckdb.rows == rows
        assert [(r.kind, r.severity, r.failing) for r in on_duckdb.results] == [
            ("not_null", "error", 1),
            ("unique", "error", 1),  # id 6 twice
            ("accepted_values", "error", 1),  # 'TV'
            ("range", "error", 1 + sum(i % 120 > 100 for i in range(n))),
            ("regex", "warn", 1),
            ("freshness", "error", 0),
            ("reconcile", "error", 0),
            ("row_count_change", "error", 1),
        ]
        assert one(on_duckdb, "freshness").detail == "newest 2026-01-03 00:00:00 UTC is 12.0 h old; limit 24 h"
    assert queries[10] == queries[1000] == (2, 2, 2)
