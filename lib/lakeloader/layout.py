"""Output file planning: how rows are spread over write tasks and files.

`REBALANCE(partition cols)` lets Spark's adaptive execution split a hot partition key over several
tasks and merge small keys into one, aiming at an advisory size per task; each task then writes
one file per key it holds, so files per partition ~= ceil(partition bytes / target).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame

# Shuffle blocks (LZ4'd UnsafeRows) are larger than the snappy Parquet they become; this ratio
# turns a target Parquet file size into the advisory shuffle partition size.
SHUFFLE_TO_PARQUET = 2.5
# Bound on rows per file when the config does not give one: at ~100 bytes/row this is ~1 GiB.
DEFAULT_MAX_RECORDS = 10_000_000


@dataclass(frozen=True)
class LayoutPlan:
    partition_columns: tuple[str, ...]
    advisory_bytes: int
    max_records_per_file: int

    def expected_files(self, partitions: int, input_bytes: int, rows: int) -> int:
        """An upper estimate of the files a write makes: one per partition, plus one per target size of input
        (Parquet is rarely larger than its source) and per max_records_per_file rows."""
        target = self.advisory_bytes / SHUFFLE_TO_PARQUET
        return partitions + int(input_bytes // target) + rows // self.max_records_per_file


def plan_layout(partition_columns: Sequence[str], target_file_mb: int, max_records_per_file: int = 0) -> LayoutPlan:
    """Turn a target file size into the write's shuffle and file bounds."""
    return LayoutPlan(
        partition_columns=tuple(partition_columns),
        advisory_bytes=int(target_file_mb * 1024 * 1024 * SHUFFLE_TO_PARQUET),
        max_records_per_file=max_records_per_file or DEFAULT_MAX_RECORDS,
    )


def apply_layout(df: DataFrame, plan: LayoutPlan) -> DataFrame:
    """Rebalance rows by the partition columns so each write task holds whole, right-sized files."""
    spark = df.sparkSession
    spark.conf.set("spark.sql.adaptive.enabled", "true")
    spark.conf.set("spark.sql.adaptive.advisoryPartitionSizeInBytes", str(plan.advisory_bytes))
    cols = ", ".join(f"`{c}`" for c in plan.partition_columns)
    return spark.sql(f"SELECT /*+ REBALANCE({cols}) */ * FROM {{df}}", df=df)
