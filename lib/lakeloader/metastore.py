"""Hive metastore tables as a source: the Hive-enabled session, and reading a table with its `where`.

The metastore costs a JVM-side client (and locally an embedded Derby database) when a session first
uses it, so only runs whose source is a `table` pay for it: a plain session is turned into a
Hive-enabled sibling on the same SparkContext here, on first need, instead of building every session
with Hive support. On EMR the cluster's session usually is Hive-enabled already (its metastore is the
Glue Data Catalog or an external HMS, docs/deploy.md) and is used as it is.
"""

from __future__ import annotations

import datetime as dt
import logging

from py4j.protocol import Py4JJavaError
from pyspark.errors import AnalysisException, ParseException, PySparkException
from pyspark.sql import DataFrame, SparkSession

from lakeloader.config import SourceConfig, render_source_path
from lakeloader.errors import ConfigError, InputError

log = logging.getLogger(__name__)
_CATALOG_KEY = "spark.sql.catalogImplementation"
# One Hive-enabled sibling per SparkContext: two Hive clients in one JVM would each open the metastore.
_siblings: dict[int, SparkSession] = {}


def hive_session(spark: SparkSession) -> SparkSession:
    """`spark` if it already uses the Hive metastore, else a Hive-enabled session sharing its SparkContext.

    The sibling reads its metastore settings (`spark.hadoop.javax.jdo.option.*`, `spark.hadoop.hive.*`,
    `spark.sql.warehouse.dir`, for Derby `-Dderby.system.home`) from the SparkContext's configuration,
    i.e. the config's `spark:` section.
    """
    if spark.conf.get(_CATALOG_KEY, "in-memory") == "hive":
        return spark
    sc = spark.sparkContext
    key = id(sc._jsc)
    if key not in _siblings:
        log.info("starting a Hive metastore client for the source table")
        options = sc._jvm.java.util.HashMap()
        options.put(_CATALOG_KEY, "hive")
        # The constructor pyspark's own builder uses: a new SharedState, so its catalog can be Hive's.
        jsession = sc._jvm.org.apache.spark.sql.SparkSession(sc._jsc.sc(), options)
        _siblings[key] = SparkSession(sc, jsparkSession=jsession)
    return _siblings[key]


def read_table(spark: SparkSession, src: SourceConfig, run_date: dt.date, where: str) -> DataFrame:
    """The source table's rows (lazily), filtered by its rendered `where` so Spark prunes partitions.

    A missing database or table is an InputError, a `where` Spark cannot parse or resolve a ConfigError:
    both one line, raised while planning, before anything is written.
    """
    assert src.table is not None
    hive = hive_session(spark)
    database, name = src.table.split(".", 1)
    try:
        exists = hive.catalog.databaseExists(database)
    except (Py4JJavaError, PySparkException) as e:  # e.g. an HMS at hive.metastore.uris that does not answer
        raise InputError(f"{where}.source.table: cannot reach the Hive metastore: {_first_line(e)}") from None
    if not exists:
        raise InputError(f"{where}.source.table: no database {database!r} in the Hive metastore")
    if not hive.catalog.tableExists(src.table):
        raise InputError(f"{where}.source.table: no table {name!r} in Hive database {database!r}")
    cond = render_source_path(src.where, run_date) if src.where else None
    try:
        df = hive.table(src.table)
        if cond:
            df = df.where(cond)
        df.schema  # noqa: B018 -- analysis now: an unknown column in `where` fails here, not mid-write
    except ParseException as e:
        raise ConfigError(f"{where}.source.where: {cond!r} is not a SQL condition: {_first_line(e)}") from None
    except AnalysisException as e:
        raise ConfigError(f"{where}.source.where: {cond!r}: {_first_line(e)}") from None
    return df


def _first_line(e: BaseException) -> str:
    text = getattr(e, "desc", None) or str(e)
    return (text.strip().splitlines() or [type(e).__name__])[0][:300]
