"""What a run records: its audit report, the table's state object and the run's manifest, in a safe order."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Optional

from lakeloader import manifest as manifests
from lakeloader import retention
from lakeloader import state as table_state
from lakeloader.audit import audit_run
from lakeloader.config import Config, TableConfig
from lakeloader.errors import ChecksFailed
from lakeloader.manifest import Manifest
from lakeloader.query import open_engine
from lakeloader.run_stage import stage
from lakeloader.state import TableState
from lakeloader.validate import Report

log = logging.getLogger(__name__)


def audit_staged(
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
    counted_rows: Optional[int] = None,
) -> tuple[Manifest, Report]:
    """Audit the staged run and record the report; ChecksFailed (saying `on_failure`) when it fails.

    `counted_rows`: the rows the write job counted, which lets the run's statistics answer (audit_run).
    """
    admin, aws = config.admin_location(table), config.aws
    with stage("audit", m.timings_s):
        previous = manifests.load(admin, current.latest, aws) if current.latest else None
        engine = open_engine(config, catalog)
        report = audit_run(catalog, engine, table, columns, keys, m, previous, delta_table, counted_rows)
    m = replace(m, audit=report.to_dict())
    if report.failed:
        manifests.save(replace(m, status="audit-failed"), admin, aws)
        raise ChecksFailed(
            f"{table.database}.{table.name}: audit of run {m.run_id} failed{on_failure}: "
            f"{report.failure_summary()} (report in {uri_m})"
        )
    return m, report


def load_table_state(admin: str, table: TableConfig, aws) -> TableState:  # noqa: ANN001
    """The table's state object; a table from before state objects gets its own, saved now (the upgrade)."""
    current, rebuilt = table_state.current(admin, table.retain_versions, aws)
    if rebuilt and current.latest is not None:
        table_state.save(current, admin, aws)
        log.info("%s.%s: saved its state object (upgrade from per-run manifests only)", table.database, table.name)
    return current


def record_published(
    m: Manifest,
    current: TableState,
    table: TableConfig,
    catalog,  # noqa: ANN001
    admin: str,
    aws,  # noqa: ANN001
    track_versions: bool = True,
) -> Manifest:
    """Record a run whose partitions the catalog now serves: state object first, then the manifest; prune.

    In this order a crash leaves a manifest saying `staged` for a run the state already names, which
    the rerun recovers (advancing the state again changes nothing); never the reverse. The versions it
    supersedes wait `retain_for` (with 0 they go now, once the state no longer names them as kept).
    """
    now = retention.utcnow()
    after = table_state.advance(current, m, table.retain_versions, now.isoformat(), track_versions)
    retention.prune(after, admin, table, catalog, aws, now, unsaved=True)
    m = replace(m, status="published")
    manifests.save(m, admin, aws)
    return m


def published_before_a_crash(catalog, table: TableConfig, m: Manifest) -> bool:  # noqa: ANN001
    """True when every partition of a staged run is already live: only publish makes them so."""
    if m.status != "staged" or not m.partitions:
        return False
    live = {tuple(p["Values"]): p["StorageDescriptor"]["Location"] for p in catalog.get_partitions(m.database, m.table)}
    return all(live.get(tuple(p.values)) == p.location for p in m.partitions)
