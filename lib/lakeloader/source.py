"""Read the input once: any Hadoop URI and format, column names normalised, bad rows flagged."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from py4j.protocol import Py4JJavaError
from pyspark.errors import AnalysisException, ParseException, PySparkException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakeloader import spark_errors
from lakeloader.config import SourceConfig
from lakeloader.errors import ConfigError, InputError
from lakeloader.metastore import read_table
from lakeloader.session import spark_uri

log = logging.getLogger(__name__)

CORRUPT = "_corrupt_record"
SOURCE_FILE = "_source_file"
_PERMISSIVE_FORMATS = ("csv", "json")


@dataclass(frozen=True)
class Input:
    """The read input: `df` holds every row; `bad` is a column that is true on malformed rows."""

    df: DataFrame
    bad: Optional[Column]
    read_schema: Optional[T.StructType]  # what the reader was given (raw names), to re-read bad files
    shown: str  # the input as the user named it, for messages


def normalize_name(name: str) -> str:
    """Glue/Athena column name: lowercase, runs of other characters become '_'."""
    out = re.sub(r"[^a-z0-9_]+", "_", name.strip().lower()).strip("_")
    return out or "col"


def normalize_columns(df: DataFrame) -> DataFrame:
    """Rename columns to Glue-safe lowercase names; two columns mapping to one name is an error."""
    seen: dict[str, str] = {}
    for c in df.columns:
        n = c if c in (CORRUPT,) else normalize_name(c)
        if n in seen:
            raise InputError(f"columns {seen[n]!r} and {c!r} both become {n!r} (Glue lowercases names); rename one")
        seen[n] = c
    return df.select(*[F.col(f"`{orig}`").alias(new) for new, orig in seen.items()])


def read_input(spark: SparkSession, src: SourceConfig, name: str, run_date: dt.date, where: str) -> Input:
    """Read a run's input once: the files at `name` (config.source_input), or the source's Hive table."""
    if src.table is None:
        return read_source(spark, src, [name], where)
    # A table's rows come typed through its SerDe: no malformed-row column to quarantine by.
    return Input(df=normalize_columns(read_table(spark, src, run_date, where)), bad=None, read_schema=None, shown=name)


def read_source(
    spark: SparkSession,
    src: SourceConfig,
    uris: Sequence[str],
    where: str,
    schema: Optional[T.StructType] = None,
) -> Input:
    """Read the input lazily: one scan, bad rows kept (quarantine/drop) or failing fast (fail)."""
    uris = [spark_uri(spark, u) for u in uris]
    reader = spark.read.format(src.format).options(**{k: _opt(v) for k, v in src.options.items()})
    permissive = src.format in _PERMISSIVE_FORMATS and src.on_bad_records != "fail"
    shown = uris[0] if len(uris) == 1 else f"{uris[0]} (+{len(uris) - 1} more)"
    try:
        schema = schema or _schema(spark, src, uris, where)
        read_schema = schema
        if src.format in _PERMISSIVE_FORMATS:
            reader = reader.option("mode", "PERMISSIVE" if permissive else "FAILFAST")
        if permissive and schema is not None:
            read_schema = T.StructType([*schema.fields, T.StructField(CORRUPT, T.StringType())])
            reader = reader.option("columnNameOfCorruptRecord", CORRUPT)
        if read_schema is not None:
            reader = reader.schema(read_schema)
        df = reader.load(uris if len(uris) > 1 else uris[0])
    except AnalysisException as e:
        if e.getErrorClass() == "PATH_NOT_FOUND":
            raise InputError(f"input not found: no data files at {shown}") from None
        raise InputError(f"cannot read {src.format} input {shown}: {_first_line(e)}") from None
    except (PySparkException, Py4JJavaError) as e:  # a file that is not what `format` says fails in the JVM
        # Only Spark's own failures are input errors: a Python bug must surface as a bug, not as exit 2.
        refused = spark_errors.hdfs_refused(spark_errors.cause_chain(e))
        if refused:
            raise InputError(f"cannot read {shown}: {refused}") from None
        raise InputError(f"cannot read {shown} as {src.format}: {_first_line(e)}") from None
    if not df.columns or df.columns == [CORRUPT]:
        raise InputError(f"input {shown} has no columns as {src.format}; is 'format: {src.format}' right?")
    df = normalize_columns(df)
    if permissive:
        df = df.withColumn(SOURCE_FILE, F.input_file_name())
    return Input(df=df, bad=F.col(CORRUPT).isNotNull() if permissive else None, read_schema=schema, shown=shown)


def _schema(spark: SparkSession, src: SourceConfig, uris: list[str], where: str) -> Optional[T.StructType]:
    if src.schema:
        try:
            return T._parse_datatype_string(src.schema)  # type: ignore[attr-defined]
        except (ParseException, ValueError) as e:
            raise ConfigError(f"{where}.source.schema: not a valid DDL schema: {_first_line(e)}") from None
    if src.format in _PERMISSIVE_FORMATS and src.on_bad_records != "fail":
        # A corrupt-record column needs an explicit schema; inferring one costs an extra pass.
        log.warning("%s.source.schema is not set: inferring it reads the input an extra time", where)
        opts = {k: _opt(v) for k, v in src.options.items()}
        return spark.read.format(src.format).options(**opts).load(uris).schema
    return None


def _opt(v: object) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def _first_line(e: BaseException) -> str:
    text = getattr(e, "desc", None) or str(e)
    line = text.strip().splitlines()[0] if text.strip() else type(e).__name__
    return line[:400]
