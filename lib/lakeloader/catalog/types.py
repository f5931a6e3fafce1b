"""Type mapping between Spark, the Hive/Glue catalog (read by Athena and Redshift Spectrum) and DuckDB.

`hive_type` turns a Spark type into the type string stored in Glue; `duckdb_type` turns such a string
into the DuckDB type used to CAST partition values and absent columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from lakeloader.errors import SchemaError

if TYPE_CHECKING:  # the Spark half imports pyspark when called: `lakeloader query` never loads Spark
    from pyspark.sql import types as T

# Hive type names that both Athena and Redshift Spectrum read from Parquet via Glue (docs/spectrum.md).
# Not here: `binary` (Spectrum reads it only in non-partitioned tables, and lakeloader's are
# partitioned) and `tinyint` (absent from Spectrum's documented types). Athena reads both.
ATHENA_SPECTRUM_TYPES: frozenset[str] = frozenset(
    {
        "boolean",
        "smallint",
        "int",
        "bigint",
        "float",
        "double",
        "decimal",
        "string",
        "varchar",
        "char",
        "date",
        "timestamp",
        "array",
        "map",
        "struct",
    }
)

# Everything hive_type can produce: what Athena reads.
ATHENA_TYPES: frozenset[str] = ATHENA_SPECTRUM_TYPES | {"binary", "tinyint"}


def athena_only_columns(columns: Sequence[Mapping[str, str]]) -> list[str]:
    """Names of Glue columns whose type Redshift Spectrum may not read (Athena reads them all)."""
    return [c["Name"] for c in columns if not type_names(c["Type"]) <= ATHENA_SPECTRUM_TYPES]


_SIMPLE_HIVE: tuple[tuple[str, str], ...] = (
    ("BooleanType", "boolean"),
    ("ByteType", "tinyint"),
    ("ShortType", "smallint"),
    ("IntegerType", "int"),
    ("LongType", "bigint"),
    ("FloatType", "float"),
    ("DoubleType", "double"),
    ("StringType", "string"),
    ("BinaryType", "binary"),
    ("DateType", "date"),
    # Glue has one timestamp type; Parquet readers treat it as wall-clock time either way.
    ("TimestampType", "timestamp"),
    ("TimestampNTZType", "timestamp"),
)

# Hive's limits; Spark accepts longer lengths, which Glue/Athena would refuse.
_MAX_CHAR = 255
_MAX_VARCHAR = 65535

_UNSUPPORTED_HINTS: tuple[tuple[str, str], ...] = (
    ("DayTimeIntervalType", "cast it (e.g. to bigint seconds or string) before loading"),
    ("YearMonthIntervalType", "cast it (e.g. to int months or string) before loading"),
    ("CalendarIntervalType", "cast it (e.g. to string) before loading"),
    ("NullType", "cast the all-null column to its intended type (e.g. to string) before loading"),
    ("VariantType", "cast it (e.g. to a JSON string with to_json) before loading"),
)

_DUCKDB_SIMPLE = {
    "boolean": "BOOLEAN",
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "string": "VARCHAR",
    "binary": "BLOB",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}


def hive_type(dtype: T.DataType, column: str = "") -> str:
    """The Glue/Hive type string for a Spark type; `column` names it in errors.

    Raises SchemaError for types Athena/Glue cannot represent.
    """
    from pyspark.sql import types as T

    for spark_cls, name in _SIMPLE_HIVE:
        if isinstance(dtype, getattr(T, spark_cls)):
            return name
    if isinstance(dtype, T.DecimalType):
        return f"decimal({dtype.precision},{dtype.scale})"
    if isinstance(dtype, T.CharType):
        _check_length(dtype.length, _MAX_CHAR, "char", column)
        return f"char({dtype.length})"
    if isinstance(dtype, T.VarcharType):
        _check_length(dtype.length, _MAX_VARCHAR, "varchar", column)
        return f"varchar({dtype.length})"
    if isinstance(dtype, T.ArrayType):
        return f"array<{hive_type(dtype.elementType, _sub(column, 'element'))}>"
    if isinstance(dtype, T.MapType):
        key_path = _sub(column, "key")
        if isinstance(dtype.keyType, (T.ArrayType, T.MapType, T.StructType)):
            raise SchemaError(
                f"{_where(key_path)}map key type {dtype.keyType.simpleString()} is not primitive, "
                "which Athena/Glue require; turn the map into an array of structs before loading"
            )
        key = hive_type(dtype.keyType, key_path)
        return f"map<{key},{hive_type(dtype.valueType, _sub(column, 'value'))}>"
    if isinstance(dtype, T.StructType):
        return _hive_struct(dtype, column)
    raise SchemaError(_unsupported_message(dtype, column))


def duckdb_type(hive: str) -> str:
    """The DuckDB type for a Hive type string, e.g. `map<string,array<int>>` -> `MAP(VARCHAR, INTEGER[])`.

    Raises ValueError for malformed or unknown types.
    """
    return _duckdb(_parse_hive_type(hive), hive)


def type_names(hive: str) -> set[str]:
    """The base type names used anywhere in a Hive type string (`integer` reported as `int`)."""
    names: set[str] = set()
    stack = [_parse_hive_type(hive)]
    while stack:
        node = stack.pop()
        names.add("int" if node.name == "integer" else node.name)
        stack.extend(node.args)
        stack.extend(t for _, t in node.fields)
    return names


# --- Spark -> Hive helpers ---------------------------------------------------------------------------


def _sub(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _where(path: str) -> str:
    return f"column {path!r}: " if path else ""


def _check_length(length: int, limit: int, kind: str, column: str) -> None:
    if not 1 <= length <= limit:
        raise SchemaError(
            f"{_where(column)}Spark type {kind}({length}) exceeds the Athena/Glue limit of {limit}; "
            "cast it to string before loading"
        )


def _hive_struct(dtype: T.StructType, column: str) -> str:
    if not dtype.fields:
        # Parquet cannot store a struct without fields, and Hive has no `struct<>`.
        raise SchemaError(f"{_where(column)}struct has no fields; drop the column before loading")
    seen: dict[str, str] = {}
    parts = []
    for field in dtype.fields:
        path = _sub(column, field.name)
        # Glue lowercases struct field names, so names differing only in case would collide.
        name = field.name.lower()
        if not name or not all(ch.isalnum() or ch == "_" for ch in name):
            # Athena and Spectrum parse Glue type strings with Hive's tokenizer, which splits on other chars.
            raise SchemaError(
                f"{_where(path)}struct field name {field.name!r} cannot be written in a Glue type string; "
                "rename it to letters, digits and underscores before loading"
            )
        if name in seen:
            raise SchemaError(
                f"{_where(path)}struct fields {seen[name]!r} and {field.name!r} collide once lowercased "
                "as Glue stores them; rename one before loading"
            )
        seen[name] = field.name
        parts.append(f"{name}:{hive_type(field.dataType, path)}")
    return f"struct<{','.join(parts)}>"


def _unsupported_message(dtype: T.DataType, column: str) -> str:
    from pyspark.sql import types as T

    cls_names = {cls.__name__ for cls in type(dtype).__mro__}
    hint = next((h for cls_name, h in _UNSUPPORTED_HINTS if cls_name in cls_names), None)
    if isinstance(dtype, T.UserDefinedType):
        what = f"user-defined type {type(dtype).__name__}"
        hint = hint or "convert it to its underlying columns before loading"
    else:
        what = f"Spark type {_spark_type_name(dtype)}"
    hint = hint or "cast it to a supported type before loading"
    return f"{_where(column)}{what} has no Athena/Glue equivalent; {hint}"


def _spark_type_name(dtype: T.DataType) -> str:
    try:
        return dtype.simpleString()
    except Exception:  # a type without a usable simpleString still deserves a readable message
        return type(dtype).__name__


# --- Hive type string parsing ------------------------------------------------------------------------
# Not sqlglot's type parser, although sqlglot is a dependency: its Hive dialect (30.x) reads `array<int`,
# `map<string,int>>`, `struct<a int>` and `decimal(a,b)` without complaint, reads `long` as bigint, and turns
# `struct<select:int>` into a struct without fields. Glue type strings this parser refuses would reach
# Athena or DuckDB as wrong casts; the malformed cases in tests/test_catalog_types.py pin that down.


class _HiveType(NamedTuple):
    name: str  # lowercased base name, e.g. "decimal", "array"
    params: tuple[int, ...] = ()  # decimal(p,s), varchar(n)
    args: tuple[_HiveType, ...] = ()  # array<e>, map<k,v>
    fields: tuple[tuple[str, _HiveType], ...] = ()  # struct<name:type,...>


class _Parser:
    """Recursive-descent parser for Hive type strings; syntax only, names are not validated here."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> ValueError:
        return ValueError(f"invalid Hive type {self.text!r}: {what} at position {self.pos}")

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            raise self.fail(f"expected {ch!r}")
        self.pos += 1

    def word(self, what: str) -> str:
        self.skip_space()
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] == "_"):
            self.pos += 1
        if start == self.pos:
            raise self.fail(f"expected {what}")
        return self.text[start : self.pos]

    def field_name(self) -> str:
        if self.peek() != "`":
            return self.word("a struct field name").lower()
        end = self.text.find("`", self.pos + 1)
        if end < 0:
            raise self.fail("unterminated `")
        name = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return name.lower()

    def type(self) -> _HiveType:
        name = self.word("a type name").lower()
        params: tuple[int, ...] = ()
        args: list[_HiveType] = []
        fields: list[tuple[str, _HiveType]] = []
        if self.peek() == "(":
            self.pos += 1
            nums = [self.number()]
            while self.peek() == ",":
                self.pos += 1
                nums.append(self.number())
            self.expect(")")
            params = tuple(nums)
        if self.peek() == "<":
            self.pos += 1
            if name == "struct":
                while True:
                    field = self.field_name()
                    self.expect(":")
                    fields.append((field, self.type()))
                    if self.peek() != ",":
                        break
                    self.pos += 1
            else:
                args.append(self.type())
                while self.peek() == ",":
                    self.pos += 1
                    args.append(self.type())
            self.expect(">")
        return _HiveType(name, params, tuple(args), tuple(fields))

    def number(self) -> int:
        digits = self.word("a number")
        if not digits.isdigit():
            raise self.fail(f"expected a number, got {digits!r}")
        return int(digits)


