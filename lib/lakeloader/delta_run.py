"""One run of a Delta table: a single transactional write to the table root, audited, then registered."""

from __future__ import annotations

import logging
from dataclasses import replace

from pyspark.sql import SparkSession

from lakeloader import delta, storage
from lakeloader import manifest as manifests
from lakeloader.config import Config, TableConfig
from lakeloader.errors import InputError
from lakeloader.faults import failpoint
from lakeloader.layout import apply_layout, plan_layout
from lakeloader.lock import Lease
from lakeloader.manifest import Manifest
from lakeloader.partitioning import unparsed_conditions
from lakeloader.register import ensure_delta_table, planned_delta_columns
from lakeloader.run_record import audit_staged, record_published
from lakeloader.run_stage import stage
from lakeloader.run_types import RunSummary
from lakeloader.run_write import quarantine_bad_rows
from lakeloader.session import spark_uri
from lakeloader.source import Input
from lakeloader.state import TableState
from lakeloader.writer import WriteResult, good_rows, observe_input

log = logging.getLogger(__name__)


def publish_delta(
    spark: SparkSession,
    config: Config,
    table: TableConfig,
    inp: Input,
    df,  # noqa: ANN001
    base: Manifest,
    columns: list,
    keys: list,
    catalog,  # noqa: ANN001
    where: str,
    state: TableState,
    lease: Lease,
) -> RunSummary:
    """Delta output: one transactional write to the table root, audited, then registered.

    Delta's own log makes the write atomic; Athena reads the log directly, so the new version is
    visible from its commit. A failed audit restores the previous log version (not strict WAP).
    `lease` is checked before the commit, the audit and the registration (a run that lost the table's
    lock changes nothing more).
    """
    root, admin, aws, timings, run_id = (
        base.table_location,
        config.admin_location(table),
        config.aws,
        base.timings_s,
        base.run_id,
    )
    names = base.partition_keys
    current = catalog.get_table(table.database, table.name)
    if current is not None and current.get("Parameters", {}).get("lakeloader.run_id") == run_id:
        log.warning("run %s was published by an attempt that died before recording it", run_id)
        done = replace(base, partitions=delta.snapshot_partitions(root, names, aws))
        done = record_published(done, state, table, catalog, admin, aws, track_versions=False)
        return RunSummary(done, manifests.manifest_uri(admin, run_id), "recovered")
    planned = planned_delta_columns(catalog, table, columns, keys)  # schema problems fail before writing
    before = delta.delta_version(root, aws, missing_ok=True)
    # A first load may go into a folder holding files lakeloader never wrote (a custom `location`):
    # a failed one removes only what appeared since.
    existing = storage.entries(root, aws) if before < 0 else {}
    uri_m = manifests.save(replace(base, status="writing"), admin, aws)
    plan = plan_layout(names, table.target_file_mb, table.max_records_per_file)
    with stage("write", timings):
        lease.check()  # the Delta commit publishes to Athena
        observed, result = observe_input(df, inp.bad, names, unparsed_conditions(table.partitions))
        out = apply_layout(good_rows(observed, inp.bad), plan)
        delta.write_delta(
            out, spark_uri(spark, root), names, table.mode, table.compression, plan.max_records_per_file,
            table.schema_evolution,
        )  # fmt: skip
        seen = result()
    failpoint("after-write")
    try:
        written = WriteResult(seen.rows_read, seen.bad_rows, seen.bad_files, (), seen.unparsed)
        quarantine = quarantine_bad_rows(spark, table, inp, written, admin, run_id, where, timings)
        if seen.rows_written == 0:
            raise InputError(f"{base.input_uri}: no rows to load ({seen.bad_rows} malformed rows)")
        m = replace(
            base, status="staged", partitions=delta.snapshot_partitions(root, names, aws), rows_read=seen.rows_read,
            rows_written=seen.rows_written, bad_rows=seen.bad_rows, quarantine_location=quarantine,
        )  # fmt: skip
        manifests.save(m, admin, aws)
        lease.check()
        m, report = audit_staged(
            config, catalog, table, planned, keys, m, uri_m, state, "; the Delta table was restored", True
        )
        with stage("register", timings):
            lease.check()
            params = {"lakeloader.run_id": run_id, "lakeloader.delta_version": str(delta.delta_version(root, aws))}
            ensure_delta_table(catalog, table, columns, keys, root, params)
    except BaseException:
        log.warning("run %s failed; restoring the Delta table to version %d (-1: none)", run_id, before)
        if before >= 0:
            delta.restore_delta(spark, root, before, aws)
        else:
            storage.remove_new(root, existing, aws)
        raise
    m = record_published(replace(m, timings_s=timings), state, table, catalog, admin, aws, track_versions=False)
    return RunSummary(m, uri_m, "published", None, report)
