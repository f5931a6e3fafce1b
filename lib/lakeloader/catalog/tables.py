"""Glue TableInput / PartitionInput: Parquet tables Athena and Redshift Spectrum read natively, and Delta tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lakeloader.catalog.types import hive_type
from lakeloader.config import TableConfig

if TYPE_CHECKING:  # only columns_from_schema takes a Spark schema: the query side never loads Spark
    from pyspark.sql import types as T

Column = dict[str, str]

PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
# What Athena's own CTAS and awswrangler register; Parquet readers ignore the output format.
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
# Projected tables: each partition location holds a text file listing Parquet files (catalog/symlinks.py).
# Athena (Trino) and Redshift Spectrum read Parquet through it when the SerDe is Parquet's.
SYMLINK_INPUT = "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"


def columns_from_schema(schema: T.StructType, partition_names: Sequence[str]) -> tuple[list[Column], list[Column]]:
    """(data columns, partition keys) as Glue Column dicts, partition keys in the given order."""
    types = {f.name: f.dataType for f in schema.fields}
    data = [
        {"Name": f.name, "Type": hive_type(f.dataType, f.name)} for f in schema.fields if f.name not in partition_names
    ]
    keys = [{"Name": n, "Type": hive_type(types[n], n)} for n in partition_names]
    return data, keys


def storage_descriptor(
    columns: Sequence[Column], location: str, compression: str = "snappy", symlinks: bool = False
) -> dict[str, Any]:
    """A Parquet StorageDescriptor (read through symlink manifests when `symlinks`)."""
    return {
        "Columns": [dict(c) for c in columns],
        "Location": location,
        "InputFormat": SYMLINK_INPUT if symlinks else PARQUET_INPUT,
        "OutputFormat": PARQUET_OUTPUT,
        "Compressed": compression != "none",
        "NumberOfBuckets": -1,
        "StoredAsSubDirectories": False,
        "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}},
    }


def table_input(
    name: str,
    columns: Sequence[Column],
    partition_keys: Sequence[Column],
    location: str,
    parameters: Mapping[str, str] = (),
    compression: str = "snappy",
) -> dict[str, Any]:
    """A TableInput for an external, partitioned Parquet table; a projected one reads symlink manifests."""
    params = {"EXTERNAL": "TRUE", "classification": "parquet", "parquet.compression": compression.upper()}
    params.update(dict(parameters))
    projected = params.get("projection.enabled") == "true"
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": params,
        "PartitionKeys": [dict(k) for k in partition_keys],
        "StorageDescriptor": storage_descriptor(columns, location, compression, symlinks=projected),
    }


def projection_parameters(table: TableConfig, symlink_root: str) -> dict[str, str]:
    """Athena partition projection table properties for `table`; {} when it sets no `partition_projection`.

    The location template has one `<key>=${key}` level per partition key under `symlink_root`, ending in
    '/' as Athena requires: a template cannot name a run's version directory, so each projected location
    holds a manifest listing the live version's files (catalog/symlinks.py).
    """
    if not table.partition_projection:
        return {}
    params = {"projection.enabled": "true"}
    for rule in table.partitions:
        p = table.partition_projection[rule.name]
        prefix = f"projection.{rule.name}"
        params[f"{prefix}.type"] = p.type
        if p.type == "date":
            params[f"{prefix}.format"] = p.date_format
        optional = {
            "range": p.range,
            "interval": p.interval,
            "interval.unit": p.unit,
            "digits": p.digits,
            "values": ",".join(p.values) if p.values else None,
        }
        params.update({f"{prefix}.{k}": str(v) for k, v in optional.items() if v is not None})
    path = "/".join(f"{r.name}=${{{r.name}}}" for r in table.partitions)
    params["storage.location.template"] = f"{symlink_root.rstrip('/')}/{path}/"
    return params


def is_projection_parameter(key: str) -> bool:
    """Whether a table property is one projection_parameters manages (lakeloader owns them)."""
    return key.startswith("projection.") or key == "storage.location.template"


def partition_input(
    values: Sequence[str], location: str, columns: Sequence[Column], parameters: Mapping[str, str] = ()
) -> dict[str, Any]:
    """A PartitionInput pointing at one version directory."""
    return {
        "Values": list(values),
        "StorageDescriptor": storage_descriptor(columns, location),
        "Parameters": dict(parameters),
    }


# --------------------------------------------------------------------------- Delta Lake tables
#
# What each reader needs, as verified:
# - Athena reads a Glue table natively as Delta when its `table_type` property is `DELTA` (Athena's
#   "Get started with Delta Lake tables": `CREATE EXTERNAL TABLE t LOCATION 's3://.../' TBLPROPERTIES
#   ('table_type'='DELTA')`, columns omitted); schema and partitions come from the Delta log, and Athena
#   "requires only the location property in AWS Glue". The same guide's "Synchronize Delta Lake metadata"
#   also accepts Spark's own registration: `spark.sql.sources.provider`=`delta` plus the S3 path as the
#   SerDe parameter `path` - and notes that Lake Formation, views and row/column filters need the Glue
#   schema to equal the log's, so the real columns are registered rather than Spark's `col array<string>`.
# - Spark with the Glue (Hive) metastore treats a table with `spark.sql.sources.provider` as a data
#   source table: HiveExternalCatalog.restoreDataSourceTable takes its location from the SerDe parameter
#   `path` and its schema from `spark.sql.sources.schema` (empty when absent); with the `delta` provider
#   DeltaCatalog then reads the schema from the log. Checked here with Spark 3.5.7 and a Derby
#   metastore: a table registered with this shape (provider `parquet` standing in for `delta`, whose jars
#   are not available here) read its rows from the SerDe `path` even with LOCATION set to an empty
#   directory, and ignored the Hive columns.
# - Trino's Delta connector (Athena engine 3 is built on Trino) accepts a metastore table when
#   `spark.sql.sources.provider` equals `delta` ignoring case and reads its location from the SerDe
#   `path` ("No path property defined" otherwise): HiveMetastoreBackedDeltaLakeMetastore.
# - Spark's own `CREATE TABLE ... USING delta LOCATION` (Spark 3.5.7 HiveExternalCatalog, checked here
#   with a non-Hive provider) writes LazySimpleSerDe with SerDe parameters {serialization.format: 1,
#   path: <location>}, SequenceFile input/output formats, EXTERNAL=TRUE and the provider property; the
#   formats below are those, so Hive-only readers see the same table Spark would have registered.
# - No partition keys: Delta's CreateDeltaTableCommand.cleanupTableDefinition registers
#   `partitionColumnNames = Nil` and stores partition columns "as regular data columns" because Hive
#   cannot drop partition columns once stored; Athena and Spark read partitions from the log, so Glue
#   partitions for a Delta table would be stale duplicates. None are registered.
TABLE_TYPE_DELTA = "DELTA"
SPARK_PROVIDER = "spark.sql.sources.provider"
DELTA_SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
DELTA_INPUT = "org.apache.hadoop.mapred.SequenceFileInputFormat"
DELTA_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveSequenceFileOutputFormat"


def delta_table_input(
    name: str, columns: Sequence[Column], partition_keys: Sequence[Column], location: str
) -> dict[str, Any]:
    """A TableInput that Athena reads natively as Delta and Spark (Glue metastore) as a `delta` table.

    Partition keys are listed as ordinary columns after the data columns and PartitionKeys stays empty:
    the Delta log, not the catalog, holds the partitions.
    """
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"EXTERNAL": "TRUE", "table_type": TABLE_TYPE_DELTA, SPARK_PROVIDER: "delta"},
        "PartitionKeys": [],
        "StorageDescriptor": {
            "Columns": [dict(c) for c in [*columns, *partition_keys]],
            "Location": location,
            "InputFormat": DELTA_INPUT,
            "OutputFormat": DELTA_OUTPUT,
            "Compressed": False,
            "NumberOfBuckets": -1,
            "StoredAsSubDirectories": False,
            "SerdeInfo": {
                "SerializationLibrary": DELTA_SERDE,
                "Parameters": {"serialization.format": "1", "path": location},
            },
        },
    }


def is_delta_table(table: Mapping[str, Any]) -> bool:
    """Whether a catalog table (TableInput dict) is a Delta table, by Athena's or Spark's marker."""
    params = table.get("Parameters") or {}
    return (
        str(params.get("table_type", "")).upper() == TABLE_TYPE_DELTA
        or str(params.get(SPARK_PROVIDER, "")).lower() == "delta"
    )
