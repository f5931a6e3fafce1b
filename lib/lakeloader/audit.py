"""Audit a staged run before it is published (write-audit-publish).

The run's version directories are registered as partitions of a temporary staging table in the
same catalog, so the configured engine (DuckDB locally, Athena on AWS) checks exactly the staged
data; the real table is not touched until the audit passes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Optional

from lakeloader import stat_checks
from lakeloader.catalog.base import Catalog
from lakeloader.catalog.tables import Column, delta_table_input, partition_input, table_input
from lakeloader.config import TableConfig
from lakeloader.manifest import Manifest
from lakeloader.query.base import QueryEngine
from lakeloader.validate import Report, validate

log = logging.getLogger(__name__)
STAGING_SUFFIX = "__lakeloader_staging"


def staging_table_name(table: str) -> str:
    """The staging table's name for a table (one at a time: runs of a table do not overlap)."""
    return f"{table}{STAGING_SUFFIX}"


def audit_run(
    catalog: Catalog,
    engine: QueryEngine,
    table: TableConfig,
    columns: Sequence[Column],
    keys: Sequence[Column],
    manifest: Manifest,
    previous: Optional[Manifest] = None,
    delta: bool = False,
    counted_rows: Optional[int] = None,
) -> Report:
    """Run the table's checks and the manifest reconciliation on the staged partitions only.

    A Delta table has no staged partitions: its staging table reads the table's current log version.
    With `counted_rows` (the rows the write job counted) the run's statistics answer what they answer
    exactly (stat_checks.py); when they answer every check, no staging table is made and no data read.
    """
    name = staging_table_name(table.name)
    if counted_rows is not None and not delta and not stat_checks.unanswered(table.checks, manifest):
        log.info("audit: the run's statistics answer every check; no data file is read")
        return validate(engine, catalog, table, manifest, previous, relation=name, counted_rows=counted_rows)
    catalog.ensure_database(table.database)
    catalog.delete_table(table.database, name)  # a killed run may have left one behind
    if delta:
        catalog.create_table(table.database, delta_table_input(name, columns, keys, manifest.table_location))
    else:
        catalog.create_table(table.database, table_input(name, columns, keys, manifest.table_location))
    try:
        if not delta:
            staged = [partition_input(p.values, p.location, columns) for p in manifest.partitions]
            catalog.put_partitions(table.database, name, staged)
        return validate(engine, catalog, table, manifest, previous, relation=name, counted_rows=counted_rows)
    finally:
        catalog.delete_table(table.database, name)
