"""DuckDBEngine: Athena SQL over the Parquet files a LocalCatalog points at. No Spark, no AWS."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakeloader.catalog.local import LocalCatalog
from lakeloader.catalog.tables import partition_input, table_input
from lakeloader.errors import QueryError
from lakeloader.hive import HIVE_DEFAULT_PARTITION, partition_path
from lakeloader.query.duckdb import DuckDBEngine

COLS = [{"Name": "id", "Type": "bigint"}, {"Name": "amount", "Type": "decimal(12,2)"}]
KEYS = [{"Name": "dt", "Type": "date"}, {"Name": "country", "Type": "string"}]
AMOUNT = pa.decimal128(12, 2)


def add_table(
    tmp_path: Path,
    catalog: LocalCatalog,
    partitions: Sequence[tuple[Sequence[str], dict[str, list[Any]]]],
    *,
    database: str = "demo",
    table: str = "t",
    columns: Sequence[dict[str, str]] = COLS,
    keys: Sequence[dict[str, str]] = KEYS,
    run_id: str = "r1",
) -> str:
    """Write one Parquet file per partition under `_v=<run_id>` and register table and partitions."""
    root = tmp_path / "wh" / database / table
    catalog.ensure_database(database)
    if catalog.get_table(database, table) is None:
        catalog.create_table(database, table_input(table, columns, keys, f"file://{root}"))
    inputs = []
    for values, data in partitions:
        version = root / partition_path([k["Name"] for k in keys], values) / f"_v={run_id}"
        version.mkdir(parents=True, exist_ok=True)
        arrays = {k: pa.array(v, AMOUNT) if k == "amount" else pa.array(v) for k, v in data.items()}
        pq.write_table(pa.table(arrays), version / "part-0.parquet")
        inputs.append(partition_input(values, f"file://{version}", columns))
    catalog.put_partitions(database, table, inputs)
    return f"file://{root}"


@pytest.fixture
def catalog(tmp_path):
    return LocalCatalog(str(tmp_path / "catalog.sqlite"))


@pytest.fixture
def engine(catalog):
    return DuckDBEngine(catalog)


HOSTILE = ["a/b", "it's", 'say "hi"', "Zürich", "..", "東京", "{[]}^*?", "100%", "x=y:z#", "back\\slash", " sp ace "]


def test_values_come_from_catalog_with_catalog_types(tmp_path, catalog, engine):
    add_table(
        tmp_path,
        catalog,
        [
            (["2026-01-01", "de"], {"id": [1, 2], "amount": [Decimal("1.10"), Decimal("-0.01")]}),
            (["2026-01-02", "fr"], {"id": [3], "amount": [None]}),
        ],
    )
    res = engine.query("SELECT id, amount, dt, country FROM demo.t ORDER BY id")
    assert res.columns == ["id", "amount", "dt", "country"]
    assert res.rows == [
        (1, Decimal("1.10"), dt.date(2026, 1, 1), "de"),
        (2, Decimal("-0.01"), dt.date(2026, 1, 1), "de"),
        (3, None, dt.date(2026, 1, 2), "fr"),
    ]
    star = engine.query("SELECT * FROM demo.t WHERE id = 1")
    assert star.columns == ["id", "amount", "dt", "country"]  # data columns, then partition keys


def test_integer_and_boolean_partition_keys(tmp_path, catalog, engine):
    keys = [{"Name": "b", "Type": "int"}, {"Name": "flag", "Type": "boolean"}]
    add_table(
        tmp_path,
        catalog,
        [(["7", "true"], {"id": [1]}), (["10", "false"], {"id": [2]}), (["007", HIVE_DEFAULT_PARTITION], {"id": [3]})],
        columns=[COLS[0]],
        keys=keys,
    )
    assert engine.query("SELECT id, b, flag FROM demo.t ORDER BY id").rows == [
        (1, 7, True),
        (2, 10, False),
        (3, 7, None),
    ]


def test_default_partition_reads_back_as_null(tmp_path, catalog, engine):
    add_table(
        tmp_path,
        catalog,
        [
            ([HIVE_DEFAULT_PARTITION, HIVE_DEFAULT_PARTITION], {"id": [1], "amount": [Decimal("1")]}),
            (["2026-01-01", "de"], {"id": [2], "amount": [Decimal("2")]}),
        ],
    )
    assert engine.query("SELECT id, dt, country FROM demo.t ORDER BY id").rows == [
        (1, None, None),
        (2, dt.date(2026, 1, 1), "de"),
    ]
    assert engine.query("SELECT count(*) FROM demo.t WHERE country IS NULL").rows == [(1,)]


def test_hostile_values_round_trip_exactly(tmp_path, catalog, engine):
    add_table(
        tmp_path,
        catalog,
        [(["2026-01-01", v], {"id": [i], "amount": [Decimal(i)]}) for i, v in enumerate(HOSTILE)],
    )
    rows = engine.query("SELECT id, country FROM demo.t ORDER BY id").rows
    assert rows == list(enumerate(HOSTILE))
    for i, v in enumerate(HOSTILE):
        assert engine.query("SELECT id FROM demo.t WHERE country = ?", [v]).rows == [(i,)]


def test_hostile_value_as_sql_literal(tmp_path, catalog, engine):
    add_table(tmp_path, catalog, [(["2026-01-01", "it's"], {"id": [1], "amount": [Decimal(1)]})])
    assert engine.query("SELECT id FROM demo.t WHERE country = 'it''s'").rows == [(1,)]


def test_case_distinct_values_stay_distinct(tmp_path, catalog, engine):
    add_table(
        tmp_path,
        catalog,
        [
            (["2026-01-01", "a"], {"id": [1, 2], "amount": [Decimal(1), Decimal(1)]}),
            (["2026-01-01", "A"], {"id": [3], "amount": [Decimal(1)]}),
        ],
    )
    assert engine.query("SELECT country, count(*) FROM demo.t GROUP BY country ORDER BY country").rows == [
        ("A", 1),
        ("a", 2),
    ]
    assert engine.query("SELECT id FROM demo.t WHERE country = ?", ["a"]).rows == [(1,), (2,)]


def test_catalog_column_absent_from_files_is_null(tmp_path, catalog, engine):
    add_table(tmp_path, catalog, [(["2026-01-01", "de"], {"id": [1], "amount": [Decimal("1.00")]})])
    evolved = [*COLS, {"Name": "device", "Type": "string"}, {"Name": "score", "Type": "double"}]
    catalog.update_table("demo", table_input("t", evolved, KEYS, "file:///unused"))
    res = engine.query("SELECT id, device, score, dt FROM demo.t")
    assert res.rows == [(1, None, None, dt.date(2026, 1, 1))]
    assert engine.query("SELECT typeof(device), typeof(score) FROM demo.t").rows == [("VARCHAR", "DOUBLE")]


def test_column_present_in_some_files_only(tmp_path, catalog, engine):
    evolved = [*COLS, {"Name": "device", "Type": "string"}]
    add_table(tmp_path, catalog, [(["2026-01-01", "de"], {"id": [1], "amount": [Decimal(1)]})], columns=evolved)
    add_table(
        tmp_path,
        catalog,
        [(["2026-01-02", "de"], {"id": [2], "amount": [Decimal(2)], "device": ["ios"]})],
        columns=evolved,
        run_id="r2",
    )
    assert engine.query("SELECT id, device FROM demo.t ORDER BY id").rows == [(1, None), (2, "ios")]


def test_only_the_catalogs_version_directory_is_read(tmp_path, catalog, engine):
    add_table(tmp_path, catalog, [(["2026-01-01", "de"], {"id": [1], "amount": [Decimal(1)]})], run_id="r1")
    add_table(tmp_path, catalog, [(["2026-01-01", "de"], {"id": [2, 3], "amount": [Decimal(2)] * 2})], run_id="r2")
    # both version directories exist on disk; the catalog points at r2
    assert engine.query("SELECT id FROM demo.t ORDER BY id").rows == [(2,), (3,)]


def test_bookkeeping_files_next_to_data_are_ignored(tmp_path, catalog, engine):
    add_table(tmp_path, catalog, [(["2026-01-01", "de"], {"id": [1], "amount": [Decimal(1)]})])
    version = tmp_path / "wh/demo/t/dt=2026-01-01/country=de/_v=r1"
    (version / "_SUCCESS").write_text("")
    (version / ".part-0.parquet.crc").write_bytes(b"\x00junk")
    (version / "_tmp.parquet").write_bytes(b"not parquet")
    assert engine.query("SELECT count(*) FROM demo.t").rows == [(1,)]


def test_sees_partitions_published_after_the_first_query(tmp_path, catalog, engine):
    add_table(tmp_path, catalog, [(["2026-01-01", "de"], {"id": [1], "amount": [Decimal(1)]})])
    assert engine.query("SELECT count(*) FROM demo.t").rows == [(1,)]
    add_table(tmp_path, catalog, [(["2026-01-02", "de"], {"id": [2], "amount": [Decimal(1)]})], run_id="r2")
    assert engine.query("SELECT count(*) FROM demo.t").rows == [(2,)]


def test_empty_table(tmp_path, catalog, engine):
    add_table(tmp_path, catalog, [])
    res = engine.query("SELECT * FROM demo.t")
    assert res.columns == ["id", "amount", "dt", "country"]
    assert res.rows == []
    assert engine.query("SELECT count(*), typeof(max(dt)) FROM demo.t").rows == [(0, "DATE")]


def test_parameters(tmp_path, catalog, engine):
    add_table(
        tmp_path,
        catalog,
        [(["2026-01-01", "de"], {"id": [1, 2, 3], "amount": [Decimal("1.5"), Decimal("2.5"), Decimal("3.5")]})],
    )
    res = engine.query("SELECT id FROM demo.t WHERE id > ? AND country = ? ORDER BY id", [1, "de"])
    assert res.rows == [(2,), (3,)]
    # a parameter is data, never SQL
    assert engine.query("SELECT count(*) FROM demo.t WHERE country = ?", ["de' OR '1'='1"]).rows == [(0,)]


def test_athena_functions_are_transpiled(tmp_path, catalog, engine):
    add_table(
        tmp_path,
        catalog,
        [
            (["2026-01-01", "de"], {"id": [1, 2, 2], "amount": [Decimal(1)] * 3}),
            (["2026-02-03", "fr"], {"id": [3], "amount": [None]}),
        ],
    )
    assert engine.query("SELECT approx_distinct(id) FROM demo.t").rows == [(3,)]
    assert engine.query("SELECT count_if(amount IS NULL) FROM demo.t").rows == [(1,)]
    res = engine.query("SELECT DISTINCT date_format(dt, '%Y-%m') AS m FROM demo.t ORDER BY m")
    assert res.rows == [("2026-01",), ("2026-02",)]


def test_date_add_on_a_date_returns_a_date(tmp_path, catalog, engine):
    add_table(tmp_path, catalog, [(["2026-01-31", "de"], {"id": [1], "amount": [Decimal(1)]})])
    assert engine.query("SELECT date_add('day', 1, dt) FROM demo.t").rows == [(dt.date(2026, 2, 1),)]


def test_decimal_literal_keeps_its_scale(engine):
    (value,) = engine.query("SELECT DECIMAL '2.50'").rows[0]
    assert str(value) == "2.50"


def test_cte_and_join(tmp_path, catalog, engine):
    add_table(tmp_path, catalog, [(["2026-01-01", "de"], {"id": [1, 2], "amount": [Decimal(1), Decimal(2)]})])
    add_table(
        tmp_path,
        catalog,
        [(["2026-01-01", "de"], {"id": [2], "amount": [Decimal(9)]})],
        table="u",
    )
    sql = (
        "WITH big AS (SELECT id FROM demo.t WHERE amount > 1) "
        "SELECT b.id, u.amount FROM big b JOIN demo.u u ON b.id = u.id"
    )
    assert engine.query(sql).rows == [(2, Decimal("9.00"))]


def test_cte_named_like_the_table(tmp_path, catalog, engine):
    add_table(tmp_path, catalog, [(["2026-01-01", "de"], {"id": [1, 2], "amount": [Decimal(1), Decimal(2)]})])
    assert engine.query("WITH t AS (SELECT * FROM demo.t WHERE id > 1) SELECT id FROM t").rows == [(2,)]


def test_tables_whose_names_join_to_the_same_string(tmp_path, catalog, engine):
    add_table(
        tmp_path,
        catalog,
        [(["2026-01-01", "de"], {"id": [1, 2], "amount": [Decimal(1)] * 2})],
        database="demo_x",
        table="y",
    )
    add_table(
        tmp_path, catalog, [(["2026-01-01", "de"], {"id": [3], "amount": [Decimal(1)]})], database="demo", table="x_y"
    )
    res = engine.query("SELECT (SELECT count(*) FROM demo_x.y), (SELECT count(*) FROM demo.x_y)")
    assert res.rows == [(2, 1)]


def test_data_column_named_filename(tmp_path, catalog, engine):
    cols = [COLS[0], {"Name": "filename", "Type": "string"}]
    add_table(tmp_path, catalog, [(["2026-01-01", "de"], {"id": [1], "filename": ["app.log"]})], columns=cols)
    assert engine.query("SELECT id, filename FROM demo.t").rows == [(1, "app.log")]


def test_identifiers_are_case_insensitive(tmp_path, catalog, engine):
    add_table(tmp_path, catalog, [(["2026-01-01", "de"], {"id": [1], "amount": [Decimal(1)]})])
    assert engine.query("SELECT count(*) FROM DEMO.T").rows == [(1,)]


def test_unknown_table(catalog, engine):
    catalog.ensure_database("demo")
    with pytest.raises(QueryError) as info:
        engine.query("SELECT * FROM demo.nope")
    assert str(info.value) == "query error: table demo.nope is not in the catalog"


def test_unqualified_table(engine):
    with pytest.raises(QueryError) as info:
        engine.query("SELECT * FROM events")
    assert str(info.value) == "query error: table 'events': address tables as database.table"


def test_unparsable_sql(engine):
    with pytest.raises(QueryError) as info:
        engine.query("SELECT FROM WHERE")
    assert str(info.value).startswith("query error: cannot parse SQL: ")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("sql", ["SELECT 'abc", 'SELECT "abc'])
def test_untokenizable_sql(engine, sql):
    with pytest.raises(QueryError, match="cannot parse SQL"):
        engine.query(sql)


def test_more_than_one_statement(engine):
    with pytest.raises(QueryError):
        engine.query("SELECT 1; SELECT 2")


def test_execution_error_is_one_line_query_error(tmp_path, catalog, engine):
    add_table(tmp_path, catalog, [(["2026-01-01", "de"], {"id": [1], "amount": [Decimal(1)]})])
    with pytest.raises(QueryError) as info:
        engine.query("SELECT no_such_column FROM demo.t")
    msg = str(info.value)
    assert msg.startswith("query error: ") and "no_such_column" in msg
    assert "\n" not in msg


def test_queries_issued_counts(tmp_path, catalog, engine):
    add_table(tmp_path, catalog, [(["2026-01-01", "de"], {"id": [1], "amount": [Decimal(1)]})])
    assert engine.queries_issued == 0
    engine.query("SELECT count(*) FROM demo.t")
    engine.query("SELECT 1")
    assert engine.queries_issued == 2
    with pytest.raises(QueryError):
        engine.query("SELECT * FROM demo.nope")  # refused before reaching the engine
    assert engine.queries_issued == 2
    # attaching a table costs no extra query
    engine.query("SELECT a.id FROM demo.t a JOIN demo.t b ON a.id = b.id")
    assert engine.queries_issued == 3
