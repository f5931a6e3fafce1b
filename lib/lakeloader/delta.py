"""Delta Lake output: the Spark write (delta-spark's JVM classes) and reading the Delta log (delta-rs).

Spark writes through delta-spark, which EMR 7 ships (`delta-defaults: delta.enabled=true`); off EMR its
jars are the pinned ones of jvm/pom.xml that `make install` fetches (lakeloader.jvm). Everything lakeloader
needs to know after a write (files, rows and bytes per partition, the table version) is read from the
Delta log with the `deltalake` package, so it is the same whoever wrote the table.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.parquet as pq

from lakeloader import storage
from lakeloader.aws import frozen_credentials
from lakeloader.config import AwsConfig
from lakeloader.errors import ConfigError, InputError
from lakeloader.hive import catalog_value
from lakeloader.manifest import PartitionStats

if TYPE_CHECKING:  # the query side (DuckDB) reads Delta logs without Spark
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

DELTA_TABLE_CLASS = "io.delta.tables.DeltaTable"

# What a SparkSession needs for Delta SQL and catalog tables (Delta Lake's quick start and EMR's
# "Using Delta Lake" guide set exactly these two).
DELTA_SPARK_CONF: dict[str, str] = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

# lakeloader's write modes as Delta writer settings. `partitionOverwriteMode=dynamic` (Delta >= 2.0)
# replaces only the partitions present in the data, in one commit.
_MODES = {"append": "append", "overwrite_partitions": "overwrite", "overwrite": "overwrite"}

NO_DELTA_JVM = (
    f"format: delta needs Delta Lake's JVM classes ({DELTA_TABLE_CLASS}) in the Spark session; on EMR 7 enable "
    "the delta-defaults classification (delta.enabled=true), elsewhere run `make install` (jvm/pom.xml)"
)


@dataclass(frozen=True)
class DeltaFile:
    """One live data file of a Delta table snapshot, with its catalog partition values."""

    uri: str
    values: tuple[str, ...]
    rows: int
    bytes: int


# --------------------------------------------------------------------------- Spark side


def delta_available(spark: SparkSession) -> bool:
    """True when the session's JVM can load io.delta.tables.DeltaTable (delta-spark's jars are on it)."""
    from py4j.java_gateway import JavaClass

    node: Any = spark.sparkContext._jvm
    for part in DELTA_TABLE_CLASS.split("."):
        node = getattr(node, part)
    # py4j answers a JavaPackage for a name it cannot load as a class.
    return isinstance(node, JavaClass)


def write_delta(
    df: DataFrame,
    spark_uri: str,
    partition_columns: Sequence[str],
    mode: str,
    compression: str = "snappy",
    max_records_per_file: int = 0,
    schema_evolution: str = "append",
) -> None:
    """Write `df` as a Delta table at `spark_uri` (already in the session's scheme, e.g. s3a:// off EMR).

    `mode` is lakeloader's: append, overwrite_partitions (only the partitions in `df`) or overwrite.
    With `schema_evolution: append` new columns are merged into the table schema (drops and type
    changes must be refused before, see register.planned_delta_columns); `overwrite` lets a whole-table
    overwrite replace the schema too.
    """
    if mode not in _MODES:
        raise ConfigError(f"mode: {mode!r} is not one of {', '.join(_MODES)}")
    if not delta_available(df.sparkSession):
        raise ConfigError(NO_DELTA_JVM)
    writer = (
        df.write.format("delta")
        .mode(_MODES[mode])
        .partitionBy(*partition_columns)
        # Delta passes only these two writer options on to its Parquet files.
        .option("compression", compression)
        .option("maxRecordsPerFile", max_records_per_file)
    )
    if mode == "overwrite_partitions":
        writer = writer.option("partitionOverwriteMode", "dynamic")
    if mode == "overwrite":
        # A whole-table overwrite must not silently change schema or partitioning unless asked to.
        writer = writer.option("overwriteSchema", str(schema_evolution == "overwrite").lower())
    if not (mode == "overwrite" and schema_evolution == "overwrite"):
        writer = writer.option("mergeSchema", "true")
    log.info("writing Delta table %s (%s)", spark_uri, mode)
    writer.save(spark_uri)


# --------------------------------------------------------------------------- the Delta log (delta-rs)


def storage_options(table_uri: str, aws: Optional[AwsConfig]) -> dict[str, str]:
    """delta-rs `storage_options` for a table URI: endpoint, region and credentials for s3://; {} otherwise.

    delta-rs does not read boto3's config files, so credentials are resolved by boto3 and passed on.
    """
    if urlparse(table_uri).scheme not in ("s3", "s3a"):
        return {}
    aws = aws or AwsConfig()
    opts = {"AWS_REGION": aws.region}
    if aws.endpoint_url:
        opts["AWS_ENDPOINT_URL"] = aws.endpoint_url
        opts["AWS_ALLOW_HTTP"] = str(aws.endpoint_url.startswith("http://")).lower()
    creds = frozen_credentials(aws)
    if creds is not None:
        key, secret, token = creds
        opts.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
        if token:
            opts["AWS_SESSION_TOKEN"] = token
    return opts


def open_table(table_uri: str, aws: Optional[AwsConfig] = None) -> Any:
    """The deltalake.DeltaTable at `table_uri` (its latest version); InputError when there is none."""
    try:
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError
    except ImportError:
        raise ConfigError(
            "format: delta needs the deltalake package to read Delta logs (pip install deltalake)"
        ) from None
    uri = _rs_uri(table_uri)
    try:
        return DeltaTable(uri, storage_options=storage_options(uri, aws) or None)
    except TableNotFoundError:
        raise InputError(f"{table_uri}: no Delta table there (no _delta_log/)") from None


def delta_version(table_uri: str, aws: Optional[AwsConfig] = None, missing_ok: bool = False) -> int:
    """The table's latest log version (0 after the first write); -1 for no table when `missing_ok`."""
    try:
        return int(open_table(table_uri, aws).version())
    except InputError:
        if missing_ok:
            return -1
        raise


def restore_delta(spark: SparkSession, table_uri: str, version: int, aws: Optional[AwsConfig] = None) -> int:
    """Commit a restore of the table to `version` (undoing later commits, e.g. a run whose audit failed).

    Returns the new log version. Files of the undone commits stay on storage until VACUUM; readers of
    the log no longer see them. The caller holds the table's lock, so no other writer races this commit.
    The restore is delta-spark's own (`RESTORE TABLE`), like the write: delta-rs's restore of a table
    delta-spark wrote left the undone files of non-ASCII partitions live (paths it encodes differently).
    """
    current = delta_version(table_uri, aws)
    if current == version:
        return version
    on_cluster = not spark.sparkContext.master.startswith("local")
    path = storage.hadoop_uri(table_uri, on_cluster).replace("`", "``")
    spark.sql(f"RESTORE TABLE delta.`{path}` TO VERSION AS OF {int(version)}")
    log.info("restored Delta table %s to version %d", table_uri, version)
    return delta_version(table_uri, aws)


def live_files(
    table: Any, table_uri: str, partition_keys: Sequence[str], aws: Optional[AwsConfig] = None
) -> list[DeltaFile]:
    """The data files of the snapshot `table` (a deltalake.DeltaTable) with catalog partition values.

    Only files the log still lists are returned: overwritten or removed files are not, even while they
    remain on storage until VACUUM.
    """
    actions = pa.table(table.get_add_actions(flatten=True))
    root = table_uri.rstrip("/")
    out = []
    for row in actions.to_pylist():
        # `path` is a URI reference (the Delta protocol percent-encodes it), relative to the table root.
        path = unquote(row["path"])
        uri = path if "://" in path else f"{root}/{path}"
        values = tuple(catalog_value(_text(row.get(f"partition.{k}"))) for k in partition_keys)
        rows = row.get("num_records")
        if rows is None:  # stats are optional in the protocol: count from the Parquet footer then
            rows = _footer_rows(uri, aws)
        out.append(DeltaFile(uri, values, int(rows), int(row["size_bytes"] or 0)))
    return out


def snapshot_partitions(
    table_uri: str, partition_keys: Sequence[str], aws: Optional[AwsConfig] = None
) -> list[PartitionStats]:
    """Files, rows and bytes per partition of the table's latest snapshot, from its Delta log.

    Values are catalog strings (null and '' become __HIVE_DEFAULT_PARTITION__, as Delta treats them alike);
    `location` is the directory holding the partition's files under the table root.
    """
    table = open_table(table_uri, aws)
    declared = list(table.metadata().partition_columns)
    if list(partition_keys) != declared:
        raise InputError(
            f"{table_uri}: the Delta table is partitioned by {declared or 'nothing'}, "
            f"not {list(partition_keys)}; a new layout needs a new table"
        )
    groups: dict[tuple[str, ...], list[DeltaFile]] = {}
    for f in live_files(table, table_uri, partition_keys, aws):
        groups.setdefault(f.values, []).append(f)
    stats = [
        PartitionStats(
            values=list(values),
            location=_common_dir(table_uri.rstrip("/"), [f.uri for f in files]),
            files=len(files),
            rows=sum(f.rows for f in files),
            bytes=sum(f.bytes for f in files),
        )
        for values, files in groups.items()
    ]
    return sorted(stats, key=lambda p: p.values)


def _footer_rows(uri: str, aws: Optional[AwsConfig]) -> int:
    fs, path = storage.to_filesystem(uri, aws)
    return int(pq.read_metadata(path, filesystem=fs).num_rows)


def _rs_uri(uri: str) -> str:
    # delta-rs knows s3:// (s3a:// is Hadoop's name for the same thing).
    return "s3://" + uri[len("s3a://") :] if uri.startswith("s3a://") else uri


def _text(value: Any) -> Optional[str]:
    """A typed partition value (deltalake parses the log's strings) back in the log's own spelling."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _common_dir(root: str, uris: Sequence[str]) -> str:
    """The deepest directory containing every file (normally `<root>/k1=v1/k2=v2`); at least the root."""
    dirs = [u.rsplit("/", 1)[0].split("/") for u in uris]
    common: list[str] = []
    for parts in zip(*dirs, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    found = "/".join(common)
    return found if found.startswith(root) else root
