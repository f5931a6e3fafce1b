"""End to end: `lakeloader run | validate | query` in-process on generated input, checked against the raw CSV."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections import Counter
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest

from conftest import events_table, expected_from_csv
from lakeloader.catalog import open_catalog
from lakeloader.cli import main
from lakeloader.config import load_config
from lakeloader.query import open_engine
from lakeloader.sample import generate

pytestmark = [pytest.mark.spark, pytest.mark.e2e]


def table_contents(cfg: str) -> dict[tuple[str, str | None], tuple[int, Decimal]]:
    config = load_config(cfg)
    engine = open_engine(config, open_catalog(config))
    rows = engine.query("SELECT dt, country, count(*), coalesce(sum(amount), 0) FROM demo.events GROUP BY 1, 2").rows
    return {(d.isoformat(), c): (n, Decimal(s)) for d, c, n, s in rows}


def catalog_table(cfg: str):
    config = load_config(cfg)
    return open_catalog(config).get_table("demo", "events")


@pytest.fixture(scope="module")
def sample_input(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("input") / "events"
    generate(folder, rows=12_000, files=2, days=3, bad_rows=6, seed=11)
    return folder


def run(cfg: str, inp: Path | str, *extra: str) -> int:
    return main(["run", "--config", cfg, "--table", "events", "--input", str(inp), "--run-date", "2026-11-03", *extra])


def test_run_loads_every_row_once_and_values_round_trip(write_config, sample_input, capsys, tmp_path):
    cfg = write_config({"events": events_table()})
    assert run(cfg, sample_input) == 0
    out = capsys.readouterr().out
    expected = expected_from_csv(sample_input)
    assert table_contents(cfg) == expected  # counts and sums per partition, hostile values included
    total = sum(n for n, _ in expected.values())
    assert f"rows       {total} written of {total + 6} read, 6 malformed" in out
    assert f"partitions {len(expected)} ({len(expected)} new, 0 replaced, 0 removed)" in out
    # The malformed rows went to quarantine, with the file they came from.
    quarantined = [
        json.loads(line)
        for f in (tmp_path / "warehouse/_lakeloader/demo/events/quarantine").rglob("*.json")
        for line in f.read_text().splitlines()
    ]
    assert len(quarantined) == 6
    assert all(q["source_file"].endswith(".csv") and q["record"] for q in quarantined)
    # Per-partition statistics in the manifest come from the footers and agree with the data.
    manifest = json.loads(next((tmp_path / "warehouse/_lakeloader/demo/events/manifests").glob("*.json")).read_text())
    config = load_config(cfg)
    facts = (
        open_engine(config, open_catalog(config))
        .query(
            "SELECT dt, country, count(*) - count(amount), min(event_id), max(event_id) FROM demo.events GROUP BY 1, 2"
        )
        .rows
    )
    expected_stats = {
        (d.isoformat(), c or "__HIVE_DEFAULT_PARTITION__"): (nulls, str(lo), str(hi)) for d, c, nulls, lo, hi in facts
    }
    got_stats = {
        tuple(p["values"]): (
            p["columns"]["amount"]["nulls"],
            p["columns"]["event_id"]["min"],
            p["columns"]["event_id"]["max"],
        )
        for p in manifest["partitions"]
    }
    assert got_stats == expected_stats
    # The table location holds only data files: no markers, no bookkeeping, one version per partition.
    files = [p for p in (tmp_path / "warehouse/demo/events").rglob("*") if p.is_file()]
    assert files and all(p.name.startswith("part-") and p.suffix == ".parquet" for p in files)


def test_rerun_is_a_no_op_and_a_new_run_replaces_partitions(write_config, sample_input, capsys, tmp_path):
    cfg = write_config({"events": events_table()})
    assert run(cfg, sample_input) == 0
    run_id = re.search(r"lakeloader run (\S+): published", capsys.readouterr().out).group(1)
    first = table_contents(cfg)
    assert run(cfg, sample_input) == 0
    assert f"lakeloader run {run_id}: already-published" in capsys.readouterr().out
    # Checks and retention decide nothing about the data: editing them keeps the rerun a no-op...
    edited = events_table(
        checks=[{"kind": "not_null", "column": "user_id", "severity": "warn"}], retain_versions=2, retain_for="0"
    )
    assert run(write_config({"events": edited}), sample_input) == 0
    assert f"lakeloader run {run_id}: already-published" in capsys.readouterr().out
    # ...while a setting that changes the files written is a new run.
    assert run(write_config({"events": events_table(compression="zstd")}), sample_input, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "lakeloader run " in out and run_id not in out
    cfg = write_config({"events": events_table(retain_for=0)})
    assert run(cfg, sample_input, "--run-id", "second") == 0
    assert "0 new" in capsys.readouterr().out
    assert table_contents(cfg) == first  # exactly one copy of every row
    versions = {p.name for p in (tmp_path / "warehouse/demo/events").rglob("_v=*")}
    assert versions == {"_v=second"}  # with retain_for: 0 superseded versions go at once (tests/test_retention.py)


def test_audit_stops_a_failing_run_and_validate_reports_a_published_table(write_config, sample_input, capsys, tmp_path):
    cfg = write_config({"events": events_table()})
    assert run(cfg, sample_input) == 0
    out = capsys.readouterr().out
    assert "validation of demo.events__lakeloader_staging" in out and "all checks passed" in out
    first = table_contents(cfg)
    assert main(["validate", "--config", cfg, "--table", "events", "--report", str(tmp_path / "r.json")]) == 0
    assert "all checks passed" in capsys.readouterr().out
    assert json.loads((tmp_path / "r.json").read_text())["passed"] is True
    # Appending the same rows again would duplicate every event_id: the audit stops it before publishing.
    assert run(cfg, sample_input, "--mode", "append", "--run-id", "again") == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "audit of run again failed, nothing was published: unique(event_id) 12000 failing" in err
    assert table_contents(cfg) == first
    assert not list((tmp_path / "warehouse/demo/events").rglob("_v=again"))
    failed = json.loads((tmp_path / "warehouse/_lakeloader/demo/events/manifests/again.json").read_text())
    assert failed["status"] == "audit-failed" and failed["audit"]["passed"] is False
    assert catalog_table(cfg)["Name"] == "events"
    assert load_config(cfg) and open_catalog(load_config(cfg)).get_table("demo", "events__lakeloader_staging") is None
    # A rule added later finds published rows that break it: validate names the check, exit 1.
    strict = events_table(checks=[{"kind": "accepted_values", "column": "device", "values": ["ios"]}])
    cfg = write_config({"events": strict})
    assert main(["validate", "--config", cfg, "--table", "events"]) == 1
    err = capsys.readouterr().err
    assert "validation failed" in err and "accepted_values(device)" in err


def null_amounts(folder: Path) -> int:
    """Well-formed rows of the raw CSV files whose amount is empty, counted from the files themselves."""
    n = 0
    for f in sorted(folder.glob("*.csv")):
        with f.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                try:
                    int(row["event_id"])
                    dt.datetime.strptime(row["event_ts"], "%Y-%m-%d %H:%M:%S")
                    Decimal(row["amount"]) if row["amount"] else None
                except (ValueError, InvalidOperation):
                    continue
                n += not row["amount"]
    return n


def test_an_audit_answered_by_the_statistics_still_stops_bad_data(write_config, sample_input, capsys, tmp_path):
    nulls = null_amounts(sample_input)
    assert nulls > 0
    checks = [{"kind": "range", "column": "event_id", "min": 0}, {"kind": "not_null", "column": "amount"}]
    cfg = write_config({"events": events_table(checks=checks)})
    assert run(cfg, sample_input) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"failed, nothing was published: not_null(amount) {nulls} failing" in err
    failed = json.loads(next((tmp_path / "warehouse/_lakeloader/demo/events/manifests").glob("*.json")).read_text())
    assert failed["status"] == "audit-failed" and failed["audit"]["queries"] == 0  # the statistics answered
    assert not [p for p in (tmp_path / "warehouse/demo/events").rglob("*.parquet")]
    assert catalog_table(cfg) is None
    # The same checks where the data keeps them: published, still without reading a data file.
    ok = [checks[0], {"kind": "not_null", "column": "event_id"}]
    assert run(write_config({"events": events_table(checks=ok)}), sample_input) == 0
    assert "0 queries" in capsys.readouterr().out


def test_append_keeps_existing_rows_and_overwrite_replaces_the_table(write_config, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    generate(a, rows=2_000, files=1, days=2, seed=1)
    generate(b, rows=1_000, files=1, days=3, seed=2, start=dt.date(2026, 11, 2))
    cfg = write_config({"events": events_table(checks=[])})
    assert run(cfg, a) == 0
    assert run(cfg, b, "--mode", "append") == 0
    merged = Counter()
    for part in (expected_from_csv(a), expected_from_csv(b)):
        for k, (n, _) in part.items():
            merged[k] += n
    assert {k: n for k, (n, _) in table_contents(cfg).items()} == dict(merged)
    assert run(cfg, b, "--mode", "overwrite") == 0
    assert "removed" in capsys.readouterr().out
    assert table_contents(cfg) == expected_from_csv(b)


def test_on_bad_records_fail_stops_and_registers_nothing(write_config, sample_input, capsys):
    table = events_table()
    table["source"]["on_bad_records"] = "fail"
    cfg = write_config({"events": table})
    assert run(cfg, sample_input) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # progress logs come before it
    assert err.startswith("input error: ") and "malformed csv row" in err and str(sample_input) in err
    assert catalog_table(cfg) is None


def test_on_bad_records_drop_counts_them_without_quarantine(write_config, sample_input, capsys, tmp_path):
    table = events_table()
    table["source"]["on_bad_records"] = "drop"
    cfg = write_config({"events": table})
    assert run(cfg, sample_input) == 0
    assert "6 malformed" in capsys.readouterr().out
    assert not (tmp_path / "warehouse/_lakeloader/demo/events/quarantine").exists()
    assert table_contents(cfg) == expected_from_csv(sample_input)


def test_schema_evolution_appends_a_new_column_and_refuses_a_type_change(write_config, tmp_path, capsys):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    (old / "a.csv").write_text("id,day,v\n1,2026-01-01,x\n")
    (new / "a.csv").write_text("id,day,v,extra\n2,2026-01-02,y,7\n")
    base = {"database": "demo", "partitions": [{"name": "day"}], "checks": []}
    src = {"path": str(old), "format": "csv", "options": {"header": True}}
    cfg = write_config({"events": {**base, "source": {**src, "schema": "id INT, day STRING, v STRING"}}})
    assert run(cfg, old) == 0
    cfg = write_config({"events": {**base, "source": {**src, "schema": "id INT, day STRING, v STRING, extra INT"}}})
    assert run(cfg, new) == 0
    config = load_config(cfg)
    columns = [c["Name"] for c in catalog_table(cfg)["StorageDescriptor"]["Columns"]]
    assert columns == ["id", "v", "extra"]
    rows = open_engine(config, open_catalog(config)).query("SELECT id, extra FROM demo.events ORDER BY id").rows
    assert rows == [(1, None), (2, 7)]
    cfg = write_config({"events": {**base, "source": {**src, "schema": "id STRING, day STRING, v STRING, extra INT"}}})
    assert run(cfg, new, "--run-id", "typechange") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("schema error: ") and "'id' changed type from int to string" in err
    assert open_engine(config, open_catalog(config)).query("SELECT count(*) FROM demo.events").rows == [(2,)]


@pytest.mark.parametrize(
    ("mutate", "args", "message"),
    [
        (lambda t: t, ["--input", "/nonexistent/in"], "input error: input not found: no data files at /nonexistent/in"),
        (
            lambda t: {**t, "partitions": [{"name": "dt", "from": "evnt_ts", "transform": "date"}]},
            [],
            "'evnt_ts' is not in the input schema (did you mean 'event_ts'?)",
        ),
        (
            lambda t: {**t, "source": {**t["source"], "format": "parquet", "schema": None}},
            [],
            "input error: cannot read",
        ),
        (lambda t: {**t, "partitons": []}, [], "tables.events.partitons: unknown key (did you mean 'partitions'?)"),
        (lambda t: t, ["--run-date", "2026-02-30"], "'2026-02-30' is not a date as YYYY-MM-DD"),
        (lambda t: t, ["--run-id", "../etc"], "--run-id '../etc'"),
        (lambda t: t, ["--input", "/in/{date}/"], "usage error: --input '/in/{date}/': bad placeholder ('date')"),
    ],
    ids=[
        "missing-input",
        "unknown-partition-column",
        "wrong-format",
        "unknown-key",
        "bad-run-date",
        "bad-run-id",
        "bad-input-template",
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_registered(write_config, sample_input, capsys, mutate, args, message):
    cfg = write_config({"events": mutate(events_table())})
    argv = ["run", "--config", cfg, "--table", "events"]
    argv += args if "--input" in args else ["--input", str(sample_input), *args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # progress logs come before it
    assert message in err
    if "unknown key" not in message:
        assert catalog_table(cfg) is None


def test_malformed_yaml_names_file_and_line(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("warehouse: x\ntables:\n  events: {database: demo\n")
    assert main(["run", "--config", str(cfg), "--table", "events"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"config error: {cfg}:") and "malformed YAML" in err


def test_dry_run_writes_nothing(write_config, sample_input, capsys, tmp_path):
    cfg = write_config({"events": events_table()})
    assert run(cfg, sample_input, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "dry-run" in out and "2 files" in out
    assert not (tmp_path / "warehouse").exists() and catalog_table(cfg) is None


def test_query_formats_and_output_file(write_config, sample_input, capsys, tmp_path):
    cfg = write_config({"events": events_table()})
    assert run(cfg, sample_input) == 0
    capsys.readouterr()
    sql = "SELECT dt, count(*) AS n FROM demo.events WHERE country = 'a/b' GROUP BY dt ORDER BY dt"
    expected = sorted((d, n) for (d, c), (n, _) in expected_from_csv(sample_input).items() if c == "a/b")
    assert main(["query", "--config", cfg, sql, "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "dt,n" and lines[1:] == [f"{d},{n}" for d, n in expected]
    assert main(["query", "--config", cfg, sql, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"dt": d, "n": n} for d, n in expected]
    out = tmp_path / "q.csv"
    assert main(["query", "--config", cfg, sql, "--output", str(out)]) == 0
    assert out.read_text().splitlines() == lines


def test_spark_submit_entry_point_takes_the_run_arguments(write_config, sample_input, capsys):
    from jobs.ingest import main as ingest_main

    cfg = write_config({"events": events_table()})
    assert ingest_main(["--config", cfg, "--table", "events", "--input", str(sample_input)]) == 0
    assert "published" in capsys.readouterr().out
    assert ingest_main(["--config", cfg, "--table", "nope"]) == 2
    assert "no table 'nope'" in capsys.readouterr().err


def test_unparsable_partition_source_is_reported_not_silently_null(write_config, tmp_path, caplog):
    inp = tmp_path / "flights"
    inp.mkdir()
    # US DOT on-time data writes dates like this; to_date() cannot read them without a format.
    (inp / "a.csv").write_text("FL_DATE,Carrier\n1/31/2023 12:00:00 AM,AA\n2023-02-01,UA\n,UA\n")
    table = {
        "database": "demo",
        "source": {"path": str(inp), "format": "csv", "options": {"header": True}},
        "partitions": [{"name": "dt", "from": "fl_date", "transform": "date"}],
    }
    cfg = write_config({"events": table})
    assert run(cfg, inp) == 0
    assert "1 rows have a fl_date value that does not parse as a date" in caplog.text
    config = load_config(cfg)
    rows = open_engine(config, open_catalog(config)).query("SELECT dt, carrier FROM demo.events ORDER BY 2, 1").rows
    assert rows == [(None, "AA"), (dt.date(2023, 2, 1), "UA"), (None, "UA")]
