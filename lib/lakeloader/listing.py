"""The input listing and its fingerprint, from Spark's own file index, at cluster speed.

Spark lists a file source once, when the DataFrame is created (`InMemoryFileIndex`: in parallel
on the executors once a level has more than `spark.sql.sources.parallelPartitionDiscovery.threshold`
directories). This module reuses that very index: it wraps it in a `binaryFile` relation and
aggregates the file metadata (`_metadata.file_path / file_size / file_modification_time`, which come
from the listing) in one Spark job. The driver's Python side makes a constant number of Py4J
calls and receives one row, whatever the file count; the read that follows lists nothing again
because every DataFrame derived from the input shares the same index.

The fingerprint is order-independent (sums of two 64-bit hashes per file, as exact decimals), so
it does not depend on the order a file system lists in, and changes when a file is added, removed,
resized or touched.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakeloader.errors import InputError

log = logging.getLogger(__name__)
_LOGICAL_RELATION = "org.apache.spark.sql.execution.datasources.LogicalRelation"
_FS_RELATION = "org.apache.spark.sql.execution.datasources.HadoopFsRelation"
_HIVE_RELATION = "org.apache.spark.sql.catalyst.catalog.HiveTableRelation"
_METADATA = {"path": "file_path", "size": "file_size", "mtime": "file_modification_time"}


@dataclass(frozen=True)
class Listing:
    """What the input is, in a constant size: file count, total bytes, and a fingerprint of every file."""

    files: int
    bytes: int
    fingerprint: str  # hex; equal listings (paths, sizes, modification times) give equal fingerprints


def list_input(df: DataFrame, shown: str) -> Listing:
    """The listing of the files `df` reads (Spark's own file index, not listed again); `shown` names the input.

    InputError when the input has no data files.
    """
    frames = listing_frames(df)
    if not frames:
        raise InputError(f"input not found: no data files at {shown}")
    parts = _union(frames)
    per_file = (F.col("path"), F.col("size"), F.col("mtime"))
    with _few_tasks(df.sparkSession):
        row = parts.agg(
            F.count(F.lit(1)).alias("files"),
            F.sum("size").alias("bytes"),
            F.sum(F.xxhash64(*per_file).cast("decimal(38,0)")).alias("h1"),
            F.sum(F.xxhash64(*reversed(per_file)).cast("decimal(38,0)")).alias("h2"),
        ).first()
    if row is None or not row["files"]:
        raise InputError(f"input not found: no data files at {shown}")
    digest = hashlib.sha256(f"{row['files']}|{row['bytes']}|{row['h1']}|{row['h2']}".encode()).hexdigest()
    return Listing(files=int(row["files"]), bytes=int(row["bytes"]), fingerprint=digest)


def listing_frames(df: DataFrame) -> list[DataFrame]:
    """One file-metadata frame per file source under `df`'s plan, each over that source's own index.

    The optimized plan's leaves, so a filter on partition columns (a Hive table source's `where`) has
    already pruned each index to the partitions the run reads. A Hive table read through its SerDe
    (text, not converted to a file source) is listed again from its pruned partitions' locations (a
    Py4J call per partition, not per file); any other non-file source from the locations `inputFiles()`
    reports for it, recursively.
    """
    spark = df.sparkSession
    jvm = spark.sparkContext._jvm
    datasources = jvm.org.apache.spark.sql.execution.datasources
    leaves = df._jdf.queryExecution().optimizedPlan().collectLeaves()
    out, other, hive_dirs = [], False, []
    for i in range(leaves.size()):
        leaf = leaves.apply(i)
        if leaf.getClass().getName() == _HIVE_RELATION:
            hive_dirs += _hive_locations(leaf)
            continue
        relation = leaf.relation() if leaf.getClass().getName() == _LOGICAL_RELATION else None
        if relation is None or relation.getClass().getName() != _FS_RELATION:
            other = True
            continue
        binary = _scala_object(datasources.binaryfile, "BinaryFileFormat")
        as_files = relation.copy(
            relation.location(),
            relation.partitionSchema(),
            binary.schema(),
            relation.bucketSpec(),
            datasources.binaryfile.BinaryFileFormat(),
            relation.options(),
            relation.sparkSession(),
        )
        plan = _scala_object(datasources, "LogicalRelation").apply(as_files, False)
        jdf = jvm.org.apache.spark.sql.Dataset.ofRows(relation.sparkSession(), plan)
        out.append(DataFrame(jdf, spark).select(*_metadata()))
    if other or hive_dirs:
        locations = hive_dirs + (df.inputFiles() if other else [])
        log.warning("listing %d input locations again: their source is not a Spark file index", len(locations))
        if locations:
            again = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(locations)
            out.append(again.select(*_metadata()))
    return out


def _hive_locations(relation) -> list[str]:  # noqa: ANN001
    """The directories a Hive SerDe table scan reads: its pruned partitions', else the table's own."""
    pruned = relation.prunedPartitions()
    if pruned.isDefined():
        parts = pruned.get()
        return [parts.apply(i).location().toString() for i in range(parts.size())]
    return [relation.tableMeta().location().toString()]


@contextmanager
def _few_tasks(spark: SparkSession) -> Iterator[None]:
    """Pack the files into about one task per core: the job reads metadata only, so bytes are no measure of work.

    Spark sizes file splits by bytes plus an "open cost" of 4 MiB per file; left alone it would
    run one task per 32 small files, or one per file of a large input.
    """
    settings = {"spark.sql.files.openCostInBytes": "0", "spark.sql.files.maxPartitionBytes": str(2**62)}
    before = {k: spark.conf.get(k, None) for k in settings}
    for k, v in settings.items():
        spark.conf.set(k, v)
    try:
        yield
    finally:
        for k, v in before.items():
            spark.conf.unset(k) if v is None else spark.conf.set(k, v)


def _scala_object(package, name: str):  # noqa: ANN001, ANN202
    """A Scala companion object through Py4J (its static forwarders are not always generated)."""
    return getattr(getattr(package, f"{name}$"), "MODULE$")


def _metadata() -> list:
    # Spark's hidden file-metadata columns come from the listing, not from the files.
    return [F.col(f"_metadata.{field}").alias(name) for name, field in _METADATA.items()]


def _union(frames: list[DataFrame]) -> DataFrame:
    head, *rest = frames
    for f in rest:
        head = head.unionByName(f)
    return head
