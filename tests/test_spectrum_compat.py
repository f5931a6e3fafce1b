"""The Glue table lakeloader registers stays inside what Athena and Redshift Spectrum both read (docs/spectrum.md).

Pure unit tests: Spark type objects need no JVM.
"""

from __future__ import annotations

import inspect

import pytest
from pyspark.sql import types as T

from lakeloader.catalog.tables import (
    PARQUET_INPUT,
    PARQUET_SERDE,
    columns_from_schema,
    partition_input,
    table_input,
)
from lakeloader.catalog.types import ATHENA_SPECTRUM_TYPES, athena_only_columns, hive_type, type_names
from lakeloader.errors import SchemaError

ROOT = "s3://lake/warehouse/demo/events"


def struct(*fields: tuple[str, T.DataType]) -> T.StructType:
    return T.StructType([T.StructField(name, dtype) for name, dtype in fields])


# One column per Spark type hive_type accepts, nested types included, then the partition columns that
# lakeloader's transforms produce (date -> date, hour/month -> string, year/bucket -> int).
SCHEMA = struct(
    ("c_boolean", T.BooleanType()),
    ("c_byte", T.ByteType()),
    ("c_short", T.ShortType()),
    ("c_int", T.IntegerType()),
    ("c_long", T.LongType()),
    ("c_float", T.FloatType()),
    ("c_double", T.DoubleType()),
    ("c_decimal", T.DecimalType(38, 10)),
    ("c_string", T.StringType()),
    ("c_char", T.CharType(10)),
    ("c_varchar", T.VarcharType(255)),
    ("c_binary", T.BinaryType()),
    ("c_date", T.DateType()),
    ("c_timestamp", T.TimestampType()),
    ("c_timestamp_ntz", T.TimestampNTZType()),
    ("c_array", T.ArrayType(T.LongType())),
    ("c_map", T.MapType(T.StringType(), T.DoubleType())),
    ("c_struct", struct(("a", T.IntegerType()), ("b", T.StringType()))),
    (
        "c_nested",
        T.ArrayType(
            struct(
                ("at", T.TimestampType()),
                ("tags", T.MapType(T.StringType(), T.ArrayType(T.DecimalType(12, 2)))),
                ("who", struct(("id", T.LongType()), ("day", T.DateType()), ("ok", T.BooleanType()))),
            )
        ),
    ),
    ("dt", T.DateType()),
    ("hr", T.StringType()),
    ("y", T.IntegerType()),
    ("bucket", T.IntegerType()),
)
PARTITION_NAMES = ["dt", "hr", "y", "bucket"]


def leaf_types(dtype: T.DataType) -> list[type]:
    """Every Spark type class used in `dtype`, nested ones included."""
    if isinstance(dtype, T.StructType):
        return [T.StructType, *[c for f in dtype.fields for c in leaf_types(f.dataType)]]
    if isinstance(dtype, T.ArrayType):
        return [T.ArrayType, *leaf_types(dtype.elementType)]
    if isinstance(dtype, T.MapType):
        return [T.MapType, *leaf_types(dtype.keyType), *leaf_types(dtype.valueType)]
    return [type(dtype)]


def spark_type_samples() -> list[T.DataType]:
    """An instance of every concrete Spark data type class in pyspark.sql.types."""
    with_args = {
        T.DecimalType: T.DecimalType(10, 2),
        T.CharType: T.CharType(1),
        T.VarcharType: T.VarcharType(1),
        T.ArrayType: T.ArrayType(T.IntegerType()),
        T.MapType: T.MapType(T.StringType(), T.IntegerType()),
        T.StructType: struct(("a", T.IntegerType())),
    }
    samples = []
    for _, cls in inspect.getmembers(T, inspect.isclass):
        if not issubclass(cls, T.DataType) or inspect.isabstract(cls) or cls.__name__.startswith("_"):
            continue
        if cls in with_args:
            samples.append(with_args[cls])
            continue
        try:
            samples.append(cls())
        except TypeError:  # base classes (AtomicType, NumericType, ...) and parameterised ones
            continue
    return samples


@pytest.fixture(scope="module")
def registered() -> dict:
    columns, keys = columns_from_schema(SCHEMA, PARTITION_NAMES)
    return table_input("events", columns, keys, ROOT)


def test_schema_covers_every_spark_type_lakeloader_registers():
    used = {cls for f in SCHEMA.fields for cls in leaf_types(f.dataType)}
    for sample in spark_type_samples():
        try:
            hive_type(sample)
        except SchemaError:
            continue  # refused with a message; nothing reaches the catalog
        assert type(sample) in used, f"{type(sample).__name__} is registrable but not covered by SCHEMA"


def test_every_registered_type_is_read_by_athena_and_spectrum_or_flagged(registered):
    sd = registered["StorageDescriptor"]
    columns = sd["Columns"] + registered["PartitionKeys"]
    assert len(columns) == len(SCHEMA.fields)
    flagged = athena_only_columns(columns)
    assert flagged == ["c_byte", "c_binary"]  # tinyint and binary: Athena only
    for c in columns:
        if c["Name"] not in flagged:
            assert type_names(c["Type"]) <= ATHENA_SPECTRUM_TYPES, c


def test_nested_types_reach_the_catalog_intact(registered):
    types = {c["Name"]: c["Type"] for c in registered["StorageDescriptor"]["Columns"]}
    assert types["c_nested"] == (
        "array<struct<at:timestamp,tags:map<string,array<decimal(12,2)>>,who:struct<id:bigint,day:date,ok:boolean>>>"
    )
    assert types["c_timestamp_ntz"] == "timestamp"


def test_partition_keys_are_spectrum_partition_types(registered):
    # Spectrum's partition key types (SMALLINT, INTEGER, BIGINT, DECIMAL, REAL, DOUBLE PRECISION, BOOLEAN,
    # CHAR, VARCHAR, DATE, TIMESTAMP) as Glue spells them, plus Glue's `string`.
    spectrum_keys = {"smallint", "int", "bigint", "decimal", "float", "double", "boolean", "char", "varchar"}
    spectrum_keys |= {"date", "timestamp", "string"}
    assert registered["PartitionKeys"] == [
        {"Name": "dt", "Type": "date"},
        {"Name": "hr", "Type": "string"},
        {"Name": "y", "Type": "int"},
        {"Name": "bucket", "Type": "int"},
    ]
    for key in registered["PartitionKeys"]:
        assert type_names(key["Type"]) <= spectrum_keys


def test_table_is_an_external_parquet_table(registered):
    assert registered["TableType"] == "EXTERNAL_TABLE"
    assert registered["Parameters"]["classification"] == "parquet"
    assert registered["Parameters"]["EXTERNAL"] == "TRUE"
    sd = registered["StorageDescriptor"]
    assert sd["InputFormat"] == PARQUET_INPUT == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    assert sd["SerdeInfo"]["SerializationLibrary"] == PARQUET_SERDE
    assert PARQUET_SERDE == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    assert sd["Location"] == ROOT


def test_partitions_use_the_same_parquet_storage(registered):
    columns = registered["StorageDescriptor"]["Columns"]
    loc = f"{ROOT}/dt=2026-01-01/hr=2026-01-01-00/y=2026/bucket=3/_v=r1"
    sd = partition_input(["2026-01-01", "2026-01-01-00", "2026", "3"], loc, columns)["StorageDescriptor"]
    assert sd["InputFormat"] == PARQUET_INPUT
    assert sd["SerdeInfo"]["SerializationLibrary"] == PARQUET_SERDE
    assert sd["Columns"] == columns
    assert sd["Location"] == loc
