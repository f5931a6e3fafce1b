"""Spark -> Glue/Hive -> DuckDB type mapping. Pure unit tests: Spark type objects need no JVM."""

from __future__ import annotations

import duckdb
import pytest
from pyspark.sql import types as T

from lakeloader.catalog.types import ATHENA_SPECTRUM_TYPES, ATHENA_TYPES, duckdb_type, hive_type, type_names
from lakeloader.errors import SchemaError


def struct(*fields: tuple[str, T.DataType]) -> T.StructType:
    return T.StructType([T.StructField(name, dtype) for name, dtype in fields])


# --- hive_type ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (T.BooleanType(), "boolean"),
        (T.ByteType(), "tinyint"),
        (T.ShortType(), "smallint"),
        (T.IntegerType(), "int"),
        (T.LongType(), "bigint"),
        (T.FloatType(), "float"),
        (T.DoubleType(), "double"),
        (T.StringType(), "string"),
        (T.CharType(3), "char(3)"),
        (T.VarcharType(40), "varchar(40)"),
        (T.BinaryType(), "binary"),
        (T.DateType(), "date"),
        (T.TimestampType(), "timestamp"),
        (T.TimestampNTZType(), "timestamp"),
    ],
)
def test_hive_type_primitives(dtype, expected):
    assert hive_type(dtype) == expected


@pytest.mark.parametrize(("precision", "scale"), [(10, 0), (10, 2), (38, 18), (38, 0), (1, 1), (5, 5)])
def test_hive_type_decimal_keeps_precision_and_scale(precision, scale):
    assert hive_type(T.DecimalType(precision, scale)) == f"decimal({precision},{scale})"


def test_hive_type_default_decimal_is_10_0():
    assert hive_type(T.DecimalType()) == "decimal(10,0)"


def test_hive_type_array_and_map():
    assert hive_type(T.ArrayType(T.LongType())) == "array<bigint>"
    assert hive_type(T.ArrayType(T.ArrayType(T.StringType()))) == "array<array<string>>"
    assert hive_type(T.MapType(T.StringType(), T.DoubleType())) == "map<string,double>"
    assert hive_type(T.MapType(T.IntegerType(), T.ArrayType(T.DateType()))) == "map<int,array<date>>"


def test_hive_type_nested_array_of_struct_with_map():
    dtype = T.ArrayType(
        struct(
            ("id", T.LongType()),
            ("tags", T.MapType(T.StringType(), T.ArrayType(T.DecimalType(12, 3)))),
            ("inner", struct(("ts", T.TimestampType()), ("ok", T.BooleanType()))),
        )
    )
    assert hive_type(dtype) == (
        "array<struct<id:bigint,tags:map<string,array<decimal(12,3)>>,inner:struct<ts:timestamp,ok:boolean>>>"
    )


def test_hive_type_lowercases_struct_field_names_at_every_level():
    dtype = struct(("UserID", T.IntegerType()), ("Address", struct(("ZipCode", T.StringType()))))
    assert hive_type(dtype) == "struct<userid:int,address:struct<zipcode:string>>"


def test_hive_type_keeps_struct_field_order():
    dtype = struct(("z", T.IntegerType()), ("a", T.StringType()), ("m", T.DateType()))
    assert hive_type(dtype) == "struct<z:int,a:string,m:date>"


def test_hive_type_ignores_nullability():
    element = T.ArrayType(T.IntegerType(), containsNull=False)
    dtype = T.StructType([T.StructField("a", element, nullable=False)])
    assert hive_type(dtype) == "struct<a:array<int>>"


# --- hive_type errors ---------------------------------------------------------------------------------


def test_interval_error_message_is_exact():
    with pytest.raises(SchemaError) as err:
        hive_type(T.DayTimeIntervalType(), "a.b")
    assert str(err.value) == (
        "schema error: column 'a.b': Spark type interval day to second has no Athena/Glue equivalent; "
        "cast it (e.g. to bigint seconds or string) before loading"
    )


