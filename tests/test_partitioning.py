"""Partition columns derived in Spark (pure DataFrame -> DataFrame) and rule checks."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import types as T

from lakeloader.config import PartitionRule
from lakeloader.errors import ConfigError
from lakeloader.partitioning import add_partition_columns, check_rules

pytestmark = pytest.mark.spark


def test_date_hour_month_year_from_a_timestamp(spark):
    ts = dt.datetime(2026, 3, 9, 23, 59, 59)
    df = spark.createDataFrame([(1, ts), (2, None)], "id int, ts timestamp")
    rules = [
        PartitionRule("dt", "ts", "date"),
        PartitionRule("hr", "ts", "hour"),
        PartitionRule("mon", "ts", "month"),
        PartitionRule("yr", "ts", "year"),
    ]
    expected = spark.createDataFrame(
        [(1, ts, dt.date(2026, 3, 9), "2026-03-09-23", "2026-03", 2026), (2, None, None, None, None, None)],
        "id int, ts timestamp, dt date, hr string, mon string, yr int",
    )
    assert_df_equality(add_partition_columns(df, rules), expected, ignore_nullable=True)


def test_identity_partition_moves_to_the_end_in_rule_order(spark):
    df = spark.createDataFrame([("US", 1, "a")], "country string, id int, k string")
    out = add_partition_columns(df, [PartitionRule("k"), PartitionRule("country")])
    expected = spark.createDataFrame([(1, "a", "US")], "id int, k string, country string")
    assert_df_equality(out, expected, ignore_nullable=True)


def test_bucket_is_stable_and_in_range(spark):
    df = spark.createDataFrame([(f"user{i}",) for i in range(200)], "user string")
    out = add_partition_columns(df, [PartitionRule("b", "user", "bucket:16")])
    buckets = {r.b for r in out.collect()}  # 200 rows: a test-sized collect
    assert buckets <= set(range(16)) and len(buckets) > 8
    again = add_partition_columns(df, [PartitionRule("b", "user", "bucket:16")])
    assert_df_equality(out, again)


def test_date_from_a_string_column_parses_iso_timestamps(spark):
    df = spark.createDataFrame([("2026-01-02 03:04:05",), ("garbage",)], "ts string")
    out = add_partition_columns(df, [PartitionRule("dt", "ts", "date")])
    expected = spark.createDataFrame(
        [("2026-01-02 03:04:05", dt.date(2026, 1, 2)), ("garbage", None)], "ts string, dt date"
    )
    assert_df_equality(out, expected, ignore_nullable=True)


SCHEMA = T.StructType(
    [
        T.StructField("event_ts", T.TimestampType()),
        T.StructField("country", T.StringType()),
        T.StructField("amount", T.DoubleType()),
    ]
)


def test_missing_column_suggests_the_closest_name():
    with pytest.raises(ConfigError) as e:
        check_rules(SCHEMA, [PartitionRule("dt", "evnt_ts", "date")], "conf/x.yaml: tables.events")
    msg = str(e.value)
    assert "conf/x.yaml: tables.events.partitions[0].from" in msg
    assert "'evnt_ts' is not in the input schema" in msg and "did you mean 'event_ts'" in msg


def test_identity_partition_on_a_double_is_refused():
    with pytest.raises(ConfigError, match=r"partitions\[0\]: identity partition on 'amount' of type double"):
        check_rules(SCHEMA, [PartitionRule("amount")], "t")


def test_time_transform_on_a_number_is_refused():
    with pytest.raises(ConfigError, match=r"'date' needs a timestamp, date or string column; 'amount' is double"):
        check_rules(SCHEMA, [PartitionRule("d", "amount", "date")], "t")


def test_derived_name_colliding_with_an_input_column_is_refused():
    with pytest.raises(ConfigError, match="'country' is already an input column"):
        check_rules(SCHEMA, [PartitionRule("country", "event_ts", "date")], "t")
