"""One run of a table: plan → read → partition → lay out → write → manifest → audit → register → publish.

The steps live beside it: run_id.py (the run's id), run_write.py (writing, quarantine, carry-forward),
run_record.py (audit, state object and manifest), delta_run.py (a Delta table's run), run_stage.py (timing).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace
from typing import Optional

from pyspark.sql import SparkSession

import lakeloader
from lakeloader import manifest as manifests
from lakeloader import retention, storage, versions
from lakeloader.catalog import open_catalog
from lakeloader.catalog.tables import columns_from_schema
from lakeloader.catalog.types import athena_only_columns
from lakeloader.config import Config, TableConfig, source_input
from lakeloader.delta_run import publish_delta
from lakeloader.errors import InputError, UsageError
from lakeloader.faults import failpoint
from lakeloader.layout import plan_layout
from lakeloader.listing import list_input
from lakeloader.lock import Lease, SharedLock, table_lock
from lakeloader.manifest import Manifest
from lakeloader.partitioning import add_partition_columns, check_rules
from lakeloader.register import ensure_table, planned_columns, publish_partitions
from lakeloader.run_id import RUN_ID_RE, compute_run_id
from lakeloader.run_record import audit_staged, load_table_state, published_before_a_crash, record_published
from lakeloader.run_stage import stage
from lakeloader.run_types import RunOptions, RunSummary
from lakeloader.run_write import carry_forward, check_projectable, quarantine_bad_rows, write_run
from lakeloader.session import configure_s3, require_jars
from lakeloader.source import read_input
from lakeloader.writer import WriteResult, good_rows, remove_version

log = logging.getLogger(__name__)

__all__ = ["RunOptions", "RunSummary", "run_table"]


def run_table(
    spark: SparkSession, config: Config, table_name: str, opts: RunOptions, held: Optional[SharedLock] = None
) -> RunSummary:
    """Load one table's input into the lake and publish it in the catalog.

    `held`: the table's lock, held by a batch running several dates at once (`backfill --parallel`);
    this run then publishes under the batch's lease, one run at a time, instead of taking the lock.
    """
    table = config.table(table_name)
    if opts.mode:
        table = replace(table, mode=opts.mode)
    if opts.run_id is not None and not RUN_ID_RE.match(opts.run_id):
        raise UsageError(f"--run-id {opts.run_id!r}: use letters, digits, '.', '_' and '-' (at most 100)")
    where = f"{config.source_file}: tables.{table.name}"
    uri = source_input(table.source, opts.input_uri, opts.run_date)
    root, admin, aws = config.table_location(table), config.admin_location(table), config.aws
    timings: dict[str, float] = {}
    configure_s3(spark, aws)

    with stage("plan", timings):
        require_jars(spark, config, table, uri)  # a missing jar is one line here, not a Java trace mid-write
        inp = read_input(spark, table.source, uri, opts.run_date, where)
        listing = list_input(inp.df, inp.shown)  # Spark's own listing of the read, fingerprinted in one job
        check_rules(inp.df.schema, table.partitions, where)
        df = add_partition_columns(inp.df, table.partitions)
        run_id = opts.run_id or compute_run_id(table, opts.run_date, listing)
        names = [r.name for r in table.partitions]
        data_schema = good_rows(df, inp.bad).schema
        columns, keys = columns_from_schema(data_schema, names)  # fails early on types Athena can't read
        if spectrum_only := athena_only_columns(columns + keys):
            log.warning(
                "columns %s: Athena reads their types, Redshift Spectrum may not (docs/spectrum.md)", spectrum_only
            )
        if table.partition_projection:
            log.info(
                "partition projection: partitions are published as manifests under %s, not registered; "
                "Athena and lakeloader read them, Redshift Spectrum and Spark (Glue metastore) do not",
                config.symlink_location(table),
            )
        catalog = open_catalog(config)
    base = Manifest(
        run_id=run_id,
        database=table.database,
        table=table.name,
        mode=table.mode,
        run_date=opts.run_date.isoformat(),
        status="planned",
        table_location=root,
        partition_keys=names,
        schema=columns + keys,
        partitions=[],
        input_uri=uri,
        input_files=listing.files,
        input_bytes=listing.bytes,
        rows_read=0,
        rows_written=0,
        bad_rows=0,
        quarantine_location=None,
        timings_s=timings,
        code_version=lakeloader.__version__,
        created_at=dt.datetime.now(dt.UTC).isoformat(),
    )
    if opts.dry_run:
        return RunSummary(base, None, "dry-run")
    with _holding(catalog, table, run_id, admin, config, held) as (lease, publishing, writing):
        done = manifests.load(admin, run_id, aws)
        with publishing:  # the table's state is read and advanced by one run of the table at a time
            # Whatever this run's outcome (a no-op rerun too), versions superseded retain_for ago go now.
            current = retention.prune(load_table_state(admin, table, aws), admin, table, catalog, aws).state
            if done is not None and done.status == "published":
                log.info("run %s is already published; nothing to do", run_id)
                return RunSummary(done, manifests.manifest_uri(admin, run_id), "already-published")
            if table.format == "delta":
                return publish_delta(spark, config, table, inp, df, base, columns, keys, catalog, where, current, lease)
            if done is not None and published_before_a_crash(catalog, table, done):
                log.warning("run %s was published by an attempt that died before recording it", run_id)
                done = record_published(done, current, table, catalog, admin, aws)
                return RunSummary(done, manifests.manifest_uri(admin, run_id), "recovered")
        # Every attempt writes its own version directories: a killed attempt's files are never reused.
        attempt = done.attempt + 1 if done is not None else 1
        version = run_id if attempt == 1 else f"{run_id}.{attempt}"
        uri_m = manifests.save(replace(base, status="writing", attempt=attempt), admin, aws)
        # A killed Spark job's leftovers; we hold the lock. A batch holding it for parallel runs did this
        # once before starting them (here it would abort a sibling run's uploads).
        if held is None and (aborted := storage.clear_interrupted_write(root, aws)):
            log.info("aborted %d multipart uploads an interrupted write left under %s", aborted, root)
        versions.remove_abandoned_attempts(root, run_id, attempt, catalog, table, aws)

        plan = plan_layout(names, table.target_file_mb, table.max_records_per_file)
        failpoint("before-write")
        with writing, stage("write", timings):
            written = write_run(df, inp, root, plan, version, table, f"{where}.source ({uri})", aws, listing.bytes)
        timings["statistics (part of write)"] = written.stats_seconds
        failpoint("after-write")
        with _removed_on_failure(run_id, root, written, aws):
            quarantine = quarantine_bad_rows(spark, table, inp, written, admin, run_id, where, timings)
            if written.rows_written == 0:
                raise InputError(f"{uri}: no rows to load ({written.bad_rows} malformed rows); nothing was published")
            check_projectable(table, written, where)
        # From here the table's state is read, audited against and advanced: one run of the table at a time.
        with publishing:
            current = load_table_state(admin, table, aws)
            with _removed_on_failure(run_id, root, written, aws):
                existing = catalog.get_partitions(table.database, table.name) if table.mode == "append" else []
                # The rows the write job counted while writing, which the staged files' statistics must add
                # up to; partitions carried forward also hold earlier runs' rows, so the audit then queries.
                counted: Optional[int] = written.rows_read - written.bad_rows
                if existing:
                    with stage("carry forward (append)", timings):
                        written, counted = carry_forward(spark, written, existing, root, names, version, aws), None
                m = replace(
                    base,
                    status="staged",
                    attempt=attempt,
                    partitions=list(written.partitions),
                    rows_read=written.rows_read,
                    rows_written=written.rows_written,
                    bad_rows=written.bad_rows,
                    quarantine_location=quarantine,
                )
                manifests.save(m, admin, aws)
                table_columns = planned_columns(catalog, table, columns, keys)
                lease.check()  # the audit's staging table is a catalog change too
                m, report = audit_staged(
                    config, catalog, table, table_columns, keys, m, uri_m, current, ", nothing was published",
                    counted_rows=counted,
                )  # fmt: skip
                failpoint("after-audit")
                with stage("register", timings):
                    lease.check()  # a run whose lease ran out (a stall) or was taken over publishes nothing
                    table_columns = ensure_table(catalog, table, columns, keys, root, config.symlink_location(table))
                    published = publish_partitions(
                        catalog, table, table_columns, written.partitions, run_id, fence=lease.check
                    )
            failpoint("after-publish")
            m = record_published(replace(m, timings_s=timings), current, table, catalog, admin, aws)
        symlinks = config.symlink_location(table) if table.partition_projection else None
        return RunSummary(m, uri_m, "published", published, report, symlinks)


@contextmanager
def _holding(
    catalog,  # noqa: ANN001
    table: TableConfig,
    run_id: str,
    admin: str,
    config: Config,
    held: Optional[SharedLock],
) -> Iterator[tuple[Lease, AbstractContextManager, AbstractContextManager]]:
    """The table's lease and what serializes publishing and writing: the batch's when it holds the lock."""
    if held is not None:
        yield held.lease, held.publishing, held.writing
        return
    with table_lock(catalog, table.database, table.name, run_id, admin, config.lock) as lease:
        yield lease, nullcontext(), nullcontext()


@contextmanager
def _removed_on_failure(run_id: str, root: str, written: WriteResult, aws) -> Iterator[None]:  # noqa: ANN001
    try:
        yield
    except BaseException:
        log.warning("run %s failed before publishing; removing its files", run_id)
        remove_version(root, written.partitions, aws)
        raise