def _parse_hive_type(text: str) -> _HiveType:
    """Parse a Hive type string (case-insensitive) into a tree; ValueError when malformed."""
    parser = _Parser(text)
    node = parser.type()
    if parser.peek():
        raise parser.fail("unexpected trailing text")
    return node


def _duckdb(node: _HiveType, text: str) -> str:
    def bad(what: str) -> ValueError:
        return ValueError(f"invalid Hive type {text!r}: {what}")

    name, params, args, fields = node
    if name not in _DUCKDB_SIMPLE and name not in ("array", "map", "struct", "decimal", "char", "varchar"):
        raise bad(f"unknown type {name!r}")
    if name in ("array", "map", "struct"):
        if params:
            raise bad(f"{name} takes no (...) parameters")
        if name == "array":
            if len(args) != 1:
                raise bad("array needs exactly one element type")
            return f"{_duckdb(args[0], text)}[]"
        if name == "map":
            if len(args) != 2:
                raise bad("map needs a key and a value type")
            return f"MAP({_duckdb(args[0], text)}, {_duckdb(args[1], text)})"
        if not fields:
            raise bad("struct needs at least one field")
        cols = ", ".join(f'"{n.replace(chr(34), chr(34) * 2)}" {_duckdb(t, text)}' for n, t in fields)
        return f"STRUCT({cols})"
    if args or fields:
        raise bad(f"{name} takes no <...> arguments")
    if name == "decimal":
        if len(params) > 2:
            raise bad("decimal takes (precision) or (precision,scale)")
        # Hive's defaults for a bare `decimal` / `decimal(p)`.
        precision = params[0] if params else 10
        scale = params[1] if len(params) > 1 else 0
        if not 1 <= precision <= 38 or scale > precision:
            raise bad(f"decimal({precision},{scale}) needs 1 <= precision <= 38 and scale <= precision")
        return f"DECIMAL({precision},{scale})"
    if name in ("char", "varchar"):
        if len(params) > 1:
            raise bad(f"{name} takes one length")
        return "VARCHAR"
    if params:
        raise bad(f"{name} takes no (...) parameters")
    return _DUCKDB_SIMPLE[name]
