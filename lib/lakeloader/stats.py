"""Per-partition statistics of a run's written files (files, rows, bytes, nulls, min, max) in one Spark job.

The driver names only the run's partition directories. Spark tasks (one stage, no shuffle) list them,
read the Parquet footers (a ranged GET per file on S3, 16 threads per task) and merge them per
partition; the driver receives one small record per partition, however many files the run wrote. Min
and max stay typed until the merge is done, then become text for the manifest (decimals, dates and
bytes all have an exact text form).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Optional

import pyarrow.parquet as pq
from pyspark.sql import SparkSession

from lakeloader import storage
from lakeloader.config import AwsConfig
from lakeloader.manifest import PartitionStats

# A partition's statistics while merging: [files, rows, bytes, {column: [nulls | None, min, max]}].
_Partial = list
_BATCH = 2000


def partition_stats(
    spark: SparkSession, table_root: str, partitions: Sequence[tuple[Sequence[str], str]], aws: Optional[AwsConfig]
) -> list[PartitionStats]:
    """Statistics of the Parquet files in each (partition values, location below table_root), in that order.

    A location holding no Parquet file gets statistics of zero files and rows.
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


def _stats_task(task: tuple[str, list[tuple[int, str]], Optional[AwsConfig]]) -> Iterator[tuple[int, _Partial]]:
    """One first-level directory's partitions: listed, their footers read concurrently, merged per partition."""
    root, members, aws = task
    listed = storage.list_dirs(root, [loc for _, loc in members], aws, suffix=".parquet")
    files = [(i, f) for i, loc in members for f in listed[loc]]
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
