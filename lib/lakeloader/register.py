"""Register a run in the catalog: table definition (with schema evolution) and partition locations."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from lakeloader.catalog.base import Catalog
from lakeloader.catalog.tables import (
    Column,
    delta_table_input,
    is_delta_table,
    is_projection_parameter,
    partition_input,
    projection_parameters,
    table_input,
)
from lakeloader.config import TableConfig
from lakeloader.errors import SchemaError
from lakeloader.manifest import PartitionStats

log = logging.getLogger(__name__)

# The schema Spark's Hive catalog stores for a data source table Hive cannot read (a `USING delta`
# table): one `col array<string>` column, per Athena's "Synchronize Delta Lake metadata".
SPARK_PLACEHOLDER_COLUMNS = [("col", "array<string>")]


@dataclass(frozen=True)
class Published:
    created: int
    replaced: int
    removed: int


def evolve_columns(old: Sequence[Column], new: Sequence[Column], policy: str, table: str) -> list[Column]:
    """Columns after this run: new nullable columns appended; type changes and drops refused."""
    if policy == "overwrite":
        return [dict(c) for c in new]
    new_types = {c["Name"]: c["Type"] for c in new}
    old_names = {c["Name"] for c in old}
    for c in old:
        if c["Name"] not in new_types:
            raise SchemaError(
                f"{table}: column {c['Name']!r} ({c['Type']}) is missing from this run's input; "
                "restore it, or set schema_evolution: overwrite to drop it"
            )
        if new_types[c["Name"]] != c["Type"]:
            raise SchemaError(
                f"{table}: column {c['Name']!r} changed type from {c['Type']} to {new_types[c['Name']]}; "
                "cast it back in the input, or set schema_evolution: overwrite"
            )
    return [dict(c) for c in old] + [dict(c) for c in new if c["Name"] not in old_names]


def ensure_table(
    catalog: Catalog,
    table: TableConfig,
    columns: Sequence[Column],
    keys: Sequence[Column],
    location: str,
    symlink_root: str = "",
) -> list[Column]:
    """Create or evolve the table definition; returns the table's columns after this run.

    The partition projection properties follow the config: set, changed, or removed when it has none;
    `symlink_root` is where a projected table's partition manifests live (Config.symlink_location).
    """
    name = f"{table.database}.{table.name}"
    if table.partition_projection and not symlink_root:
        raise ValueError(f"{name}: a projected table needs the symlink root of its partition manifests")
    projection = projection_parameters(table, symlink_root)
    catalog.ensure_database(table.database)
    current = catalog.get_table(table.database, table.name)
    if current is None:
        catalog.create_table(
            table.database, table_input(table.name, columns, keys, location, projection, table.compression)
        )
        log.info("created table %s at %s", name, location)
        return list(columns)
    merged = _merged_columns(current, table, columns, keys)
    old_params = current.get("Parameters", {})
    # Parameters set elsewhere (owner, comments, ...) are kept; the projection ones are lakeloader's.
    params = {k: v for k, v in old_params.items() if not is_projection_parameter(k)}
    params.update(projection)
    if merged != current["StorageDescriptor"]["Columns"] or params != old_params:
        updated = table_input(table.name, merged, keys, location, params, table.compression)
        catalog.update_table(table.database, updated)
        log.info("updated the definition of %s", name)
    return merged


def planned_columns(
    catalog: Catalog, table: TableConfig, columns: Sequence[Column], keys: Sequence[Column]
) -> list[Column]:
    """The table's columns after this run, checked against the registered table; changes nothing."""
    current = catalog.get_table(table.database, table.name)
    return list(columns) if current is None else _merged_columns(current, table, columns, keys)


def _merged_columns(
    current: dict[str, Any], table: TableConfig, columns: Sequence[Column], keys: Sequence[Column]
) -> list[Column]:
    name = f"{table.database}.{table.name}"
    old_keys = [dict(k) for k in current.get("PartitionKeys", [])]
    if old_keys != [dict(k) for k in keys]:
        raise SchemaError(
            f"{name}: partition keys differ from the registered table "
            f"({_fmt(old_keys)} registered, {_fmt(keys)} now); a new layout needs a new table"
        )
    return evolve_columns(current["StorageDescriptor"]["Columns"], columns, table.schema_evolution, name)