@pytest.mark.parametrize(
    ("dtype", "spark_name"),
    [
        (T.DayTimeIntervalType(), "interval day to second"),
        (
            T.DayTimeIntervalType(T.DayTimeIntervalType.HOUR, T.DayTimeIntervalType.MINUTE),
            "interval hour to minute",
        ),
        (T.YearMonthIntervalType(), "interval year to month"),
        (T.NullType(), "void"),
    ],
)
def test_unsupported_types_raise_naming_the_column(dtype, spark_name):
    with pytest.raises(SchemaError, match=r"^schema error: column 'dur': Spark type ") as err:
        hive_type(dtype, "dur")
    message = str(err.value)
    assert f"Spark type {spark_name} has no Athena/Glue equivalent; " in message
    assert message.endswith(" before loading")
    assert "\n" not in message


def test_null_type_error_says_what_to_do():
    with pytest.raises(SchemaError) as err:
        hive_type(T.NullType(), "empty")
    assert str(err.value) == (
        "schema error: column 'empty': Spark type void has no Athena/Glue equivalent; "
        "cast the all-null column to its intended type (e.g. to string) before loading"
    )


def test_unsupported_type_without_column_has_no_column_prefix():
    with pytest.raises(SchemaError) as err:
        hive_type(T.YearMonthIntervalType())
    assert str(err.value) == (
        "schema error: Spark type interval year to month has no Athena/Glue equivalent; "
        "cast it (e.g. to int months or string) before loading"
    )


@pytest.mark.parametrize(
    ("dtype", "path"),
    [
        (struct(("b", T.DayTimeIntervalType())), "a.b"),
        (T.ArrayType(T.NullType()), "a.element"),
        (T.MapType(T.StringType(), T.YearMonthIntervalType()), "a.value"),
        (T.MapType(T.DayTimeIntervalType(), T.StringType()), "a.key"),
        (
            struct(("items", T.ArrayType(struct(("Wait", T.DayTimeIntervalType()))))),
            "a.items.element.Wait",
        ),
        (
            T.ArrayType(T.MapType(T.StringType(), struct(("x", T.ArrayType(T.NullType()))))),
            "a.element.value.x.element",
        ),
    ],
)
def test_nested_unsupported_type_names_the_nested_path(dtype, path):
    with pytest.raises(SchemaError, match=rf"^schema error: column '{path}': Spark type "):
        hive_type(dtype, "a")


def test_nested_error_without_root_column_starts_at_the_field():
    with pytest.raises(SchemaError, match=r"^schema error: column 'b\.element': "):
        hive_type(struct(("b", T.ArrayType(T.NullType()))))


class _PointUDT(T.UserDefinedType):
    @classmethod
    def sqlType(cls):
        return struct(("x", T.DoubleType()), ("y", T.DoubleType()))

    @classmethod
    def module(cls):
        return __name__


def test_user_defined_type_raises():
    with pytest.raises(SchemaError) as err:
        hive_type(_PointUDT(), "pt")
    assert str(err.value) == (
        "schema error: column 'pt': user-defined type _PointUDT has no Athena/Glue equivalent; "
        "convert it to its underlying columns before loading"
    )


@pytest.mark.parametrize(
    "key",
    [
        struct(("a", T.IntegerType())),
        T.ArrayType(T.StringType()),
        T.MapType(T.StringType(), T.StringType()),
    ],
)
def test_map_with_complex_key_raises(key):
    with pytest.raises(SchemaError) as err:
        hive_type(T.MapType(key, T.StringType()), "m")
    assert str(err.value) == (
        f"schema error: column 'm.key': map key type {key.simpleString()} is not primitive, which "
        "Athena/Glue require; turn the map into an array of structs before loading"
    )


