"""validate(): declared checks and manifest reconciliation, over DuckDB and a LocalCatalog. No Spark."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Optional

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import build_manifest, events_table
from lakeloader import stats
from lakeloader.catalog.local import LocalCatalog
from lakeloader.catalog.tables import partition_input, table_input
from lakeloader.config import TableConfig, parse_config
from lakeloader.errors import UnexpectedAnswer
from lakeloader.hive import HIVE_DEFAULT_PARTITION, partition_path
from lakeloader.manifest import Manifest, PartitionStats
from lakeloader.query.base import QueryResult
from lakeloader.query.duckdb import DuckDBEngine
from lakeloader.validate import check_expressions, partition_key, validate

COLS = [
    {"Name": "event_id", "Type": "bigint"},
    {"Name": "device", "Type": "string"},
    {"Name": "amount", "Type": "decimal(12,2)"},
]
KEYS = [{"Name": "dt", "Type": "date"}, {"Name": "country", "Type": "string"}]
GOOD_CHECKS = [
    {"kind": "not_null", "column": "event_id"},
    {"kind": "unique", "columns": ["event_id"]},
    {"kind": "accepted_values", "column": "device", "values": ["ios", "android", "web"]},
    {"kind": "range", "column": "amount", "min": 0, "max": 100},
]

Rows = dict[str, list[Any]]


def table_config(checks: Sequence[dict[str, Any]] = GOOD_CHECKS) -> TableConfig:
    cfg = parse_config({"warehouse": "/wh", "tables": {"events": events_table(checks=list(checks))}}, "test.yaml")
    return cfg.tables["events"]


def write_partitions(
    tmp_path: Path, catalog: LocalCatalog, partitions: Sequence[tuple[Sequence[str], Rows]], run_id: str = "r1"
) -> list[PartitionStats]:
    """Write one file per partition into `_v=<run_id>`, publish the partitions; their stats."""
    root = tmp_path / "wh" / "demo" / "events"
    catalog.ensure_database("demo")
    if catalog.get_table("demo", "events") is None:
        catalog.create_table("demo", table_input("events", COLS, KEYS, f"file://{root}"))
    stats, inputs = [], []
    for values, data in partitions:
        version = root / partition_path(["dt", "country"], values) / f"_v={run_id}"
        version.mkdir(parents=True, exist_ok=True)
        arrays = {
            "event_id": pa.array(data["event_id"], pa.int64()),
            "device": pa.array(data.get("device", ["ios"] * len(data["event_id"])), pa.string()),
            "amount": pa.array(data.get("amount", [Decimal(1)] * len(data["event_id"])), pa.decimal128(12, 2)),
        }
        pq.write_table(pa.table(arrays), version / "part-0.parquet")
        location = f"file://{version}"
        inputs.append(partition_input(values, location, COLS, {"lakeloader.run_id": run_id}))
        stats.append(PartitionStats(list(values), location, 1, len(data["event_id"]), 100))
    catalog.put_partitions("demo", "events", inputs)
    return stats


def make_manifest(parts: Sequence[PartitionStats], run_id: str = "r1", rows_written: Optional[int] = None) -> Manifest:
    rows = sum(p.rows for p in parts) if rows_written is None else rows_written
    return build_manifest(
        parts, run_id=run_id, partition_keys=["dt", "country"], schema=COLS, input_uri="file:///in", rows_read=rows,
        rows_written=rows,
    )  # fmt: skip


@pytest.fixture
def catalog(tmp_path):
    return LocalCatalog(str(tmp_path / "catalog.sqlite"))


@pytest.fixture
def engine(catalog):
    return DuckDBEngine(catalog)


GOOD = [
    (["2026-01-01", "de"], {"event_id": [1, 2], "device": ["ios", "web"], "amount": [Decimal("0"), Decimal("100")]}),
    (["2026-01-01", "a/b"], {"event_id": [3], "device": [None], "amount": [None]}),
    (["2026-01-02", HIVE_DEFAULT_PARTITION], {"event_id": [4, 5, 6], "device": ["android"] * 3}),
]


def by_kind(report: Any) -> dict[str, Any]:
    return {r.kind: r for r in report.results}


def test_all_checks_pass_on_good_data(tmp_path, catalog, engine):
    parts = write_partitions(tmp_path, catalog, GOOD)
    report = validate(engine, catalog, table_config(), make_manifest(parts))
    assert report.table == "demo.events"
    assert report.run_id == "r1"
    assert report.rows == 6
    assert [(r.kind, r.columns, r.failing) for r in report.results] == [
        ("not_null", "event_id", 0),
        ("unique", "event_id", 0),
        ("accepted_values", "device", 0),
        ("range", "amount", 0),
        ("reconcile", "dt,country", 0),
    ]
    assert report.failed == [] and report.warnings == []
    assert all(r.passed for r in report.results)
    assert report.queries == 2
    d = report.to_dict()
    assert d["passed"] is True and d["rows"] == 6 and d["queries"] == 2
    assert d["checks"][0] == {
        "name": "not_null(event_id)",
        "kind": "not_null",
        "columns": "event_id",
        "severity": "error",
        "failing": 0,
        "detail": "rows with NULL",
        "passed": True,
    }
    assert by_kind(report)["reconcile"].detail == "3 partitions, 6 rows expected from run r1"


def test_failures_are_counted_exactly(tmp_path, catalog, engine):
    write_partitions(
        tmp_path,
        catalog,
        [
            (
                ["2026-01-01", "de"],
                {
                    "event_id": [1, 2, 2, None],
                    "device": ["ios", "bad", None, "x"],
                    "amount": [Decimal("-0.01"), Decimal("0"), None, Decimal("100.01")],
                },
            ),
            # duplicates across partitions count too; NULL keys are not duplicates
            (
                ["2026-01-02", "fr"],
                {"event_id": [2, 3, None], "device": ["web", "IOS", "android"], "amount": [Decimal("5000")] * 3},
            ),
        ],
    )
    report = validate(engine, catalog, table_config(), None)
    assert report.rows == 7
    assert [(r.name, r.failing) for r in report.results] == [
        ("not_null(event_id)", 2),
        ("unique(event_id)", 2),  # three rows with id 2: two extra
        ("accepted_values(device)", 3),  # 'bad', 'x', 'IOS' (case matters); NULL is not checked
        ("range(amount)", 5),  # -0.01, 100.01 and three of 5000; NULL is not checked
    ]
    assert [r.kind for r in report.failed] == ["not_null", "unique", "accepted_values", "range"]
    assert report.to_dict()["passed"] is False
    assert by_kind(report)["range"].detail == "between 0.0 and 100.0"
    assert by_kind(report)["accepted_values"].detail == "values in ['ios', 'android', 'web']"


def test_unique_over_several_columns_and_one_sided_range(tmp_path, catalog, engine):
    write_partitions(
        tmp_path,
        catalog,
        [
            (["2026-01-01", "de"], {"event_id": [1, 1, 2], "amount": [Decimal(1), Decimal(2), Decimal(-3)]}),
            (["2026-01-02", "de"], {"event_id": [1], "amount": [Decimal(7)]}),
        ],
    )
    checks = [
        {"kind": "unique", "columns": ["event_id", "dt"]},
        {"kind": "range", "column": "amount", "max": 1.5},
        {"kind": "range", "column": "amount", "min": 0},
    ]
    report = validate(engine, catalog, table_config(checks), None)
    assert [r.failing for r in report.results] == [1, 2, 1]
    assert [r.columns for r in report.results] == ["event_id,dt", "amount", "amount"]


def test_warn_severity_is_a_warning_not_a_failure(tmp_path, catalog, engine):
    write_partitions(tmp_path, catalog, [(["2026-01-01", "de"], {"event_id": [1, None], "device": ["ios", "tv"]})])
    checks = [
        {"kind": "not_null", "column": "event_id", "severity": "warn"},
        {"kind": "accepted_values", "column": "device", "values": ["ios"]},
    ]
    report = validate(engine, catalog, table_config(checks), None)
    assert [(r.kind, r.failing) for r in report.failed] == [("accepted_values", 1)]
    assert [(r.kind, r.severity, r.failing) for r in report.warnings] == [("not_null", "warn", 1)]
    warn_only = validate(engine, catalog, table_config(checks[:1]), None)
    assert warn_only.failed == [] and len(warn_only.warnings) == 1
    assert warn_only.to_dict()["passed"] is True


def test_without_manifest_one_query_no_reconcile(tmp_path, catalog, engine):
    write_partitions(tmp_path, catalog, GOOD)
    report = validate(engine, catalog, table_config([*GOOD_CHECKS, {"kind": "row_count_change", "max_pct": 1}]), None)
    assert report.run_id is None
    assert report.queries == 1
    assert [r.kind for r in report.results] == ["not_null", "unique", "accepted_values", "range"]


def test_empty_table_without_checks(tmp_path, catalog, engine):
    write_partitions(tmp_path, catalog, [])
    report = validate(engine, catalog, table_config([]), make_manifest([]))
    assert report.rows == 0
    assert [(r.kind, r.failing) for r in report.results] == [("reconcile", 0)]


def test_reconcile_fails_per_mismatched_partition(tmp_path, catalog, engine):
    parts = write_partitions(tmp_path, catalog, GOOD)
    wrong = [replace(parts[0], rows=3), parts[1], replace(parts[2], rows=0)]
    rec = by_kind(validate(engine, catalog, table_config([]), make_manifest(wrong)))["reconcile"]
    assert rec.failing == 2
    assert rec.severity == "error" and not rec.passed
    assert rec.detail == ("3 partitions, 4 rows expected from run r1; first mismatch 2026-01-01/de: 2 rows, manifest 3")


def test_reconcile_counts_a_partition_missing_from_the_data(tmp_path, catalog, engine):
    parts = write_partitions(tmp_path, catalog, GOOD)
    # the catalog points at the version directory, but its file is gone
    (Path(parts[1].location[len("file://") :]) / "part-0.parquet").unlink()
    rec = by_kind(validate(engine, catalog, table_config([]), make_manifest(parts)))["reconcile"]
    assert rec.failing == 1
    assert "first mismatch 2026-01-01/a/b: 0 rows, manifest 1" in rec.detail


def test_reconcile_with_hostile_and_default_partition_values(tmp_path, catalog, engine):
    values = ["it's", 'say "hi"', "Zürich", "..", "a", "A", "x=y:z%", HIVE_DEFAULT_PARTITION]
    parts = write_partitions(
        tmp_path, catalog, [(["2026-01-01", v], {"event_id": list(range(i + 1))}) for i, v in enumerate(values)]
    )
    rec = by_kind(validate(engine, catalog, table_config([]), make_manifest(parts)))["reconcile"]
    assert rec.failing == 0, rec.detail


def test_partition_replaced_by_a_later_run_is_skipped(tmp_path, catalog, engine):
    first = write_partitions(tmp_path, catalog, GOOD, run_id="r1")
    # r2 replaces one partition with a different row count
    second = write_partitions(tmp_path, catalog, [(GOOD[0][0], {"event_id": [10, 11, 12, 13]})], run_id="r2")
    old = validate(engine, catalog, table_config([]), make_manifest(first, "r1"))
    rec = by_kind(old)["reconcile"]
    assert rec.failing == 0
    assert rec.detail == "2 partitions, 4 rows expected from run r1"
    new = by_kind(validate(engine, catalog, table_config([]), make_manifest(second, "r2")))["reconcile"]
    assert (new.failing, new.detail) == (0, "1 partitions, 4 rows expected from run r2")


def test_row_count_change(tmp_path, catalog, engine):
    parts = write_partitions(tmp_path, catalog, GOOD)
    table = table_config([{"kind": "row_count_change", "max_pct": 50}])

    def check(current: int, previous: Optional[Manifest]) -> Any:
        report = validate(engine, catalog, table, make_manifest(parts, "r2", current), previous)
        return by_kind(report)["row_count_change"]

    first = check(160, None)
    assert (first.failing, first.detail) == (0, "no earlier published run to compare with")
    assert first.name == "row_count_change <= 50%"
    prev = make_manifest(parts, "r1", 100)
    assert (check(150, prev).failing, check(150, prev).detail) == (0, "100 -> 150 rows (50.0%)")
    grew = check(160, prev)
    assert (grew.failing, grew.detail) == (1, "100 -> 160 rows (60.0%)")
    shrank = check(40, prev)
    assert (shrank.failing, shrank.detail) == (1, "100 -> 40 rows (60.0%)")
    assert check(5, make_manifest(parts, "r0", 0)).failing == 0  # nothing to compare a percentage with


def test_row_count_change_warn(tmp_path, catalog, engine):
    parts = write_partitions(tmp_path, catalog, GOOD)
    table = table_config([{"kind": "row_count_change", "max_pct": 10, "severity": "warn"}])
    report = validate(engine, catalog, table, make_manifest(parts, "r2", 200), make_manifest(parts, "r1", 100))
    assert report.failed == []
    assert [r.kind for r in report.warnings] == ["row_count_change"]


def test_queries_per_validation_do_not_grow_with_partitions(tmp_path, catalog):
    small_dir, big_dir = tmp_path / "small", tmp_path / "big"
    small_cat = LocalCatalog(str(small_dir / "c.sqlite"))
    big_cat = LocalCatalog(str(big_dir / "c.sqlite"))
    small = write_partitions(small_dir, small_cat, [([f"2026-01-0{i + 1}", "de"], {"event_id": [i]}) for i in range(3)])
    day = dt.date(2026, 1, 1)
    big = write_partitions(
        big_dir,
        big_cat,
        [([(day + dt.timedelta(days=i // 3)).isoformat(), f"c{i % 3}"], {"event_id": [i]}) for i in range(300)],
    )
    # every column check is one expression of the same aggregate query (unique is left out only to keep
    # this test fast: its subquery attaches the table a second time)
    checks = [c for c in GOOD_CHECKS if c["kind"] != "unique"] + [{"kind": "row_count_change", "max_pct": 10}]
    r_small = validate(DuckDBEngine(small_cat), small_cat, table_config(checks), make_manifest(small))
    r_big = validate(DuckDBEngine(big_cat), big_cat, table_config(checks), make_manifest(big))
    assert r_small.queries == r_big.queries == 2
    assert (r_small.rows, r_big.rows) == (3, 300)
    assert r_small.failed == [] and r_big.failed == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "__HIVE_DEFAULT_PARTITION__"),
        (True, "true"),
        (False, "false"),
        (dt.date(2026, 1, 2), "2026-01-02"),
        (Decimal("1.50"), "1.50"),
        (Decimal("1E+2"), "100"),
        (7, "7"),
        (-3, "-3"),
        ("a/b", "a/b"),
        ("", ""),
    ],
)
def test_partition_key(value, expected):
    assert partition_key(value) == expected


def test_check_values_are_safe_literals_in_the_select_list(tmp_path, catalog, engine):
    # Athena takes `?` only in WHERE; check values are inlined, so a quote must not break the SQL.
    rows = {"event_id": [1, 2], "device": ["it's", "x'); DROP TABLE t; --"], "amount": [Decimal("1"), Decimal("2")]}
    write_partitions(tmp_path, catalog, [(["2026-01-01", "de"], rows)])
    checks = [{"kind": "accepted_values", "column": "device", "values": ["it's"]}]
    report = validate(engine, catalog, table_config(checks), None)
    assert by_kind(report)["accepted_values"].failing == 1
    assert check_expressions("demo.events", table_config(checks).checks)[1] == (
        "count_if(\"device\" IS NOT NULL AND \"device\" NOT IN ('it''s'))"
    )


class _Garbling(DuckDBEngine):
    """DuckDB whose answer to the query matching `target` is reshaped: an engine answering what was not asked."""

    def __init__(self, catalog: Any, target: str, garble: Any) -> None:
        super().__init__(catalog)
        self.target, self.garble = target, garble

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> QueryResult:
        result = super().query(sql, parameters)
        return QueryResult(result.columns, self.garble(result.rows)) if self.target in sql else result


@pytest.mark.parametrize(
    ("target", "garble", "what"),
    [
        ("count(*), count_if", lambda rows: [], "0 rows where one was expected"),
        ("count(*), count_if", lambda rows: rows * 2, "2 rows where one was expected"),
        ("count(*), count_if", lambda rows: [r[:-1] for r in rows], "a row of 4 values where 5 were expected"),
        ("count(*), count_if", lambda rows: [(None, *r[1:]) for r in rows], "None as the row count"),
        (", count(*) FROM", lambda rows: [(*r[:-1], "many") for r in rows], "a row count that is not a number"),
    ],
)
def test_an_answer_of_the_wrong_shape_is_one_line_naming_engine_and_query(tmp_path, catalog, target, garble, what):
    parts = write_partitions(tmp_path, catalog, GOOD)
    with pytest.raises(UnexpectedAnswer) as e:
        validate(_Garbling(catalog, target, garble), catalog, table_config(), make_manifest(parts))
    msg = str(e.value)
    assert msg.startswith(f"query error: duckdb answered {what} to: SELECT ") and "demo.events" in msg, msg
    assert "\n" not in msg and e.value.exit_code == 1


def with_footer_stats(parts: Sequence[PartitionStats]) -> list[PartitionStats]:
    """The partitions with their files' statistics, as a run's statistics job records them."""
    out = []
    for p in parts:
        meta = pq.read_metadata(p.location[len("file://") :] + "/part-0.parquet")
        cols = {
            k: {"nulls": n, "min": None if lo is None else str(lo), "max": None if hi is None else str(hi)}
            for k, (n, lo, hi) in stats.footer_columns(meta).items()
        }
        out.append(replace(p, columns=cols))
    return out


def test_an_audit_whose_statistics_answer_every_check_reads_no_data(tmp_path, catalog, engine):
    parts = with_footer_stats(write_partitions(tmp_path, catalog, GOOD))
    checks = [GOOD_CHECKS[0], GOOD_CHECKS[3], {"kind": "row_count_change", "max_pct": 50}]
    report = validate(engine, catalog, table_config(checks), make_manifest(parts), counted_rows=6)
    assert report.queries == 0 and report.rows == 6
    assert [(r.kind, r.failing) for r in report.results] == [
        ("not_null", 0), ("range", 0), ("reconcile", 0), ("row_count_change", 0),
    ]  # fmt: skip
    assert by_kind(report)["reconcile"].detail == "3 partitions, 6 rows in the staged files, 6 written by run r1"


def test_statistics_give_the_same_failing_counts_as_the_queries(tmp_path, catalog, engine):
    bad = [
        (["2026-01-01", "de"], {"event_id": [1, None, None], "amount": [Decimal("-0.01"), Decimal(3), None]}),
        (["2026-01-02", "fr"], {"event_id": [None, 2], "device": ["tv", None], "amount": [None, None]}),
        (["2026-01-03", "fr"], {"event_id": [3], "amount": [Decimal("100")]}),
    ]
    parts = with_footer_stats(write_partitions(tmp_path, catalog, bad))
    m = make_manifest(parts)
    queried = validate(engine, catalog, table_config(), m)
    before = engine.queries_issued
    answered = validate(engine, catalog, table_config(), m, counted_rows=6)
    assert [(r.name, r.failing) for r in answered.results[:-1]] == [(r.name, r.failing) for r in queried.results[:-1]]
    assert [r.failing for r in answered.results] == [3, 0, 1, 1, 0]
    # not_null from the NULL counts; unique, accepted_values and the violated range in one query
    assert answered.queries == engine.queries_issued - before == 1 and answered.rows == 6
    assert answered.failure_summary().startswith("not_null(event_id) 3 failing")


def test_the_write_jobs_count_reconciles_the_staged_files(tmp_path, catalog, engine):
    parts = with_footer_stats(write_partitions(tmp_path, catalog, GOOD))
    lost = validate(engine, catalog, table_config([]), make_manifest(parts), counted_rows=7)
    rec = by_kind(lost)["reconcile"]
    assert rec.failing == 1 and "6 rows in the staged files, 7 written" in rec.detail
    empty = [*parts[:2], replace(parts[2], rows=0, files=0, columns={})]
    rec = by_kind(validate(engine, catalog, table_config([]), make_manifest(empty), counted_rows=6))["reconcile"]
    assert rec.failing == 1 and rec.detail.endswith(f"first partition without rows 2026-01-02/{HIVE_DEFAULT_PARTITION}")
