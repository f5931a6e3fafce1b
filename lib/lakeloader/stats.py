"""Per-partition statistics of a run's written files (files, rows, bytes, nulls, min, max) from their footers.

The driver names only the run's partition directories. Spark tasks (one stage, no shuffle) list them,
read the Parquet footers (a ranged GET per file on S3, 16 threads per task) and merge them per
partition; the driver receives one small record per partition, however many files the run wrote. A
run expected to have written at most DRIVER_MAX_FILES files is read by the driver's own threads instead:
the same requests, without a job's start and its Python workers' (~1.5 s on a laptop, as long as the
reads themselves). Min and max stay typed until the merge is done, then become text for the manifest
(decimals, dates and bytes all have an exact text form).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

import pyarrow.parquet as pq
from pyspark.sql import SparkSession

from lakeloader import storage
from lakeloader.config import AwsConfig
from lakeloader.manifest import PartitionStats

# A partition's statistics while merging: [files, rows, bytes, {column: [nulls | None, min, max]}].
_Partial = list
_BATCH = 2000
# Up to this many files (expected, from the caller) the driver reads the footers itself.
DRIVER_MAX_FILES = 2000


def partition_stats(
    spark: SparkSession,
    table_root: str,
    partitions: Sequence[tuple[Sequence[str], str]],
    aws: Optional[AwsConfig],
    expected_files: Optional[int] = None,
) -> list[PartitionStats]:
    """Statistics of the Parquet files in each (partition values, location below table_root), in that order.

    A location holding no Parquet file gets statistics of zero files and rows. `expected_files`: an upper
    estimate of the files there; at most DRIVER_MAX_FILES, the driver reads them (None: a Spark job does).
    """
    if not partitions:
        return []
    sc = spark.sparkContext
    # One listing per first-level directory (storage.list_dirs): on S3 a run's partitions of 30 days
    # are 30 LISTs, not one per partition. A partition lies below exactly one such directory, so each
    # task merges whole partitions and the job needs no shuffle.
    groups: dict[str, list[tuple[int, str]]] = {}
    for i, (_, loc) in enumerate(partitions):
        groups.setdefault(_first_level(table_root, loc), []).append((i, loc))
    if expected_files is not None and expected_files <= DRIVER_MAX_FILES:
        merged = _on_driver(table_root, list(groups.values()), aws)
    else:
        tasks = [(table_root, members, aws) for members in groups.values()]
        slices = min(len(tasks), 4 * max(1, sc.defaultParallelism))
        merged = dict(sc.parallelize(tasks, slices).flatMap(_stats_task).collect())
    out = []
    for i, (values, loc) in enumerate(partitions):
        files, rows, size, cols = merged.get(i, [0, 0, 0, {}])
        out.append(PartitionStats(list(values), loc, files=files, rows=rows, bytes=size, columns=_text(cols)))
    return out


def _first_level(root: str, location: str) -> str:
    base = root.rstrip("/")
    rest = location[len(base) + 1 :] if location.startswith(base + "/") else ""
    return f"{base}/{rest.split('/')[0]}" if rest else location


def _on_driver(root: str, groups: list[list[tuple[int, str]]], aws: Optional[AwsConfig]) -> dict[int, _Partial]:
    """Every group listed concurrently, then all their footers read by one pool: a partition's statistics by index."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        files = [f for found in pool.map(lambda members: _listed(root, members, aws), groups) for f in found]
    return dict(_merged(files, aws))


def _stats_task(task: tuple[str, list[tuple[int, str]], Optional[AwsConfig]]) -> Iterator[tuple[int, _Partial]]:
    """One first-level directory's partitions: listed, their footers read concurrently, merged per partition."""
    root, members, aws = task
    yield from _merged(_listed(root, members, aws), aws)


def _listed(root: str, members: list[tuple[int, str]], aws: Optional[AwsConfig]) -> list[tuple[int, storage.FileInfo]]:
    listed = storage.list_dirs(root, [loc for _, loc in members], aws, suffix=".parquet")
    return [(i, f) for i, loc in members for f in listed[loc]]


def _merged(files: list[tuple[int, storage.FileInfo]], aws: Optional[AwsConfig]) -> Iterator[tuple[int, _Partial]]:
    """The footers of (partition index, file) pairs, merged per partition index."""
    partial: dict[int, _Partial] = {}
    for start in range(0, len(files), _BATCH):  # a bounded number of footers in memory at a time
        batch = files[start : start + _BATCH]
        for (i, f), meta in zip(batch, storage.parquet_footers([f for _, f in batch], aws), strict=False):
            one = [1, meta.num_rows, f.size, footer_columns(meta)]
            partial[i] = _merge(partial[i], one) if i in partial else one
    yield from partial.items()


def footer_columns(meta: pq.FileMetaData) -> dict[str, list[Any]]:
    """[nulls, min, max] per top-level column of one file, merged over its row groups (typed values).

    nulls is None when a row group does not record it; min and max are None where no row group has them
    (a column with only NULLs, or one Spark wrote without statistics).
    """
    out: dict[str, list[Any]] = {}
    for rg in range(meta.num_row_groups):
        group = meta.row_group(rg)
        for c in range(group.num_columns):
            col = group.column(c)
            if "." in col.path_in_schema:  # nested leaves: no single min/max for the column
                continue
            st = col.statistics
            one = [
                st.null_count if st is not None and st.has_null_count else None,
                st.min if st is not None and st.has_min_max else None,
                st.max if st is not None and st.has_min_max else None,
            ]
            acc = out.get(col.path_in_schema)
            out[col.path_in_schema] = one if acc is None else _merge_column(acc, one)
    return out


def _merge(a: _Partial, b: _Partial) -> _Partial:
    cols = dict(a[3])
    for name, st in b[3].items():
        cols[name] = st if name not in cols else _merge_column(cols[name], st)
    # A column missing from one side's files: its nulls there are not known.
    for name in set(a[3]) ^ set(b[3]):
        cols[name] = [None, cols[name][1], cols[name][2]]
    return [a[0] + b[0], a[1] + b[1], a[2] + b[2], cols]


def _merge_column(a: list[Any], b: list[Any]) -> list[Any]:
    nulls = None if a[0] is None or b[0] is None else a[0] + b[0]
    lo = b[1] if a[1] is None else a[1] if b[1] is None else min(a[1], b[1])
    hi = b[2] if a[2] is None else a[2] if b[2] is None else max(a[2], b[2])
    return [nulls, lo, hi]


def _text(cols: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    return {name: {"nulls": n, "min": _str(lo), "max": _str(hi)} for name, (n, lo, hi) in cols.items()}


def _str(v: Any) -> Optional[str]:  # noqa: ANN401
    if v is None:
        return None
    return v.hex() if isinstance(v, bytes) else str(v)
