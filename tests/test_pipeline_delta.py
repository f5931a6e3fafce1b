"""`format: delta` through the whole run: write, snapshot stats, audit, register, restore on failure.

Delta's JVM jars cannot be downloaded here, so the one call that needs them (write_delta, a
delta-spark DataFrame write) is replaced by a delta-rs write of the same rows; everything around it
(observation, quarantine, the Delta log snapshot, the audit, Glue-shaped registration, the restore
of a failed run) runs for real.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from conftest import events_table, expected_from_csv
from lakeloader import delta
from lakeloader.catalog import open_catalog
from lakeloader.cli import main
from lakeloader.config import load_config
from lakeloader.query import open_engine
from lakeloader.sample import generate

pytestmark = [pytest.mark.spark, pytest.mark.e2e]


def delta_rs_write(df, uri, names, mode, compression, max_records, schema_evolution):
    """What write_delta does with delta-spark, done with delta-rs (test-sized data only)."""
    from deltalake import write_deltalake
    from pyspark.sql.pandas.types import to_arrow_schema

    table = pa.Table.from_pylist([r.asDict() for r in df.collect()], schema=to_arrow_schema(df.schema))
    write_deltalake(
        uri.removeprefix("file://"), table, partition_by=list(names), mode="append" if mode == "append" else "overwrite"
    )


@pytest.fixture
def delta_rs(monkeypatch):
    monkeypatch.setattr(delta, "write_delta", delta_rs_write)


def contents(cfg):
    config = load_config(cfg)
    rows = (
        open_engine(config, open_catalog(config))
        .query("SELECT dt, country, count(*), coalesce(sum(amount), 0) FROM demo.events GROUP BY 1, 2")
        .rows
    )
    return {(d.isoformat(), c): (n, s) for d, c, n, s in rows}


def test_delta_run_registers_a_native_delta_table_and_restores_a_failed_audit(delta_rs, write_config, tmp_path, capsys):
    inp = tmp_path / "in"
    generate(inp, rows=3_000, files=1, days=2, bad_rows=2, seed=3)
    cfg = write_config({"events": events_table(format="delta")})
    argv = ["run", "--config", cfg, "--table", "events", "--input", str(inp)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "rows       3000 written of 3002 read, 2 malformed" in out
    assert contents(cfg) == expected_from_csv(inp)  # hostile partition values included

    config = load_config(cfg)
    meta = open_catalog(config).get_table("demo", "events")
    assert meta["Parameters"]["table_type"] == "DELTA" and meta["PartitionKeys"] == []
    assert meta["StorageDescriptor"]["Location"] == config.table_location(config.table("events"))
    assert open_catalog(config).get_partitions("demo", "events") == []
    version = delta.delta_version(meta["StorageDescriptor"]["Location"])

    # Appending the same rows breaks unique(event_id): the audit fails and the table is restored.
    assert main([*argv, "--mode", "append", "--run-id", "dup"]) == 1
    assert "audit of run dup failed; the Delta table was restored" in capsys.readouterr().err
    assert contents(cfg) == expected_from_csv(inp)
    assert delta.delta_version(meta["StorageDescriptor"]["Location"]) == version + 2  # append, then restore
    assert open_catalog(config).get_table("demo", "events")["Parameters"]["lakeloader.run_id"] != "dup"
