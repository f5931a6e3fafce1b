"""File layout planning and the rebalance that applies it."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality

from lakeloader.layout import DEFAULT_MAX_RECORDS, SHUFFLE_TO_PARQUET, apply_layout, plan_layout


def test_plan_turns_target_file_size_into_shuffle_bytes():
    plan = plan_layout(["dt", "country"], 256)
    assert plan.partition_columns == ("dt", "country")
    assert plan.advisory_bytes == int(256 * 1024 * 1024 * SHUFFLE_TO_PARQUET)
    assert plan.max_records_per_file == DEFAULT_MAX_RECORDS
    assert plan_layout(["dt"], 64, 1000).max_records_per_file == 1000


@pytest.mark.spark
def test_rebalance_keeps_every_row_and_column(spark):
    df = spark.createDataFrame([(i, f"k{i % 3}") for i in range(100)], "id int, k string")
    out = apply_layout(df, plan_layout(["k"], 1))
    assert_df_equality(out, df, ignore_row_order=True)
    # Rows of one key land in as few tasks as their size needs: here, one.
    tasks_per_key = out.selectExpr("k", "spark_partition_id() AS p").distinct().groupBy("k").count()
    assert {r["count"] for r in tasks_per_key.collect()} == {1}


def test_expected_files_bound_a_runs_files_by_partitions_input_size_and_rows():
    plan = plan_layout(["dt"], target_file_mb=128, max_records_per_file=1000)
    # 600 partitions, 3 target sizes of input, 2,500 rows at 1,000 a file.
    assert plan.expected_files(600, 3 * 128 * 2**20, 2500) == 600 + 3 + 2
    assert plan_layout(["dt"], 256).expected_files(1, 0, 10) == 1
