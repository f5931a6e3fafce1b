"""Parquet write of one run to run-scoped version directories, never over live data.

Layout: `<table_root>/<k1=v1/k2=v2>/_v=<version>/part-*.parquet`, the version being the run id
(`<run id>.N` for attempt N). Input statistics (rows read, bad rows, the set of partitions
touched) are observed during the write itself; per-partition rows, nulls, min and max then come
from the Parquet footers of the files just written (stats.py: by the driver's threads for a run of few
files, else by one distributed job), not from the data.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Optional

from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from lakeloader import stats, storage
from lakeloader.config import AwsConfig
from lakeloader.hive import catalog_value, partition_path
from lakeloader.layout import LayoutPlan, apply_layout
from lakeloader.manifest import PartitionStats
from lakeloader.session import spark_uri
from lakeloader.source import CORRUPT, SOURCE_FILE

log = logging.getLogger(__name__)
VERSION_COLUMN = "_v"


@dataclass(frozen=True)
class WriteResult:
    rows_read: int
    bad_rows: int
    bad_files: tuple[str, ...]
    partitions: tuple[PartitionStats, ...]
    unparsed: dict[str, int] = field(default_factory=dict)  # partition -> rows whose source did not parse
    stats_seconds: float = 0.0  # of the write's wall time, the part after its last task (the statistics job)

    @property
    def rows_written(self) -> int:
        return sum(p.rows for p in self.partitions)


def version_dir(table_root: str, names: Sequence[str], values: Sequence[str], version: str) -> str:
    """URI of one partition's version directory for a run."""
    return f"{table_root}/{partition_path(names, values)}/{VERSION_COLUMN}={version}"


def good_rows(df: DataFrame, bad: Optional[Column]) -> DataFrame:
    """Drop malformed rows and the bookkeeping columns the reader added."""
    if bad is None:
        return df
    return df.filter(~bad).drop(CORRUPT, SOURCE_FILE)


@dataclass(frozen=True)
class Observed:
    """What the write pass counted about its input (filled in once the write's job has run)."""

    rows_read: int
    bad_rows: int
    bad_files: tuple[str, ...]
    partitions: tuple[tuple[str, ...], ...]  # catalog values of every partition with good rows
    unparsed: dict[str, int]

    @property
    def rows_written(self) -> int:
        return self.rows_read - self.bad_rows


def observe_input(
    df: DataFrame, bad: Optional[Column], names: Sequence[str], unparsed: Optional[dict[str, Column]] = None
) -> tuple[DataFrame, Callable[[], Observed]]:
    """Attach the counters to the data's single pass; returns the frame and a getter for the result.

    `unparsed` maps a partition name to a condition counted during the write (e.g. a non-null
    timestamp string that did not parse), so a silently-null partition value gets reported.
    """
    key = F.struct(*[F.col(c).cast("string").alias(c) for c in names])
    is_bad = bad if bad is not None else F.lit(False)
    obs = Observation("lakeloader_write")
    observed = df.observe(
        obs,
        F.count(F.lit(1)).alias("rows"),
        F.count(F.when(is_bad, 1)).alias("bad"),
        # Observation.get cannot convert arrays from the JVM: ship the sets as JSON text.
        _json(F.collect_set(F.when(~is_bad, key))).alias("partitions"),
        _json(F.collect_set(F.when(is_bad, F.col(SOURCE_FILE) if bad is not None else F.lit(None)))).alias("bad_files"),
        *[F.count(F.when(~is_bad & cond, 1)).alias(f"unparsed_{name}") for name, cond in (unparsed or {}).items()],
    )

    def result() -> Observed:
        m = obs.get
        # null and '' land in the same default partition: dedupe after normalising.
        values = {tuple(catalog_value(row.get(c)) for c in names) for row in json.loads(m["partitions"])}
        return Observed(
            rows_read=int(m["rows"]),
            bad_rows=int(m["bad"]),
            bad_files=tuple(sorted(f for f in json.loads(m["bad_files"]) if f)),
            partitions=tuple(sorted(values)),
            unparsed={n: int(m[f"unparsed_{n}"]) for n in unparsed or {} if m[f"unparsed_{n}"]},
        )

    return observed, result


def write_version(
    df: DataFrame,
    bad: Optional[Column],
    table_root: str,
    plan: LayoutPlan,
    version: str,
    compression: str = "snappy",
    aws: Optional[AwsConfig] = None,
    unparsed: Optional[dict[str, Column]] = None,
    input_bytes: Optional[int] = None,
) -> WriteResult:
    """Write the good rows as Parquet under `_v=<version>` and return what was written.

    `input_bytes` (the input listing's) bounds the files written, so a small run's statistics skip a Spark job.
    """
    names = list(plan.partition_columns)
    observed, result = observe_input(df, bad, names, unparsed)
    out = apply_layout(good_rows(observed, bad), plan).withColumn(VERSION_COLUMN, F.lit(version))
    (
        out.write.mode("append")
        .partitionBy(*names, VERSION_COLUMN)
        .option("compression", compression)
        .option("maxRecordsPerFile", plan.max_records_per_file)
        .parquet(spark_uri(df.sparkSession, table_root))
    )
    seen = result()
    t = time.monotonic()
    files = None if input_bytes is None else plan.expected_files(len(seen.partitions), input_bytes, seen.rows_written)
    parts = partition_stats(df.sparkSession, table_root, names, list(seen.partitions), version, aws, files)
    return WriteResult(
        rows_read=seen.rows_read,
        bad_rows=seen.bad_rows,
        bad_files=seen.bad_files,
        partitions=tuple(parts),
        unparsed=seen.unparsed,
        stats_seconds=round(time.monotonic() - t, 3),
    )


def _json(c: Column) -> Column:
    return F.to_json(c, {"ignoreNullFields": "false"})


def partition_stats(
    spark: SparkSession,
    table_root: str,
    names: list[str],
    values: list[tuple[str, ...]],
    version: str,
    aws: Optional[AwsConfig],
    expected_files: Optional[int] = None,
) -> list[PartitionStats]:
    """Files, rows, bytes, nulls, min and max of each partition's version directory (stats.partition_stats)."""
    locations = [(vals, version_dir(table_root, names, vals, version)) for vals in values]
    return stats.partition_stats(spark, table_root, locations, aws, expected_files)


def remove_version(table_root: str, parts: Sequence[PartitionStats], aws: Optional[AwsConfig] = None) -> None:
    """Delete a run's version directories (a failed or superseded run)."""
    for p in parts:
        storage.delete_dir(p.location, aws)
