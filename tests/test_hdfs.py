"""Input on a real HDFS (a local NameNode + DataNode in their own JVM): the run reads hdfs:// end to end."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from conftest import events_contents, events_table, expected_from_csv, hdfs_put
from lakeloader.catalog import open_catalog
from lakeloader.cli import main
from lakeloader.config import load_config
from lakeloader.query import open_engine
from lakeloader.sample import generate

pytestmark = [pytest.mark.spark, pytest.mark.e2e]


def test_run_from_hdfs_templated_date_dirs_matches_the_source_and_rerun_is_a_no_op(
    spark, hdfs, write_config, tmp_path, capsys
):
    local = tmp_path / "in"
    generate(local, rows=2_000, files=2, days=2, bad_rows=0, seed=11)
    # laid out as HDFS clusters usually are: one directory per day, picked by --run-date
    hdfs_put(spark, local, f"{hdfs}/landing/events/2024/03/05")
    table = events_table(checks=[])  # the added file reuses event ids; uniqueness is not what this tests
    table["source"]["path"] = f"{hdfs}/landing/events/{{run_date:%Y/%m/%d}}/*.csv"
    cfg = write_config({"events": table})
    argv = ["run", "--config", cfg, "--table", "events", "--run-date", "2024-03-05"]
    assert main(argv) == 0
    assert events_contents(cfg) == expected_from_csv(local)
    capsys.readouterr()

    assert main(argv) == 0  # same listing on HDFS: the same run id, nothing to do
    assert "already-published" in capsys.readouterr().out

    # a file added on HDFS is a new listing, so a new run that rewrites the partitions
    generate(tmp_path / "more", rows=500, files=1, days=2, bad_rows=0, seed=12)
    for f in (tmp_path / "more").glob("*.csv"):
        f.rename(local / f"more-{f.name}")
    hdfs_put(spark, local, f"{hdfs}/landing/events/2024/03/05")
    assert main(argv) == 0
    assert "already-published" not in capsys.readouterr().out
    assert events_contents(cfg) == expected_from_csv(local)


def test_a_missing_hdfs_path_is_one_line(spark, hdfs, write_config, capsys):
    cfg = write_config({"events": events_table()})
    missing = f"{hdfs}/landing/nowhere"
    assert main(["run", "--config", cfg, "--table", "events", "--input", missing]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "java." not in err
    assert err.strip().splitlines()[-1] == f"input error: input not found: no data files at {missing}"


def write_as(fmt: str, csv_dir: Path, out: Path) -> None:
    """The sample CSV's files rewritten as `fmt` by pyarrow / DuckDB / Python (not Spark), one file each.

    text: one log line per event, `<event_ts> event=<id> amount=<amount>`.
    """
    import duckdb
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.orc as orc
    import pyarrow.parquet as pq

    out.mkdir(parents=True)
    types = {"event_id": pa.int64(), "event_ts": pa.timestamp("us"), "amount": pa.decimal128(12, 2)}
    for f in sorted(csv_dir.glob("*.csv")):
        dst = out / f"{f.stem}.{fmt}"
        if fmt == "text":
            with f.open(newline="", encoding="utf-8") as fh:
                lines = [f"{r['event_ts']} event={r['event_id']} amount={r['amount']}\n" for r in csv.DictReader(fh)]
            dst.write_text("".join(lines), encoding="utf-8")
            continue
        opts = pcsv.ConvertOptions(column_types=types, strings_can_be_null=True)
        events = pcsv.read_csv(f, convert_options=opts)
        if fmt == "parquet":
            pq.write_table(events.cast(events.schema.set(1, pa.field("event_ts", pa.timestamp("us", "UTC")))), dst)
        elif fmt == "orc":
            orc.write_table(events, dst)
        else:
            duckdb.sql(f"COPY (SELECT * FROM events) TO '{dst}' (FORMAT json)")


def text_expected(folder: Path) -> dict[str, tuple[int, int]]:
    """date -> (lines, characters) of the text files, in plain Python."""
    lines = [line for f in sorted(folder.iterdir()) for line in f.read_text(encoding="utf-8").splitlines()]
    rows, chars = Counter(line[:10] for line in lines), Counter()
    for line in lines:
        chars[line[:10]] += len(line)
    return {d: (rows[d], chars[d]) for d in rows}


def text_contents(cfg: str) -> dict[str, tuple[int, int]]:
    config = load_config(cfg)
    engine = open_engine(config, open_catalog(config))
    rows = engine.query("SELECT dt, count(*), sum(length(value)) FROM demo.events GROUP BY 1").rows
    return {d.isoformat(): (n, c) for d, n, c in rows}


@pytest.mark.parametrize("fmt", ["json", "parquet", "orc", "text"])
def test_every_input_format_from_hdfs_via_a_templated_input_matches_the_source(
    spark, hdfs, write_config, tmp_path, capsys, fmt
):
    source = tmp_path / "csv"
    generate(source, rows=600, files=2, days=2, bad_rows=0, seed=21)
    local = tmp_path / fmt
    write_as(fmt, source, local)
    hdfs_put(spark, local, f"{hdfs}/landing/{fmt}/2024/03/05")
    table = events_table(checks=[], source={"path": "unused", "format": fmt, "options": {}, "schema": None})
    if fmt == "json":  # JSON carries no decimal or timestamp type: the table declares them, as a user would
        table["source"]["schema"] = events_table()["source"]["schema"]
    if fmt == "text":  # one `value` column per line: partition the log lines by the date they start with
        table["partitions"] = [{"name": "dt", "from": "value", "transform": "date"}]
    cfg = write_config({"events": table})
    # --input with the same template source.path takes (and a glob): the day's directory of this format
    argv = ["run", "--config", cfg, "--table", "events", "--run-date", "2024-03-05"]
    argv += ["--input", f"{hdfs}/landing/{fmt}/{{run_date:%Y/%m/%d}}/part-*"]
    assert main(argv) == 0
    if fmt == "text":
        assert text_contents(cfg) == text_expected(local)
    else:
        assert events_contents(cfg) == expected_from_csv(source)
    manifests = tmp_path / "warehouse/_lakeloader/demo/events/manifests"
    (manifest,) = [json.loads(m.read_text()) for m in manifests.glob("*.json")]
    assert manifest["input_uri"] == f"{hdfs}/landing/{fmt}/2024/03/05/part-*"
    assert (manifest["input_files"], manifest["input_bytes"]) == (2, sum(f.stat().st_size for f in local.iterdir()))
    assert manifest["status"] == "published"
    capsys.readouterr()

    assert main(argv) == 0  # the same listing on HDFS: the same run id, nothing to do
    assert "already-published" in capsys.readouterr().out
    assert len(list(manifests.glob("*.json"))) == 1
