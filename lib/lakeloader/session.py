"""The SparkSession for a run: local[*] on a laptop and in tests, the cluster's on EMR."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Optional

from pyspark.sql import SparkSession

# Settings every lakeloader session needs, wherever it runs.
BASE_CONF = {
    "spark.sql.session.timeZone": "UTC",  # date/hour partitions must not depend on the node's zone
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    # No _SUCCESS marker: the table location holds only data files.
    "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
    "spark.sql.parquet.compression.codec": "snappy",
}

# Extra settings for a laptop or CI machine (2 cores): few shuffle partitions, no UI.
LOCAL_CONF = {
    "spark.master": "local[*]",
    "spark.driver.memory": "4g",
    "spark.sql.shuffle.partitions": "8",
    "spark.default.parallelism": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.warehouse.dir": os.path.join(os.getcwd(), ".lakeloader", "spark-warehouse"),
    # No .crc side files next to local output.
    "spark.hadoop.fs.file.impl": "org.apache.hadoop.fs.RawLocalFileSystem",
    "spark.driver.extraJavaOptions": "-Dderby.system.home=.lakeloader",
}


def is_on_cluster() -> bool:
    """True under spark-submit on a cluster (EMR sets SPARK_ENV_LOADED / a yarn master)."""
    return os.environ.get("SPARK_ENV_LOADED") == "1" or "yarn" in os.environ.get("MASTER", "")


def build_session(
    app_name: str, extra: Optional[Mapping[str, str]] = None, local: Optional[bool] = None, verbose: bool = False
) -> SparkSession:
    """Get or create the SparkSession with lakeloader's settings plus `extra` (config `spark:`)."""
    local = (not is_on_cluster()) if local is None else local
    builder = SparkSession.builder.appName(app_name)
    conf = {**BASE_CONF, **(LOCAL_CONF if local else {}), **(extra or {})}
    for k, v in conf.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    # lakeloader reports every failure itself in one line; on a laptop the JVM's task stack traces
    # are noise unless asked for. On a cluster the step logs keep Spark's own warnings.
    spark.sparkContext.setLogLevel("WARN" if verbose or not local else "OFF")
    return spark
