"""The SparkSession for a run: local[*] on a laptop and in tests, the cluster's on EMR."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

from pyspark import SparkContext
from pyspark.sql import SparkSession

from lakeloader import jvm
from lakeloader.config import AwsConfig, Config, TableConfig
from lakeloader.delta import DELTA_SPARK_CONF
from lakeloader.storage import hadoop_uri

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
    "spark.driver.extraJavaOptions": "-Dderby.system.home=.lakeloader",
}


# Spark's binding to Hadoop's S3A committers (spark-hadoop-cloud), for local sessions with the jars of
# jvm/pom.xml. For s3a:// the factory picks the committer named by fs.s3a.committer.name; every other
# scheme (file://) still gets Hadoop's FileOutputCommitter through the same protocol. EMR sets its own
# (EMRFS and the EMRFS S3-optimized committer for s3://), so none of this goes to a cluster session.
S3A_COMMITTER_CONF = {
    "spark.sql.sources.commitProtocolClass": "org.apache.spark.internal.io.cloud.PathOutputCommitProtocol",
    "spark.sql.parquet.output.committer.class": "org.apache.spark.internal.io.cloud.BindingParquetOutputCommitter",
    "spark.hadoop.mapreduce.outputcommitter.factory.scheme.s3a": "org.apache.hadoop.fs.s3a.commit.S3ACommitterFactory",
    # The staging "directory" committer: each task writes its files to local disk and uploads them at task
    # commit as multipart uploads that job commit completes; 3 requests a file (POST, PUT, POST), no rename.
    # Measured against "magic" (bench/RESULTS.md, 1 M rows, 600 files): write stage 81 s vs 173 s, 7.3 vs 15.5
    # requests per file; hadoop-aws 3.3.4's magic committer probes its __magic paths with HEAD/LIST per file.
    "spark.hadoop.fs.s3a.committer.name": "directory",
    # Every run writes fresh _v= directories below a table root that already holds other versions: the
    # committer must neither fail on (fail) nor delete (replace) what is there.
    "spark.hadoop.fs.s3a.committer.staging.conflict-mode": "append",
    "spark.hadoop.fs.s3a.committer.staging.tmp.path": "file://" + os.path.join(os.getcwd(), ".lakeloader", "s3a"),
    # A failed job aborts every pending multipart upload under its destination (the default; kept explicit).
    "spark.hadoop.fs.s3a.committer.abort.pending.uploads": "true",
}


def jars_needed(config: Config, table: TableConfig, input_uri: str = "") -> list[str]:
    """Why a local run of `table` needs the pinned jars (s3a, Delta); [] for a file:// Parquet table."""
    where = (("warehouse", config.warehouse), ("location", config.table_location(table)), ("input", input_uri))
    reasons = [f"{what} {uri} (s3a)" for what, uri in where if uri.startswith(("s3://", "s3a://"))][:1]
    if table.format == "delta":
        reasons.append("format: delta (delta-spark)")
    return reasons


def require_jars(spark: SparkSession, config: Config, table: TableConfig, input_uri: str = "") -> None:
    """Off a cluster, a one-line ConfigError (exit 2) when a jar the run of `table` needs is missing.

    Called while planning, before anything is written. A cluster session (EMR) brings its own.
    """
    reasons = jars_needed(config, table, input_uri)
    if reasons and spark.sparkContext.master.startswith("local"):
        jvm.require("spark", f"tables.{table.name}: {' and '.join(reasons)}")


# How s3a retries, set deliberately (docs/reliability.md, "Who retries what"). Two layers multiply: the AWS
# SDK retries each HTTP request (`attempts.maximum`, its own backoff), and S3A retries each operation the
# SDK gave up on by the error's class (`retry.*`: resets and 5xx; `retry.throttle.*`: 503 SlowDown).
# hadoop-aws 3.3.4's defaults (20 SDK x 7 or 20 S3A attempts) let one dead request retry for many minutes;
# these bound it to 4 x 5 (4 x 7 when throttled), with S3A's backoff doubling from 0.5 s.
S3A_RETRY_CONF = {
    "fs.s3a.attempts.maximum": "3",
    "fs.s3a.retry.limit": "4",
    "fs.s3a.retry.interval": "500ms",
    "fs.s3a.retry.throttle.limit": "6",
    "fs.s3a.retry.throttle.interval": "500ms",
}


