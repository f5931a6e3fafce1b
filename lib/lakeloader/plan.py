"""`lakeloader plan`: what a run of a given size will do and cost, before running it.

Every figure comes from the same layout rules `run` uses (layout.plan_layout) plus a few stated
assumptions (Assumptions), so an engineer can redo the arithmetic by hand.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from lakeloader.config import Config, TableConfig
from lakeloader.errors import UsageError
from lakeloader.layout import SHUFFLE_TO_PARQUET, plan_layout

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "PB": 10**15,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40, "PIB": 2**50}  # fmt: skip
GLUE_BATCH = 100


@dataclass(frozen=True)
class Assumptions:
    """The rates a plan rests on; defaults measured on this project's benchmark (bench/RESULTS.md)."""

    split_bytes: int = 128 * 2**20  # spark.sql.files.maxPartitionBytes
    parquet_ratio: float = 0.45  # Parquet bytes per input byte (CSV -> snappy Parquet, demo data)
    mb_per_core_s: float = 16.0  # input MB per core-second: 583 MB in 18.2 s on 2 cores (5 M-row bench)
    input_file_bytes: int = 256 * 2**20  # size of one input file (HDFS blocks, typical upstream writers)
    # Driver time to plan (list and fingerprint the input): Spark's parallel listing plus one aggregate job,
    # measured per million files on this 2-core machine's local disk (bench/scale_bench.py, bench/RESULTS.md).
    # HDFS NameNode or S3 LIST throughput, not the driver, bounds it on a cluster.
    plan_s_per_million_files: float = 54.7
    glue_latency_ms: float = 100.0  # per Glue batch call
    # Driver CPU to build, serialize and parse one 100-partition batch (botocore, under one GIL): the floor
    # under the registration time however many calls are in flight (bench/RESULTS.md, glue_register.py).
    glue_cpu_ms_per_call: float = 10.0
    athena_usd_per_tb: float = 5.0  # list price at time of writing; check the current one
    vcpus_per_node: int = 8  # r5.2xlarge core nodes (conf/emr defaults)
    node_usd_per_hour: float = 0.63  # r5.2xlarge EC2 (0.504) + EMR (0.126) on-demand, us-east-1, to check


@dataclass(frozen=True)
class Plan:
    input_bytes: int
    partitions: int
    input_files: int
    plan_seconds: float  # listing and fingerprinting the input on the driver's side
    input_splits: int
    output_bytes: int
    files: int
    files_per_partition: int
    file_bytes: int
    shuffle_bytes: int
    write_tasks: int
    glue_calls: int
    glue_seconds: float  # publishing: Glue calls, or a projected table's manifest PUTs, in flight together
    manifest_puts: int  # partition projection: one S3 PUT per partition instead of Glue calls
    validation_queries: int
    validation_bytes_scanned: int
    validation_usd: float
    core_hours: float
    target_hours: float
    nodes: int
    cluster_usd: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready plan."""
        return asdict(self)


def parse_size(text: str) -> int:
    """'1PB', '500 GiB', '1e12' or a byte count -> bytes (KB/MB/... are powers of ten, KiB/MiB/... of two)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([A-Za-z]*)\s*", text)
    unit = m.group(2).upper() if m else ""
    if not m or unit not in _UNITS:
        raise UsageError(f"--input-bytes {text!r}: expected a size like 1PB, 500GiB or 1000000")
    return int(float(m.group(1)) * _UNITS[unit])


def make_plan(
    config: Config,
    table: TableConfig,
    input_bytes: int,
    partitions: int,
    target_hours: float = 2.0,
    a: Assumptions = Assumptions(),
) -> Plan:
    """The run's tasks, files, Glue calls, validation cost and a cluster size for `target_hours`."""
    if input_bytes <= 0 or partitions <= 0 or target_hours <= 0:
        raise UsageError("plan: --input-bytes, --partitions and --target-hours must be positive")
    layout = plan_layout([r.name for r in table.partitions], table.target_file_mb, table.max_records_per_file)
    output = int(input_bytes * a.parquet_ratio)
    target = table.target_file_mb * 2**20
    # Partitions assumed equal in size; a skewed one gets more files, the total stays ~ output / target.
    per_partition = math.ceil(output / partitions / target)
    files = partitions * per_partition
    shuffle = int(output * SHUFFLE_TO_PARQUET)
    projected = bool(table.partition_projection)
    glue_calls = 0 if table.format == "delta" or projected else math.ceil(partitions / GLUE_BATCH)
    puts = partitions if projected else 0
    checked = {c for check in table.checks for c in check.key_columns}
    columns = max(len(checked), 1)
    # Count by partition reads only footers; the aggregate reads the checked columns (assumed 1/20 each).
    scanned = int(output * min(1.0, columns / 20))
    core_hours = input_bytes / 10**6 / a.mb_per_core_s / 3600
    input_files = math.ceil(input_bytes / a.input_file_bytes)
    nodes = max(1, math.ceil(core_hours / target_hours / a.vcpus_per_node))
    return Plan(
        input_bytes=input_bytes,
        partitions=partitions,
        input_files=input_files,
        plan_seconds=input_files / 10**6 * a.plan_s_per_million_files,
        input_splits=math.ceil(input_bytes / a.split_bytes),
        output_bytes=output,
        files=files,
        files_per_partition=per_partition,
        file_bytes=output // files,
        shuffle_bytes=shuffle,
        write_tasks=max(1, math.ceil(shuffle / layout.advisory_bytes)),
        glue_calls=glue_calls,
        glue_seconds=max(
            (glue_calls + puts) * a.glue_latency_ms / 1000 / config.catalog.max_in_flight,
            glue_calls * a.glue_cpu_ms_per_call / 1000,
        ),
        manifest_puts=puts,
        validation_queries=2,
        validation_bytes_scanned=scanned,
        validation_usd=scanned / 10**12 * a.athena_usd_per_tb,
        core_hours=core_hours,
        target_hours=target_hours,
        nodes=nodes,
        cluster_usd=nodes * target_hours * a.node_usd_per_hour,
    )
