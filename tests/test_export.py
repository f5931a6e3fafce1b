"""`lakeloader export`: channels from a table's published partitions (DuckDB locally, UNLOAD on Athena)."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import build_manifest
from lakeloader import cli
from lakeloader import manifest as manifests
from lakeloader.catalog.local import LocalCatalog
from lakeloader.catalog.tables import partition_input, table_input
from lakeloader.errors import UsageError
from lakeloader.export import parse_split, thresholds
from lakeloader.hive import partition_path
from lakeloader.query.export_sql import BUCKETS, bucket_expr, select_sql

COLS = [
    {"Name": "user_id", "Type": "string"},
    {"Name": "n", "Type": "bigint"},
    {"Name": "amount", "Type": "double"},
]
KEYS = [{"Name": "dt", "Type": "date"}]
USERS = [f"u{i % 97}" if i % 13 else None for i in range(600)]  # repeats and NULLs


def py_bucket(value: object) -> int:
    """The documented hash, computed independently of any SQL engine."""
    text = "" if value is None else str(value)
    return int.from_bytes(hashlib.md5(text.encode("utf-8")).digest()[:4], "big") % BUCKETS


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """A config, a SQLite catalog and a two-partition table demo.t with 600 rows (300 a partition)."""
    wh = tmp_path / "wh"
    catalog = LocalCatalog(str(tmp_path / "catalog.sqlite"))
    catalog.ensure_database("demo")
    catalog.create_table("demo", table_input("t", COLS, KEYS, f"file://{wh}/demo/t"))
    parts = []
    for p, day in enumerate(["2024-01-01", "2024-01-02"]):
        version = wh / "demo" / "t" / partition_path(["dt"], [day]) / "_v=r1"
        version.mkdir(parents=True)
        rows = range(p * 300, (p + 1) * 300)
        data = {"user_id": [USERS[i] for i in rows], "n": list(rows), "amount": [i / 4 for i in rows]}
        pq.write_table(pa.table(data), version / "part-0.parquet")
        parts.append(partition_input([day], f"file://{version}", COLS))
    # A stale version next to the published one: an export must not read it.
    stale = wh / "demo" / "t" / partition_path(["dt"], ["2024-01-01"]) / "_v=r0"
    stale.mkdir(parents=True)
    pq.write_table(pa.table({"user_id": ["stale"], "n": [-1], "amount": [0.0]}), stale / "part-0.parquet")
    catalog.put_partitions("demo", "t", parts)
    (tmp_path / "lake.yaml").write_text(
        f"warehouse: {wh}\ncatalog: {{kind: local, path: {tmp_path / 'catalog.sqlite'}}}\nquery: {{engine: duckdb}}\n"
        "tables:\n  t:\n    database: demo\n    source: {path: /nowhere, format: parquet}\n"
        "    partitions: [{name: dt}]\n"
    )
    return tmp_path


def export(lake: Path, *args: str) -> int:
    return cli.main(["export", "--config", str(lake / "lake.yaml"), "--table", "t", *args])


SPLIT = ["--label", "amount", "--split", "train=0.8,validation=0.1,test=0.1", "--split-by", "user_id"]


def read_channel(out: Path, channel: str) -> list[list[str]]:
    rows = []
    for f in sorted((out / channel).glob("*.csv")):
        rows += list(csv.reader(f.open(newline="")))
    return rows


def test_local_export_splits_every_row_once_deterministically(lake, capsys):
    out = lake / "out"
    assert export(lake, "--to", str(out), *SPLIT) == 0
    summary = json.loads((out / "export.json").read_text())
    assert sum(summary["rows"].values()) == 600  # the stale version's row is not there
    channels = {c: read_channel(out, c) for c in ("train", "validation", "test")}
    assert {c: len(r) for c, r in channels.items()} == summary["rows"]
    bounds = thresholds(parse_split("train=0.8,validation=0.1,test=0.1"))
    for channel, rows in channels.items():
        for row in rows:
            assert len(row) == 4 and row[0] == str(float(row[0]))  # label first, no header
            user = row[1] or None
            expected = next(name for name, bound in bounds if py_bucket(user) < bound)
            assert expected == channel, (row, channel)
    assert all(len(r) > 0 for r in channels.values())
    assert [c["name"] for c in summary["columns"]] == ["amount", "user_id", "n", "dt"]
    assert summary["source_run_ids"] == []
    assert summary["InputDataConfig"][1] == {
        "ChannelName": "validation",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": f"{out}/validation/",
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "ContentType": "text/csv",
        "CompressionType": "None",
    }
    assert '"ChannelName": "train"' in capsys.readouterr().out

    first = {c: sorted(map(tuple, r)) for c, r in channels.items()}
    assert export(lake, "--to", str(out), *SPLIT, "--overwrite") == 0
    assert {c: sorted(map(tuple, read_channel(out, c))) for c in first} == first


def test_pandas_reads_label_in_column_zero(lake):
    import pandas as pd  # a test dependency: what a SageMaker user reads CSV with

    out = lake / "out"
    assert export(lake, "--to", str(out), "--columns", "n,amount", "--label", "amount") == 0
    df = pd.read_csv(out / "train" / "part-00000.csv", header=None)
    assert df.shape == (600, 2) and sorted(df[0]) == sorted(i / 4 for i in range(600))


def test_parquet_channels_and_where(lake):
    out = lake / "out"
    args = ["--to", str(out), "--format", "parquet", "--where", "dt = DATE '2024-01-02'", *SPLIT]
    assert export(lake, *args) == 0
    total = sum(pq.read_table(f).num_rows for f in out.glob("*/*.parquet"))
    summary = json.loads((out / "export.json").read_text())
    assert total == sum(summary["rows"].values()) == 300
    assert pq.read_table(out / "train" / "part-00000.parquet").column_names == ["amount", "user_id", "n", "dt"]


def test_run_date_exports_that_days_partitions_only(lake):
    by_date, by_where = lake / "by-date", lake / "by-where"
    assert export(lake, "--to", str(by_date), "--format", "parquet", "--run-date", "2024-01-02", *SPLIT) == 0
    assert export(lake, "--to", str(by_where), "--format", "parquet", "--where", "dt = DATE '2024-01-02'", *SPLIT) == 0
    rows = pa.concat_tables([pq.read_table(f) for f in sorted(by_date.glob("*/*.parquet"))])
    assert sorted(rows.column("n").to_pylist()) == list(range(300, 600))
    assert (
        json.loads((by_date / "export.json").read_text())["rows"]
        == json.loads((by_where / "export.json").read_text())["rows"]
    )
    # ANDed with --where
    both = lake / "both"
    assert export(lake, "--to", str(both), "--format", "parquet", "--run-date", "2024-01-02", "--where", "n < 310") == 0
    assert sum(pq.read_table(f).num_rows for f in both.glob("*/*.parquet")) == 10


def test_run_date_needs_a_date_partition_key(lake, capsys):
    catalog = LocalCatalog(str(lake / "catalog.sqlite"))
    meta = catalog.get_table("demo", "t")
    location = meta["StorageDescriptor"]["Location"]
    catalog.update_table("demo", table_input("t", COLS, [{"Name": "dt", "Type": "string"}], location))
    out = lake / "out"
    assert export(lake, "--to", str(out), "--run-date", "2024-01-02") == 2
    err = capsys.readouterr().err.strip()
    assert "--run-date: demo.t has no date partition key" in err and "\n" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--run-date", "2024-13-01"], "--run-date 2024-13-01: not a date"),
        (["--columns", "n,nope"], "--columns: nope not in demo.t"),
        (["--columns", "n", "--label", "amount"], "--label amount: not among the exported columns"),
        (["--split", "train=0.8,test=0.1", "--split-by", "n"], "sum to 0.9, not 1"),
        (["--split", "train=0.5,test=0.5"], "needs --split-by"),
        (["--split", "train=0.5,test=0.5", "--split-by", "amount"], "prints differently"),
        (["--where", "1; DROP TABLE x"], "--where"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(lake, capsys, args, message):
    out = lake / "out"
    assert export(lake, "--to", str(out), *args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not out.exists()


def test_non_empty_prefix_needs_overwrite(lake, capsys):
    out = lake / "out"
    out.mkdir()
    (out / "keep.csv").write_text("x\n")
    assert export(lake, "--to", str(out)) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "keep.csv").exists() and not (out / "train").exists()


def save_run(lake: Path, run_id: str, status: str, passed: bool, locations: list[str]) -> None:
    parts = [manifests.PartitionStats(values=["x"], location=loc, files=1, rows=1, bytes=1) for loc in locations]
    m = build_manifest(
        parts, run_id=run_id, table="t", run_date="2024-01-02", status=status,
        table_location=f"file://{lake}/wh/demo/t", input_uri="x", rows_read=1, rows_written=1, audit={"passed": passed},
    )  # fmt: skip
    manifests.save(m, f"{lake / 'wh'}/_lakeloader/demo/t")


def test_source_runs_and_refusal_after_a_failed_validation(lake, capsys):
    live = f"file://{lake}/wh/demo/t/dt=2024-01-01/_v=r1"
    save_run(lake, "r0", "published", True, [f"file://{lake}/wh/demo/t/dt=2024-01-01/_v=r0"])  # replaced since
    save_run(lake, "r1", "published", True, [live])
    out = lake / "out"
    assert export(lake, "--to", str(out)) == 0
    assert json.loads((out / "export.json").read_text())["source_run_ids"] == ["r1"]

    save_run(lake, "r2", "failed", False, [])
    assert export(lake, "--to", str(out), "--overwrite") == 1
    assert "last validation (run r2) failed" in capsys.readouterr().err
    assert (out / "export.json").exists() and (out / "train").exists()  # the earlier export is untouched
    assert export(lake, "--to", str(out), "--overwrite", "--force") == 0


def test_split_parsing():
    assert parse_split("a=0.7, b=0.3".replace(" ", "")) == {"a": 0.7, "b": 0.3}
    assert thresholds({"a": 0.7, "b": 0.2, "c": 0.1}) == [("a", 7000), ("b", 9000), ("c", BUCKETS)]
    for bad in ("a=0.5,a=0.5", "a", "a=x", "a=0,b=1", "=1"):
        with pytest.raises(UsageError):
            parse_split(bad)


def test_athena_sql_uses_the_same_hash_in_trino_functions():
    expr = bucket_expr("user_id", "athena")
    assert expr == (
        "from_big_endian_64(concat(X'00000000', substr(md5(to_utf8(coalesce(CAST(\"user_id\" AS varchar), ''))), "
        "1, 4))) % 10000"
    )
    sql = select_sql("demo", "t", COLS[:1], "user_id", [("train", 8000), ("test", BUCKETS)], None)
    assert f"CASE WHEN {expr} < 8000 THEN 'train' ELSE 'test' END AS __channel" in sql
