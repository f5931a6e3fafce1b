"""One run of a table: plan → read → partition → lay out → write → manifest → audit → register → publish."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Optional
from urllib.parse import unquote

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import lakeloader
from lakeloader import delta, spark_errors, storage, versions
from lakeloader import manifest as manifests
from lakeloader import state as table_state
from lakeloader.audit import audit_run
from lakeloader.catalog import open_catalog
from lakeloader.catalog.tables import columns_from_schema
from lakeloader.catalog.types import athena_only_columns
from lakeloader.config import Config, TableConfig, resolve_input
from lakeloader.errors import ChecksFailed, InputError, UsageError
from lakeloader.faults import failpoint
from lakeloader.hive import HIVE_DEFAULT_PARTITION
from lakeloader.layout import apply_layout, plan_layout
from lakeloader.listing import Listing, list_input
from lakeloader.lock import table_lock
from lakeloader.manifest import Manifest
from lakeloader.partitioning import add_partition_columns, check_rules, unparsed_conditions
from lakeloader.projection import unreachable
from lakeloader.query import open_engine
from lakeloader.register import (
    Published,
    ensure_delta_table,
    ensure_table,
    planned_columns,
    planned_delta_columns,
    publish_partitions,
)
from lakeloader.session import configure_s3, require_jars, spark_uri
from lakeloader.source import CORRUPT, SOURCE_FILE, Input, read_source
from lakeloader.state import TableState
from lakeloader.validate import Report
from lakeloader.writer import (
    WriteResult,
    good_rows,
    observe_input,
    partition_stats,
    remove_version,
    write_version,
)

log = logging.getLogger(__name__)
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


@dataclass(frozen=True)
class RunOptions:
    run_date: dt.date
    input_uri: Optional[str] = None
    run_id: Optional[str] = None
    mode: Optional[str] = None
    dry_run: bool = False


@dataclass(frozen=True)
class RunSummary:
    manifest: Manifest
    manifest_uri: Optional[str]
    outcome: str  # published | already-published | recovered | dry-run
    published: Optional[Published] = None
    audit: Optional[Report] = None
    symlink_location: Optional[str] = None  # a projected table's partition manifests


def compute_run_id(table: TableConfig, run_date: dt.date, listing: Listing) -> str:
    """Deterministic from the table's settings, the run date and the input listing's fingerprint."""
    h = hashlib.sha256()
    h.update(config_fingerprint(table).encode())
    h.update(run_date.isoformat().encode())
    h.update(listing.fingerprint.encode())
    return f"{run_date:%Y%m%d}-{h.hexdigest()[:12]}"


# Settings that decide nothing about the data a run writes: the audit's checks and how many old versions
# are kept. Editing them must keep a rerun of the same input the promised no-op.
_NOT_DATA_SETTINGS = ("checks", "retain_versions")


def config_fingerprint(table: TableConfig) -> str:
    """The table settings that decide the data a run writes (and so its run id), as stable text."""
    settings = {k: v for k, v in asdict(table).items() if k not in _NOT_DATA_SETTINGS}
    return json.dumps(settings, sort_keys=True, default=str)


@contextmanager
def _stage(name: str, timings: dict[str, float]) -> Iterator[None]:
    log.info("%s ...", name)
    t = time.monotonic()
    yield
    timings[name] = round(time.monotonic() - t, 3)
    log.info("%s done in %.1f s", name, timings[name])


def run_table(spark: SparkSession, config: Config, table_name: str, opts: RunOptions) -> RunSummary:
    """Load one table's input into the lake and publish it in the catalog."""
    table = config.table(table_name)
    if opts.mode:
        table = replace(table, mode=opts.mode)
    if opts.run_id is not None and not RUN_ID_RE.match(opts.run_id):
        raise UsageError(f"--run-id {opts.run_id!r}: use letters, digits, '.', '_' and '-' (at most 100)")
    where = f"{config.source_file}: tables.{table.name}"
    uri = resolve_input(table.source.path, opts.input_uri, opts.run_date)
    root, admin, aws = config.table_location(table), config.admin_location(table), config.aws
    timings: dict[str, float] = {}
    configure_s3(spark, aws)

    with _stage("plan", timings):
        require_jars(spark, config, table, uri)  # a missing jar is one line here, not a Java trace mid-write
        inp = read_source(spark, table.source, [uri], where)
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
        created_at=dt.datetime.now(dt.timezone.utc).isoformat(),
    )
    if opts.dry_run:
        return RunSummary(base, None, "dry-run")
    with table_lock(catalog, table.database, table.name, run_id, admin, config.lock):
        current = _table_state(admin, table, aws)
        done = manifests.load(admin, run_id, aws)
        if done is not None and done.status == "published":
            log.info("run %s is already published; nothing to do", run_id)
            return RunSummary(done, manifests.manifest_uri(admin, run_id), "already-published")
        if table.format == "delta":
            return _publish_delta(spark, config, table, inp, df, base, columns, keys, catalog, where, current)
        if done is not None and _published_before_a_crash(catalog, table, done):
            log.warning("run %s was published by an attempt that died before recording it", run_id)
            done = _record_published(done, current, table, admin, aws)
            return RunSummary(done, manifests.manifest_uri(admin, run_id), "recovered")
        # Every attempt writes its own version directories: a killed attempt's files are never reused.
        attempt = done.attempt + 1 if done is not None else 1
        version = run_id if attempt == 1 else f"{run_id}.{attempt}"
        uri_m = manifests.save(replace(base, status="writing", attempt=attempt), admin, aws)
        if aborted := storage.clear_interrupted_write(root, aws):  # a killed Spark job's; we hold the lock
            log.info("aborted %d multipart uploads an interrupted write left under %s", aborted, root)
        versions.remove_abandoned_attempts(root, run_id, attempt, catalog, table, aws)

        plan = plan_layout(names, table.target_file_mb, table.max_records_per_file)
        with _stage("write", timings):
            written = _write(df, inp, root, plan, version, table, f"{where}.source ({uri})", aws)
        timings["statistics (part of write)"] = written.stats_seconds
        failpoint("after-write")
        try:
            quarantine = _handle_bad_rows(spark, table, inp, written, admin, run_id, where, timings)
            if written.rows_written == 0:
                raise InputError(f"{uri}: no rows to load ({written.bad_rows} malformed rows); nothing was published")
            _check_projectable(table, written, where)
            existing = catalog.get_partitions(table.database, table.name) if table.mode == "append" else []
            if existing:
                with _stage("carry forward (append)", timings):
                    written = _carry_forward(written, existing, root, names, version, aws)
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
            m, report = _audit(
                config, catalog, table, table_columns, keys, m, uri_m, current, ", nothing was published"
            )
            failpoint("after-audit")
            with _stage("register", timings):
                table_columns = ensure_table(catalog, table, columns, keys, root, config.symlink_location(table))
                published = publish_partitions(catalog, table, table_columns, written.partitions, run_id)
        except BaseException:
            log.warning("run %s failed before publishing; removing its files", run_id)
            remove_version(root, written.partitions, aws)
            raise
        failpoint("after-publish")
        m = _record_published(replace(m, timings_s=timings), current, table, admin, aws)
        symlinks = config.symlink_location(table) if table.partition_projection else None
        return RunSummary(m, uri_m, "published", published, report, symlinks)