def test_nested_map_with_complex_key_names_nested_path():
    dtype = struct(("lookup", T.MapType(struct(("k", T.IntegerType())), T.StringType())))
    expected = r"^schema error: column 'p\.lookup\.key': map key type struct<k:int> is not primitive"
    with pytest.raises(SchemaError, match=expected):
        hive_type(dtype, "p")


def test_struct_fields_colliding_after_lowercasing_raise():
    with pytest.raises(SchemaError) as err:
        hive_type(struct(("Id", T.IntegerType()), ("id", T.LongType())), "rec")
    assert str(err.value) == (
        "schema error: column 'rec.id': struct fields 'Id' and 'id' collide once lowercased as Glue "
        "stores them; rename one before loading"
    )


@pytest.mark.parametrize("name", ["a-b", "a b", "a:b", "a,b", "a<b", "`a`", ""])
def test_struct_field_names_that_break_the_type_string_raise(name):
    with pytest.raises(SchemaError, match=r"cannot be written in a Glue type string; rename it"):
        hive_type(struct((name, T.IntegerType())), "rec")


def test_struct_field_names_with_digits_underscores_and_unicode_letters_are_kept():
    dtype = struct(("_Col_1", T.IntegerType()), ("2nd", T.IntegerType()), ("Größe", T.IntegerType()))
    assert hive_type(dtype) == "struct<_col_1:int,2nd:int,größe:int>"


def test_empty_struct_raises():
    with pytest.raises(SchemaError) as err:
        hive_type(T.StructType([]), "meta")
    assert str(err.value) == ("schema error: column 'meta': struct has no fields; drop the column before loading")


@pytest.mark.parametrize(
    ("dtype", "message"),
    [
        (T.CharType(256), "Spark type char(256) exceeds the Athena/Glue limit of 255"),
        (T.VarcharType(65536), "Spark type varchar(65536) exceeds the Athena/Glue limit of 65535"),
    ],
)
def test_char_and_varchar_beyond_hive_limits_raise(dtype, message):
    with pytest.raises(SchemaError) as err:
        hive_type(dtype, "s")
    assert str(err.value) == f"schema error: column 's': {message}; cast it to string before loading"


def test_char_and_varchar_at_hive_limits_are_accepted():
    assert hive_type(T.CharType(255)) == "char(255)"
    assert hive_type(T.VarcharType(65535)) == "varchar(65535)"


# --- duckdb_type --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hive", "expected"),
    [
        ("boolean", "BOOLEAN"),
        ("tinyint", "TINYINT"),
        ("smallint", "SMALLINT"),
        ("int", "INTEGER"),
        ("integer", "INTEGER"),
        ("bigint", "BIGINT"),
        ("float", "FLOAT"),
        ("double", "DOUBLE"),
        ("string", "VARCHAR"),
        ("varchar(20)", "VARCHAR"),
        ("char(3)", "VARCHAR"),
        ("binary", "BLOB"),
        ("date", "DATE"),
        ("timestamp", "TIMESTAMP"),
    ],
)
def test_duckdb_type_primitives(hive, expected):
    assert duckdb_type(hive) == expected


@pytest.mark.parametrize(
    ("hive", "expected"),
    [
        ("decimal(10,2)", "DECIMAL(10,2)"),
        ("decimal(38,18)", "DECIMAL(38,18)"),
        ("decimal( 7 , 3 )", "DECIMAL(7,3)"),
        ("decimal(12)", "DECIMAL(12,0)"),
        ("decimal", "DECIMAL(10,0)"),
    ],
)
def test_duckdb_type_decimal(hive, expected):
    assert duckdb_type(hive) == expected