def configure_s3(spark: SparkSession, aws: AwsConfig) -> None:
    """Point s3a at the configured region/endpoint (a moto server locally); a no-op for AWS defaults."""
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    conf.set("fs.s3a.endpoint.region", aws.region)
    # Each new file otherwise costs a LIST and a bulk DELETE of parent-directory markers (bench/RESULTS.md:
    # 1,774 -> 553 bulk deletes for 600 files); lakeloader only writes fresh _v= directories, so keeping them
    # is harmless, and Hadoop >= 3.3.1 readers, EMRFS and Athena all ignore marker objects.
    conf.set("fs.s3a.directory.marker.retention", "keep")
    for key, value in S3A_RETRY_CONF.items():
        conf.set(key, value)
    if aws.endpoint_url:
        ep = urlparse(aws.endpoint_url)
        conf.set("fs.s3a.endpoint", ep.netloc)
        conf.set("fs.s3a.path.style.access", "true")
        conf.set("fs.s3a.connection.ssl.enabled", str(ep.scheme == "https").lower())
        conf.set("fs.s3a.impl.disable.cache", "true")  # a test may point at a new endpoint


def spark_uri(spark: SparkSession, uri: str) -> str:
    """The URI to hand this session's Spark for a catalog URI (s3:// becomes s3a:// off EMR)."""
    return hadoop_uri(uri, on_cluster=not spark.sparkContext.master.startswith("local"))


# The quiet log4j2 configuration of local sessions (shipped with the package).
LOG4J2_FILE = Path(__file__).resolve().parent / "log4j2.properties"


def with_local_fs(conf: dict[str, str]) -> dict[str, str]:
    """`conf` with Hadoop's local file system answered through java.nio (jvm/src), when its jar is built.

    Without libhadoop (pyspark ships none) Hadoop forks `chmod` for each directory it creates and `ls -ld` for
    each file status it is asked the owner of: the S3A staging committer does both for every file it stages.
    A JVM already running (an earlier session of this process) has the class only if it started with it, and
    fs.file.impl naming a class it cannot load would break every file:// path: then it is left out.
    """
    jar = jvm.local_fs_jar()
    if jar is None or "spark.hadoop.fs.file.impl" in conf:
        return conf
    if SparkContext._gateway is not None and not _loadable(jvm.LOCAL_FS_CLASS):
        return conf
    path = conf.get("spark.driver.extraClassPath")
    classpath = f"{path}{os.pathsep}{jar}" if path else str(jar)
    return {**conf, "spark.hadoop.fs.file.impl": jvm.LOCAL_FS_CLASS, "spark.driver.extraClassPath": classpath}


def _loadable(name: str) -> bool:
    try:
        SparkContext._jvm.java.lang.Class.forName(name)
    except Exception:  # py4j's error for a ClassNotFoundException
        return False
    return True


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
    # Off EMR the pinned jars of jvm/pom.xml (s3a, S3A committers, Delta); EMR ships its own.
    jars = jvm.jar_paths("spark") if local else []
    if jars:
        conf.setdefault("spark.jars", ",".join(jars))
        # A DeltaCatalog or a committer binding without its classes would break the session.
        conf = {**DELTA_SPARK_CONF, **S3A_COMMITTER_CONF, **conf}
    if local:
        conf = with_local_fs(conf)
    if local and not verbose and LOG4J2_FILE.is_file():
        # Before the JVM starts: its start-up warnings go through this file, not Spark's default profile.
        java_opts = conf.get("spark.driver.extraJavaOptions", "")
        conf["spark.driver.extraJavaOptions"] = f"{java_opts} -Dlog4j2.configurationFile={LOG4J2_FILE.as_uri()}".strip()
    if local:
        # Python tasks (the statistics job over the written files' footers) need an interpreter with
        # lakeloader and pyarrow: this one, not Spark's default `python3` on the PATH. PySpark takes it
        # from the environment when the context starts; on EMR the step's spark.pyspark.python sets it.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for k, v in conf.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    if local:
        # No .crc side files next to local output (local mode: tasks share the driver's cached FS).
        gateway, conf = spark.sparkContext._jvm, spark.sparkContext._jsc.hadoopConfiguration()
        gateway.org.apache.hadoop.fs.FileSystem.getLocal(conf).setWriteChecksum(False)
    # lakeloader reports every failure itself in one line; on a laptop the JVM's task stack traces
    # are noise unless asked for. On a cluster the step logs keep Spark's own warnings.
    spark.sparkContext.setLogLevel("WARN" if verbose or not local else "OFF")
    return spark