def publish_partitions(
    catalog: Catalog,
    table: TableConfig,
    columns: Sequence[Column],
    partitions: Sequence[PartitionStats],
    run_id: str,
    fence: Callable[[], None] = lambda: None,
) -> Published:
    """Point each partition the run wrote at its new version; in `overwrite` mode drop the others.

    `fence` runs immediately before each catalog change (the table lock's Lease.check: it raises when
    this run no longer holds the lock, and the changes made so far are restored).

    For a projected table the catalog (a SymlinkCatalog) rewrites partition manifests instead of
    registering partitions.
    """
    existing = {tuple(p["Values"]): p for p in catalog.get_partitions(table.database, table.name)}
    inputs: list[dict[str, Any]] = [
        partition_input(p.values, p.location, columns, {"lakeloader.run_id": run_id}) for p in partitions
    ]
    written = {tuple(p.values) for p in partitions}
    removed = [list(v) for v in existing if v not in written] if table.mode == "overwrite" else []
    try:
        fence()
        catalog.put_partitions(table.database, table.name, inputs)
        if removed:
            fence()
            catalog.delete_partitions(table.database, table.name, removed)
    except BaseException:
        # Glue has no multi-partition transaction: put back what this run changed before failing.
        _restore(catalog, table, existing, written)
        raise
    replaced = sum(1 for v in written if v in existing)
    return Published(
        created=len(written) - replaced,
        replaced=replaced,
        removed=len(removed),
    )


def _restore(
    catalog: Catalog, table: TableConfig, before: dict[tuple[str, ...], dict[str, Any]], written: set[tuple[str, ...]]
) -> None:
    try:
        catalog.put_partitions(table.database, table.name, list(before.values()))
        catalog.delete_partitions(table.database, table.name, [list(v) for v in written if v not in before])
        log.warning("publish of %s.%s failed; the catalog was restored", table.database, table.name)
    except Exception as e:  # the original failure matters more; say the catalog may be mixed
        log.error("publish of %s.%s failed and restoring it failed too (%s)", table.database, table.name, e)


def planned_delta_columns(
    catalog: Catalog, table: TableConfig, columns: Sequence[Column], keys: Sequence[Column]
) -> list[Column]:
    """The Delta table's catalog columns after this run (data, then partition columns), or SchemaError.

    Call it before writing: Delta itself would accept a run that drops a column (it fills nulls), so
    the schema_evolution policy has to be applied while nothing is written yet.
    """
    return _delta_columns(catalog.get_table(table.database, table.name), table, columns, keys)


def ensure_delta_table(
    catalog: Catalog,
    table: TableConfig,
    columns: Sequence[Column],
    keys: Sequence[Column],
    location: str,
    parameters: Mapping[str, str] = (),
) -> None:
    """Create or update the Glue definition of a Delta table (no partitions: they live in the Delta log).

    Same schema-evolution policy as ensure_table; `parameters` (e.g. the run id and Delta version) are
    added to the table properties, and properties set elsewhere are kept.
    """
    name = f"{table.database}.{table.name}"
    catalog.ensure_database(table.database)
    current = catalog.get_table(table.database, table.name)
    merged = _delta_columns(current, table, columns, keys)
    wanted = delta_table_input(table.name, merged, [], location)
    wanted["Parameters"].update(parameters)
    if current is None:
        catalog.create_table(table.database, wanted)
        log.info("created Delta table %s at %s", name, location)
        return
    wanted["Parameters"] = {**current.get("Parameters", {}), **wanted["Parameters"]}
    if _delta_definition(wanted) != _delta_definition(current):
        catalog.update_table(table.database, wanted)
        log.info("updated the definition of Delta table %s", name)


def _delta_definition(t: Mapping[str, Any]) -> tuple:
    """The parts of a table definition lakeloader sets (Glue adds empty lists and the like on its own)."""
    sd = t.get("StorageDescriptor", {})
    serde = sd.get("SerdeInfo", {})
    return (
        t.get("TableType"),
        t.get("Parameters", {}),
        t.get("PartitionKeys", []),
        sd.get("Columns"),
        sd.get("Location"),
        sd.get("InputFormat"),
        sd.get("OutputFormat"),
        serde.get("SerializationLibrary"),
        serde.get("Parameters", {}),
    )


def _delta_columns(
    current: Optional[Mapping[str, Any]], table: TableConfig, columns: Sequence[Column], keys: Sequence[Column]
) -> list[Column]:
    name = f"{table.database}.{table.name}"
    new = [dict(c) for c in [*columns, *keys]]
    if current is None:
        return new
    if not is_delta_table(current):
        raise SchemaError(
            f"{name}: the catalog has it as a {current.get('Parameters', {}).get('classification', 'non-Delta')} "
            "table; format: delta needs a new table name (or drop the old table first)"
        )
    old = current["StorageDescriptor"].get("Columns") or []
    if [(c["Name"], c["Type"]) for c in old] in ([], SPARK_PLACEHOLDER_COLUMNS):
        return new  # registered by Spark (or Athena's bare CREATE): no schema to evolve from
    return evolve_columns(old, new, table.schema_evolution, name)


def _fmt(cols: Sequence[Column]) -> str:
    return ", ".join(f"{c['Name']} {c['Type']}" for c in cols) or "none"