@pytest.mark.parametrize(
    ("hive", "expected"),
    [
        ("array<int>", "INTEGER[]"),
        ("array<array<string>>", "VARCHAR[][]"),
        ("map<string,bigint>", "MAP(VARCHAR, BIGINT)"),
        ("struct<a:int>", 'STRUCT("a" INTEGER)'),
        (
            "map<string,struct<a:int,b:decimal(10,2)>>",
            'MAP(VARCHAR, STRUCT("a" INTEGER, "b" DECIMAL(10,2)))',
        ),
        (
            "array<struct<id:bigint,tags:map<string,array<decimal(12,3)>>,at:timestamp>>",
            'STRUCT("id" BIGINT, "tags" MAP(VARCHAR, DECIMAL(12,3)[]), "at" TIMESTAMP)[]',
        ),
        (
            "struct<m:map<int,array<struct<x:double,y:double>>>,d:date>",
            'STRUCT("m" MAP(INTEGER, STRUCT("x" DOUBLE, "y" DOUBLE)[]), "d" DATE)',
        ),
    ],
)
def test_duckdb_type_nested_generics(hive, expected):
    assert duckdb_type(hive) == expected


def test_duckdb_type_is_case_and_whitespace_insensitive():
    assert duckdb_type("MAP< STRING , Struct<A : INT, B:Decimal(10, 2)> >") == (
        'MAP(VARCHAR, STRUCT("a" INTEGER, "b" DECIMAL(10,2)))'
    )
    assert duckdb_type("  BIGINT ") == "BIGINT"


def test_duckdb_type_accepts_backquoted_struct_field_names():
    assert duckdb_type('struct<`my field`:int,`q"x`:string>') == 'STRUCT("my field" INTEGER, "q""x" VARCHAR)'


@pytest.mark.parametrize(
    "hive",
    ["interval", "void", "uniontype<int,string>", "timestamp_ntz", "long", "varbyte", "geometry", "json"],
)
def test_duckdb_type_unknown_type_raises(hive):
    with pytest.raises(ValueError, match=r"unknown type"):
        duckdb_type(hive)


def test_duckdb_type_unknown_nested_type_raises():
    with pytest.raises(ValueError) as err:
        duckdb_type("map<string,array<interval>>")
    assert str(err.value) == "invalid Hive type 'map<string,array<interval>>': unknown type 'interval'"


@pytest.mark.parametrize(
    "hive",
    [
        "",
        "array<int",
        "array<>",
        "array<int,string>",
        "map<string>",
        "map<string,int,int>",
        "struct<>",
        "struct<a int>",
        "struct<a:int,>",
        "int<string>",
        "int(5)",
        "string(5)",
        "array(3)<int>",
        "decimal(10,2,1)",
        "decimal(39,2)",
        "decimal(0,0)",
        "decimal(5,6)",
        "decimal(a,b)",
        "varchar(1,2)",
        "int int",
        "map<string,int>>",
        "struct<`a:int>",
    ],
)
def test_duckdb_type_malformed_raises(hive):
    with pytest.raises(ValueError, match=r"^invalid Hive type "):
        duckdb_type(hive)


# --- consistency with DuckDB and between the two mappings ---------------------------------------------

ROUND_TRIP_TYPES = [
    T.BooleanType(),
    T.ByteType(),
    T.ShortType(),
    T.IntegerType(),
    T.LongType(),
    T.FloatType(),
    T.DoubleType(),
    T.DecimalType(38, 18),
    T.DecimalType(5, 0),
    T.StringType(),
    T.CharType(4),
    T.VarcharType(100),
    T.BinaryType(),
    T.DateType(),
    T.TimestampType(),
    T.TimestampNTZType(),
    T.ArrayType(T.ArrayType(T.LongType())),
    T.MapType(T.StringType(), T.DecimalType(10, 2)),
    T.MapType(T.DateType(), T.ArrayType(T.BinaryType())),
    struct(("Id", T.LongType()), ("Payload", struct(("Items", T.ArrayType(T.StringType()))))),
    T.ArrayType(
        struct(
            ("k", T.StringType()),
            ("v", T.MapType(T.IntegerType(), struct(("a", T.FloatType()), ("b", T.TimestampType())))),
        )
    ),
]


