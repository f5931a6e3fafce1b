"""Partition columns from the table's rules, as Spark expressions (the directory layout itself: hive.py)."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakeloader.config import PartitionRule, suggest
from lakeloader.errors import ConfigError

_TIME_TYPES = (T.TimestampType, T.TimestampNTZType, T.DateType, T.StringType)
_IDENTITY_TYPES = (T.StringType, T.IntegerType, T.LongType, T.ShortType, T.ByteType, T.DateType, T.BooleanType)


def check_rules(schema: T.StructType, rules: Sequence[PartitionRule], where: str) -> None:
    """Raise ConfigError when a rule names a missing column or one of the wrong type."""
    types = {f.name: f.dataType for f in schema.fields}
    for i, rule in enumerate(rules):
        key = f"{where}.partitions[{i}]"
        col = rule.source_column
        if col not in types:
            field = "from" if rule.from_ else "name"
            raise ConfigError(
                f"{key}.{field}: column {col!r} is not in the input schema{suggest(col, types)}"
                f" (columns: {', '.join(types)})"
            )
        dtype = types[col]
        if rule.transform is None and rule.from_ is None and not isinstance(dtype, _IDENTITY_TYPES):
            raise ConfigError(
                f"{key}: identity partition on {col!r} of type {dtype.simpleString()}; "
                "use a string, integer, date or boolean column, or a transform (date, hour, bucket:N)"
            )
        if rule.transform in ("date", "hour", "month", "year") and not isinstance(dtype, _TIME_TYPES):
            raise ConfigError(
                f"{key}.transform: {rule.transform!r} needs a timestamp, date or string column; "
                f"{col!r} is {dtype.simpleString()}"
            )
        if rule.transform is not None and rule.name in types and rule.name != col:
            raise ConfigError(f"{key}.name: {rule.name!r} is already an input column; pick another name")


def partition_expr(rule: PartitionRule) -> Column:
    """The Spark expression that computes one partition column."""
    src = F.col(rule.source_column)
    if rule.transform is None:
        return src
    if rule.transform == "date":
        return F.to_date(src)
    if rule.transform == "hour":
        return F.date_format(src, "yyyy-MM-dd-HH")
    if rule.transform == "month":
        return F.date_format(src, "yyyy-MM")
    if rule.transform == "year":
        return F.year(src)
    n = rule.buckets
    if n is None:  # config validation makes this unreachable; keep the failure loud
        raise ConfigError(f"unknown transform {rule.transform!r}")
    # xxhash64 is stable across Spark versions and platforms; pmod keeps buckets non-negative.
    return F.pmod(F.xxhash64(src), F.lit(n)).cast("int")


def add_partition_columns(df: DataFrame, rules: Sequence[PartitionRule]) -> DataFrame:
    """Append (or, for identity rules, keep) one column per rule, in rule order at the end."""
    names = [r.name for r in rules]
    data_cols = [c for c in df.columns if c not in names]
    return df.select(*data_cols, *[partition_expr(r).alias(r.name) for r in rules])


def unparsed_conditions(rules: Sequence[PartitionRule]) -> dict[str, Column]:
    """Per derived time partition: true where the source value is present but the partition is null."""
    return {
        r.name: F.col(r.source_column).isNotNull() & F.col(r.name).isNull()
        for r in rules
        if r.transform is not None and r.buckets is None
    }
