"""Writing a run's files: the Parquet write with its failures classified, the quarantine of malformed rows,
append mode's carry-forward of live files, and the check that partition projection can read what was written.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Optional
from urllib.parse import unquote

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakeloader import spark_errors, storage
from lakeloader.config import AwsConfig, TableConfig
from lakeloader.errors import InputError, StorageError
from lakeloader.hive import HIVE_DEFAULT_PARTITION
from lakeloader.layout import LayoutPlan
from lakeloader.partitioning import unparsed_conditions
from lakeloader.projection import unreachable
from lakeloader.run_stage import stage
from lakeloader.session import spark_uri
from lakeloader.source import CORRUPT, SOURCE_FILE, Input, read_source
from lakeloader.writer import WriteResult, partition_stats, write_version

log = logging.getLogger(__name__)


def write_run(
    df: DataFrame,
    inp: Input,
    root: str,
    plan: LayoutPlan,
    version: str,
    table: TableConfig,
    where: str,
    aws: Optional[AwsConfig],
    input_bytes: int,
) -> WriteResult:
    """Write the run's version directories; a malformed row or a vanished input file is one InputError."""
    try:
        result = write_version(
            df, inp.bad, root, plan, version, table.compression, aws, unparsed_conditions(table.partitions),
            input_bytes,
        )  # fmt: skip
    except Exception as e:
        # The committer's job abort does this too; a second pass costs one LIST and bills nothing later.
        storage.abort_uploads(root, aws)
        chain = spark_errors.cause_chain(e)
        malformed = spark_errors.find(chain, error_class=spark_errors.MALFORMED_RECORD)
        if malformed:
            raise InputError(
                f"{where}: malformed {table.source.format} row "
                f"({malformed.message.splitlines()[0][:200] if malformed.message else 'see the Spark log'}); "
                "nothing was published; set on_bad_records: quarantine or drop to load the rest"
            ) from None
        refused = spark_errors.hdfs_refused(chain)
        if refused:
            raise InputError(f"{where}: {refused}; nothing was published") from None
        if spark_errors.input_file_vanished(chain):
            raise InputError(
                f"{where}: an input file vanished during the run; rerun when the input is stable"
            ) from None
        store = spark_errors.storage_failure(chain)
        if store:
            raise StorageError(
                f"writing {root}: {store.java_class.rsplit('.', 1)[-1]}: {' '.join(store.message.split())[:300]} "
                "(after s3a's retries); nothing was published; rerun when S3 answers again"
            ) from None
        raise
    for name, n in result.unparsed.items():
        rule = next(r for r in table.partitions if r.name == name)
        log.warning(
            "%d rows have a %s value that does not parse as a %s, so their %s is NULL (%s); "
            "give source.schema a timestamp type, or set a timestampFormat/dateFormat option",
            n, rule.source_column, rule.transform, name, HIVE_DEFAULT_PARTITION,
        )  # fmt: skip
    return result


def quarantine_bad_rows(
    spark: SparkSession,
    table: TableConfig,
    inp: Input,
    written: WriteResult,
    admin: str,
    run_id: str,
    where: str,
    timings: dict[str, float],
) -> Optional[str]:
    """Quarantine malformed rows (re-reading only the files that had any); returns where they went."""
    if written.bad_rows == 0:
        return None
    log.warning(
        "%d malformed rows in %d files (%s)", written.bad_rows, len(written.bad_files), table.source.on_bad_records
    )
    if table.source.on_bad_records != "quarantine":
        return None
    dest = f"{admin}/quarantine/{run_id}"
    with stage("quarantine", timings):
        files = [unquote(f) for f in written.bad_files]
        again = read_source(spark, table.source, files, where, schema=inp.read_schema)
        # Spark flags a malformed CSV/JSON row only while parsing every column; selecting just the raw
        # record would prune the rest and find nothing. Caching the filtered rows (only the bad ones)
        # makes Spark parse the full schema.
        rows = again.df.filter(again.bad).cache()
        try:
            rows.select(
                F.col(CORRUPT).alias("record"),
                F.lit(f"does not parse as {table.source.format} with the table's schema").alias("reason"),
                F.col(SOURCE_FILE).alias("source_file"),
            ).coalesce(1).write.mode("overwrite").json(spark_uri(spark, dest))
        finally:
            rows.unpersist()
    return dest


def carry_forward(
    spark: SparkSession,
    written: WriteResult,
    existing: list[dict],
    root: str,
    names: list[str],
    version: str,
    aws,  # noqa: ANN001
) -> WriteResult:
    """Append mode: copy the live files of each touched partition into the new version."""
    live = {tuple(p["Values"]): p["StorageDescriptor"]["Location"] for p in existing}
    touched = [tuple(p.values) for p in written.partitions if tuple(p.values) in live]
    for values in touched:
        dst = next(p.location for p in written.partitions if tuple(p.values) == values)
        storage.copy_files(live[values], dst, aws)
    fresh = {tuple(p.values): p for p in partition_stats(spark, root, names, touched, version, aws)}
    merged = tuple(fresh.get(tuple(p.values), p) for p in written.partitions)
    return replace(written, partitions=merged)


def check_projectable(table: TableConfig, written: WriteResult, where: str) -> None:
    """InputError when Athena's partition projection could never read some partition the run wrote."""
    missed = unreachable(table, [p.values for p in written.partitions])
    if missed:
        rows = {tuple(p.values): p.rows for p in written.partitions}
        lost = sum(rows[tuple(values)] for values, _ in missed)
        raise InputError(
            f"{where}.partition_projection: partition {missed[0][1]}; Athena would never read it "
            f"({len(missed)} such partitions, {lost} rows); widen the projection or filter the input; "
            "nothing was published"
        )
