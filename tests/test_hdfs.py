"""Input on a real HDFS (a local NameNode + DataNode in their own JVM): the run reads hdfs:// end to end."""

from __future__ import annotations

import pytest

from conftest import events_contents, events_table, expected_from_csv, hdfs_put
from lakeloader.cli import main
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
