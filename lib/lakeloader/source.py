"""Read the input once: any Hadoop URI and format, column names normalised, bad rows flagged."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from pyspark.errors import AnalysisException, ParseException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakeloader.config import SourceConfig
from lakeloader.errors import ConfigError, InputError
from lakeloader.session import spark_uri

log = logging.getLogger(__name__)

CORRUPT = "_corrupt_record"
SOURCE_FILE = "_source_file"
_PERMISSIVE_FORMATS = ("csv", "json")


@dataclass(frozen=True)
class InputFile:
    path: str
    size: int
    mtime_ms: int


@dataclass(frozen=True)
class Input:
    """The read input: `df` holds every row; `bad` is a column that is true on malformed rows."""

    df: DataFrame
    bad: Optional[Column]
    files: tuple[InputFile, ...]
    read_schema: Optional[T.StructType]  # what the reader was given (raw names), to re-read bad files

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)


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


def list_input(spark: SparkSession, uris: Sequence[str]) -> tuple[InputFile, ...]:
    """Every data file under the URIs (globs allowed), skipping hidden files, via Hadoop's FileSystem."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    out = []
    for uri in uris:
        path = jvm.org.apache.hadoop.fs.Path(uri)
        try:
            fs = path.getFileSystem(conf)
            statuses = fs.globStatus(path) or []
            found = []
            for st in statuses:
                if st.isDirectory():
                    it = fs.listFiles(st.getPath(), True)
                    while it.hasNext():
                        found.append(it.next())
                else:
                    found.append(st)
        except Exception as e:  # Py4J wraps Java IO errors; the message is what the user needs
            raise InputError(f"cannot list input {uri}: {_first_line(e)}") from None
        # Like Spark's own file index: names starting with '.' or '_' are not data.
        found = [f for f in found if not f.getPath().getName().startswith((".", "_"))]
        if not found:
            raise InputError(f"input not found: no data files at {uri}")
        out += [InputFile(str(f.getPath()), int(f.getLen()), int(f.getModificationTime())) for f in found]
    return tuple(sorted(out, key=lambda f: f.path))


def read_source(
    spark: SparkSession,
    src: SourceConfig,
    uris: Sequence[str],
    where: str,
    schema: Optional[T.StructType] = None,
) -> Input:
    """Read the input lazily: one scan, bad rows kept (quarantine/drop) or failing fast (fail)."""
    uris = [spark_uri(spark, u) for u in uris]
    files = list_input(spark, uris)
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
        raise InputError(f"cannot read {src.format} input {shown}: {_first_line(e)}") from None
    except Exception as e:  # a file that is not what `format` says fails here, inside the JVM
        raise InputError(f"cannot read {shown} as {src.format}: {_first_line(e)}") from None
    if not df.columns or df.columns == [CORRUPT]:
        raise InputError(f"input {shown} has no columns as {src.format}; is 'format: {src.format}' right?")
    df = normalize_columns(df)
    if permissive:
        df = df.withColumn(SOURCE_FILE, F.input_file_name())
    return Input(df=df, bad=F.col(CORRUPT).isNotNull() if permissive else None, files=files, read_schema=schema)


def _schema(spark: SparkSession, src: SourceConfig, uris: list[str], where: str) -> Optional[T.StructType]:
    if src.schema:
        try:
            return T._parse_datatype_string(src.schema)  # type: ignore[attr-defined]
        except (ParseException, ValueError, Exception) as e:
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