def _publish_delta(
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
) -> RunSummary:
    """Delta output: one transactional write to the table root, audited, then registered.

    Delta's own log makes the write atomic; Athena reads the log directly, so the new version is
    visible from its commit. A failed audit restores the previous log version (not strict WAP).
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
        done = _record_published(done, state, table, admin, aws, track_versions=False)
        return RunSummary(done, manifests.manifest_uri(admin, run_id), "recovered")
    planned = planned_delta_columns(catalog, table, columns, keys)  # schema problems fail before writing
    before = delta.delta_version(root, aws, missing_ok=True)
    # A first load may go into a folder holding files lakeloader never wrote (a custom `location`):
    # a failed one removes only what appeared since.
    existing = storage.entries(root, aws) if before < 0 else {}
    uri_m = manifests.save(replace(base, status="writing"), admin, aws)
    plan = plan_layout(names, table.target_file_mb, table.max_records_per_file)
    with _stage("write", timings):
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
        quarantine = _handle_bad_rows(spark, table, inp, written, admin, run_id, where, timings)
        if seen.rows_written == 0:
            raise InputError(f"{base.input_uri}: no rows to load ({seen.bad_rows} malformed rows)")
        m = replace(
            base, status="staged", partitions=delta.snapshot_partitions(root, names, aws), rows_read=seen.rows_read,
            rows_written=seen.rows_written, bad_rows=seen.bad_rows, quarantine_location=quarantine,
        )  # fmt: skip
        manifests.save(m, admin, aws)
        m, report = _audit(
            config, catalog, table, planned, keys, m, uri_m, state, "; the Delta table was restored", True
        )
        with _stage("register", timings):
            params = {"lakeloader.run_id": run_id, "lakeloader.delta_version": str(delta.delta_version(root, aws))}
            ensure_delta_table(catalog, table, columns, keys, root, params)
    except BaseException:
        log.warning("run %s failed; restoring the Delta table to version %d (-1: none)", run_id, before)
        if before >= 0:
            delta.restore_delta(spark, root, before, aws)
        else:
            storage.remove_new(root, existing, aws)
        raise
    m = _record_published(replace(m, timings_s=timings), state, table, admin, aws, track_versions=False)
    return RunSummary(m, uri_m, "published", None, report)


def _audit(
    config: Config,
    catalog,  # noqa: ANN001
    table: TableConfig,
    columns: list,
    keys: list,
    m: Manifest,
    uri_m: str,
    current: TableState,
    on_failure: str,
    delta_table: bool = False,
) -> tuple[Manifest, Report]:
    """Audit the staged run and record the report; ChecksFailed (saying `on_failure`) when it fails."""
    admin, aws = config.admin_location(table), config.aws
    with _stage("audit", m.timings_s):
        previous = manifests.load(admin, current.latest, aws) if current.latest else None
        engine = open_engine(config, catalog)
        report = audit_run(catalog, engine, table, columns, keys, m, previous, delta=delta_table)
    m = replace(m, audit=report.to_dict())
    if report.failed:
        manifests.save(replace(m, status="audit-failed"), admin, aws)
        raise ChecksFailed(
            f"{table.database}.{table.name}: audit of run {m.run_id} failed{on_failure}: "
            f"{report.failure_summary()} (report in {uri_m})"
        )
    return m, report


def _table_state(admin: str, table: TableConfig, aws) -> TableState:  # noqa: ANN001
    """The table's state object; a table from before state objects gets its own, saved now (the upgrade)."""
    current, rebuilt = table_state.current(admin, table.retain_versions, aws)
    if rebuilt and current.latest is not None:
        table_state.save(current, admin, aws)
        log.info("%s.%s: saved its state object (upgrade from per-run manifests only)", table.database, table.name)
    return current