@pytest.mark.parametrize("dtype", ROUND_TRIP_TYPES, ids=lambda t: t.simpleString())
def test_round_trip_spark_to_hive_to_duckdb(dtype):
    hive = hive_type(dtype, "c")
    ddb = duckdb_type(hive)
    # The result must be a type DuckDB itself accepts in a CAST; it raises a ParserError/CatalogError if not.
    con = duckdb.connect()
    try:
        assert con.execute(f"SELECT typeof(CAST(NULL AS {ddb}))").fetchone()[0]
    finally:
        con.close()
    assert type_names(hive) <= ATHENA_TYPES


@pytest.mark.parametrize(
    ("hive", "expected"),
    [
        ("decimal(10,2)", "DECIMAL(10,2)"),
        ("map<string,struct<a:integer,b:decimal(10,2)>>", "MAP(VARCHAR, STRUCT(a INTEGER, b DECIMAL(10,2)))"),
        ("array<struct<x:bigint>>", "STRUCT(x BIGINT)[]"),
    ],
)
def test_duckdb_reports_the_type_we_cast_to(hive, expected):
    con = duckdb.connect()
    try:
        assert con.execute(f"SELECT typeof(CAST(NULL AS {duckdb_type(hive)}))").fetchone()[0] == expected
    finally:
        con.close()


def test_partition_value_cast_uses_the_mapped_type():
    con = duckdb.connect()
    try:
        row = con.execute(
            f"SELECT CAST('2024-01-31' AS {duckdb_type('date')}),"
            f" CAST('12.50' AS {duckdb_type('decimal(10,2)')}),"
            f" CAST('7' AS {duckdb_type('tinyint')})"
        ).fetchone()
    finally:
        con.close()
    assert str(row[0]) == "2024-01-31"
    assert str(row[1]) == "12.50"
    assert row[2] == 7


# --- type_names and ATHENA_SPECTRUM_TYPES -------------------------------------------------------------


@pytest.mark.parametrize(
    ("hive", "expected"),
    [
        ("int", {"int"}),
        ("integer", {"int"}),
        ("decimal(10,2)", {"decimal"}),
        ("map<string,array<decimal(10,2)>>", {"map", "string", "array", "decimal"}),
        (
            "struct<a:int,b:struct<c:varchar(3),d:array<binary>>>",
            {"struct", "int", "varchar", "array", "binary"},
        ),
        ("MAP<STRING,BIGINT>", {"map", "string", "bigint"}),
        # Unknown names are reported, not rejected, so a caller can show what is not shared.
        ("array<interval>", {"array", "interval"}),
    ],
)
def test_type_names(hive, expected):
    assert type_names(hive) == expected


def test_type_names_does_not_report_struct_field_names():
    assert type_names("struct<string:int,map:date>") == {"struct", "int", "date"}


def test_type_names_rejects_malformed_input():
    with pytest.raises(ValueError, match=r"^invalid Hive type "):
        type_names("map<string,")


def test_every_shared_type_maps_to_duckdb():
    samples = {
        "decimal": "decimal(10,2)",
        "varchar": "varchar(5)",
        "char": "char(2)",
        "array": "array<int>",
        "map": "map<string,int>",
        "struct": "struct<a:int>",
    }
    for name in ATHENA_SPECTRUM_TYPES:
        assert duckdb_type(samples.get(name, name))


def test_table_schema_uses_only_shared_types():
    schema = struct(
        ("id", T.LongType()),
        ("amount", T.DecimalType(18, 4)),
        (
            "events",
            T.ArrayType(struct(("at", T.TimestampNTZType()), ("attrs", T.MapType(T.StringType(), T.StringType())))),
        ),
    )
    for field in schema.fields:
        assert type_names(hive_type(field.dataType, field.name)) <= ATHENA_SPECTRUM_TYPES
