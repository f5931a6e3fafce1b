"""Glue TableInput / PartitionInput for a Parquet table that Athena and Redshift Spectrum read natively."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import types as T

from lakeloader.catalog.types import hive_type
from lakeloader.config import TableConfig

Column = dict[str, str]

PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
# What Athena's own CTAS and awswrangler register; Parquet readers ignore the output format.
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"


def columns_from_schema(schema: T.StructType, partition_names: Sequence[str]) -> tuple[list[Column], list[Column]]:
    """(data columns, partition keys) as Glue Column dicts, partition keys in the given order."""
    types = {f.name: f.dataType for f in schema.fields}
    data = [
        {"Name": f.name, "Type": hive_type(f.dataType, f.name)} for f in schema.fields if f.name not in partition_names
    ]
    keys = [{"Name": n, "Type": hive_type(types[n], n)} for n in partition_names]
    return data, keys


def storage_descriptor(columns: Sequence[Column], location: str, compression: str = "snappy") -> dict[str, Any]:
    """A Parquet StorageDescriptor."""
    return {
        "Columns": [dict(c) for c in columns],
        "Location": location,
        "InputFormat": PARQUET_INPUT,
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
    """A TableInput for an external, partitioned Parquet table."""
    params = {"EXTERNAL": "TRUE", "classification": "parquet", "parquet.compression": compression.upper()}
    params.update(dict(parameters))
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": params,
        "PartitionKeys": [dict(k) for k in partition_keys],
        "StorageDescriptor": storage_descriptor(columns, location, compression),
    }


def projection_parameters(table: TableConfig, table_location: str) -> dict[str, str]:
    """Athena partition projection table properties for `table`; {} when it sets no `partition_projection`.

    The location template has one `<key>=${key}` level per partition key under the table root, ending in
    '/' as Athena requires: projection reads each partition's directory itself, with no per-run version.
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
    params["storage.location.template"] = f"{table_location.rstrip('/')}/{path}/"
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