def _record_published(
    m: Manifest,
    current: TableState,
    table: TableConfig,
    admin: str,
    aws,  # noqa: ANN001
    track_versions: bool = True,
) -> Manifest:
    """Record a run whose partitions the catalog now serves: state object first, then the manifest; prune.

    In this order a crash leaves a manifest saying `staged` for a run the state already names, which
    the rerun recovers (advancing the state again changes nothing); never the reverse.
    """
    after, doomed = table_state.advance(current, m, table.retain_versions, track_versions)
    table_state.save(after, admin, aws)
    m = replace(m, status="published")
    manifests.save(m, admin, aws)
    versions.remove_versions(doomed, table.retain_versions, aws)
    return m


def _check_projectable(table: TableConfig, written: WriteResult, where: str) -> None:
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


def _published_before_a_crash(catalog, table: TableConfig, m: Manifest) -> bool:  # noqa: ANN001
    """True when every partition of a staged run is already live: only publish makes them so."""
    if m.status != "staged" or not m.partitions:
        return False
    live = {tuple(p["Values"]): p["StorageDescriptor"]["Location"] for p in catalog.get_partitions(m.database, m.table)}
    return all(live.get(tuple(p.values)) == p.location for p in m.partitions)


def _write(df, inp: Input, root: str, plan, version: str, table: TableConfig, where: str, aws) -> WriteResult:  # noqa: ANN001
    try:
        result = write_version(
            df, inp.bad, root, plan, version, table.compression, aws, unparsed_conditions(table.partitions)
        )
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
        if spark_errors.input_file_vanished(chain):
            raise InputError(
                f"{where}: an input file vanished during the run; rerun when the input is stable"
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


def _handle_bad_rows(
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
    with _stage("quarantine", timings):
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


def _carry_forward(
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
    fresh = {tuple(p.values): p for p in partition_stats(root, names, touched, version, aws)}
    merged = tuple(fresh.get(tuple(p.values), p) for p in written.partitions)
    return replace(written, partitions=merged)
