"""`lakeloader plan`: sizes, the arithmetic an engineer redoes by hand, and agreement with a real run."""

from __future__ import annotations

import json
import math

import pytest

from conftest import events_table
from lakeloader.cli import main
from lakeloader.config import parse_config
from lakeloader.errors import UsageError
from lakeloader.plan import Assumptions, make_plan, parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [("1PB", 10**15), ("500 GiB", 500 * 2**30), ("1000000", 10**6), ("1.5TB", 1_500_000_000_000), ("2e12", 2 * 10**12)],
)
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "PB", "1 parsecs", "-1TB"])
def test_parse_size_refuses_nonsense(text):
    with pytest.raises(UsageError, match="expected a size like 1PB"):
        parse_size(text)


def config():
    return parse_config({"warehouse": "/wh", "tables": {"events": events_table()}}, "t.yaml")


def test_one_petabyte_plan_is_the_arithmetic_in_docs_scale_md():
    cfg = config()
    a = Assumptions()
    p = make_plan(cfg, cfg.tables["events"], 10**15, 36_500, target_hours=6, a=a)
    assert p.input_splits == math.ceil(10**15 / (128 * 2**20)) == 7_450_581
    # ~3.7 M input files of 256 MiB, planned at the measured seconds per million files.
    assert p.input_files == 3_725_291 and p.plan_seconds == pytest.approx(3.725291 * a.plan_s_per_million_files)
    assert p.output_bytes == 450 * 10**12
    assert p.files_per_partition == math.ceil(450 * 10**12 / 36_500 / (256 * 2**20)) == 46
    assert p.files == 46 * 36_500
    # 365 calls: 2.3 s of latency 16 at a time, but 3.65 s of driver CPU at 10 ms a call: the CPU bounds it.
    assert p.glue_calls == 365 and p.glue_seconds == pytest.approx(max(365 * 0.1 / 16, 365 * 0.010)) == 3.65
    slow = make_plan(cfg, cfg.tables["events"], 10**15, 36_500, target_hours=6, a=Assumptions(glue_latency_ms=1000))
    assert slow.glue_seconds == pytest.approx(365 * 1.0 / 16)  # at 1 s a call, latency bounds it instead
    assert p.core_hours == pytest.approx(10**9 / 16 / 3600)
    assert p.nodes == math.ceil(p.core_hours / 6 / 8) == 362
    assert p.validation_queries == 2
    # Linear in size: twice the input, twice the files, splits and compute; same partitions, same Glue calls.
    q = make_plan(cfg, cfg.tables["events"], 2 * 10**15, 36_500, target_hours=6, a=a)
    assert q.files == 2 * p.files and q.core_hours == pytest.approx(2 * p.core_hours) and q.glue_calls == p.glue_calls


def test_a_projected_table_publishes_with_one_manifest_put_per_partition_and_no_glue_calls(write_config, capsys):
    projection = {"dt": {"type": "date", "range": "2020-01-01,NOW"}, "country": {"type": "injected"}}
    cfg = parse_config({"warehouse": "/wh", "tables": {"events": events_table(partition_projection=projection)}}, "t")
    p = make_plan(cfg, cfg.tables["events"], 10**15, 36_500, target_hours=6)
    assert (p.glue_calls, p.manifest_puts) == (0, 36_500)
    assert p.glue_seconds == pytest.approx(36_500 * 0.1 / 16)
    path = write_config({"events": events_table(partition_projection=projection)})
    assert main(["plan", "--config", path, "--table", "events", "--input-bytes", "1PB", "--partitions", "36500"]) == 0
    assert "0 BatchCreatePartition calls (partition projection) + 36,500 manifest PUTs" in capsys.readouterr().out


def test_cli_json_and_errors(write_config, capsys):
    cfg = write_config({"events": events_table()})
    assert main(["plan", "--config", cfg, "--table", "events", "--input-bytes", "10GB", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["plan"]["input_bytes"] == 10**10 and out["assumptions"]["parquet_ratio"] == 0.45
    assert main(["plan", "--config", cfg, "--table", "events", "--input-bytes", "lots"]) == 2
    assert "--input-bytes 'lots'" in capsys.readouterr().err


@pytest.mark.spark
@pytest.mark.e2e
def test_plan_agrees_with_a_small_runs_actual_counts(write_config, tmp_path, capsys):
    from lakeloader import manifest as manifests
    from lakeloader import state as table_state
    from lakeloader.config import load_config
    from lakeloader.sample import generate

    generate(tmp_path / "in", rows=3_000, files=1, days=2, seed=9)
    cfg = write_config({"events": events_table()})
    assert main(["run", "--config", cfg, "--table", "events", "--input", str(tmp_path / "in")]) == 0
    config = load_config(cfg)
    admin = config.admin_location(config.tables["events"])
    m = manifests.load(admin, table_state.load(admin).latest)
    p = make_plan(config, config.tables["events"], m.input_bytes, len(m.partitions))
    assert p.files == m.files  # one file per partition at this size, as planned
    assert p.glue_calls == math.ceil(len(m.partitions) / 100)
