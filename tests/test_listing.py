"""The input listing: Spark's own file index, fingerprinted in one job; the run id follows every input change."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from lakeloader.config import load_config
from lakeloader.errors import InputError
from lakeloader.listing import list_input, listing_frames
from lakeloader.run_id import compute_run_id
from lakeloader.source import read_source

pytestmark = pytest.mark.spark


def make_input(root: Path) -> Path:
    """Two partition-style folders of small CSV files, plus files Spark ignores."""
    for part in ("k=a", "k=b"):
        (root / part).mkdir(parents=True)
        for i in range(3):
            (root / part / f"f{i}.csv").write_text(f"id,v\n{i},{part}\n")
    (root / "_SUCCESS").write_text("")
    (root / ".hidden.csv").write_text("id,v\n9,9\n")
    return root


def listing_of(spark, root: Path):
    df = spark.read.option("header", True).csv(str(root))
    return list_input(df, str(root))


def test_listing_counts_data_files_only_and_is_deterministic(spark, tmp_path):
    root = make_input(tmp_path / "in")
    first, second = listing_of(spark, root), listing_of(spark, root)
    sizes = sum(f.stat().st_size for f in root.glob("k=*/*.csv"))
    assert (first.files, first.bytes) == (6, sizes)
    assert first == second


@pytest.mark.parametrize("change", ["add", "remove", "resize", "touch"])
def test_every_kind_of_input_change_changes_the_fingerprint_and_run_id(spark, tmp_path, write_config, change):
    from conftest import events_table

    root = make_input(tmp_path / "in")
    table = load_config(write_config({"events": events_table()})).table("events")
    before = listing_of(spark, root)
    target = root / "k=a" / "f1.csv"
    if change == "add":
        (root / "k=b" / "f9.csv").write_text("id,v\n9,b\n")
    elif change == "remove":
        target.unlink()
    elif change == "resize":
        target.write_text("id,v\n1,a\n2,a\n")
    else:
        st = target.stat()
        os.utime(target, (st.st_atime, st.st_mtime + 60))
    after = listing_of(spark, root)
    day = dt.date(2026, 11, 3)
    assert after.fingerprint != before.fingerprint
    assert compute_run_id(table, day, after) != compute_run_id(table, day, before)


def test_the_fingerprint_job_reuses_the_reads_own_file_index(spark, tmp_path):
    root = make_input(tmp_path / "in")
    df = spark.read.option("header", True).csv(str(root))
    (frame,) = listing_frames(df)
    # A file created after the read was planned is not seen: the index was not listed again.
    (root / "k=a" / "late.csv").write_text("id,v\n7,a\n")
    assert frame.count() == 6
    read_index = df._jdf.queryExecution().analyzed().collectLeaves().apply(0).relation().location()
    frame_index = frame._jdf.queryExecution().analyzed().collectLeaves().apply(0).relation().location()
    assert read_index.equals(frame_index)


def test_empty_and_missing_input_are_input_errors(spark, tmp_path, write_config):
    from conftest import events_table

    config = load_config(write_config({"events": events_table()}))
    src = config.table("events").source
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="input not found: no data files at"):
        list_input(read_source(spark, src, [str(tmp_path / "empty")], "t").df, str(tmp_path / "empty"))
    with pytest.raises(InputError, match="input not found: no data files at"):
        read_source(spark, src, [str(tmp_path / "missing")], "t")


def test_a_plan_without_a_file_source_has_no_data_files(spark):
    with pytest.raises(InputError, match="input not found: no data files at generated"):
        list_input(spark.range(3).toDF("id"), "generated")
