"""Typed, validated settings from conf/<env>.yaml plus command-line overrides.

The YAML is turned into frozen dataclasses once, at start-up. Every problem is a ConfigError
naming the file and the key path (``tables.events.partitions[1].transform``).

- sections.py: the dataclass of each section (the schema)
- builder.py: the generic validating builder (YAML mapping -> dataclass, by type hints)
- tables.py: the rules across a table's keys (partitions, checks, partition projection)
- schedule.py: the rules of the `schedule:` section
- here: reading the file, `--set` overrides, and the whole config put together
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Optional, Union

import yaml

from lakeloader.config.builder import build, suggest
from lakeloader.config.schedule import validate_schedule
from lakeloader.config.sections import (
    BUCKET_RE,
    DEFAULT_INSTANCE_GROUPS,
    DEFAULT_PROJECTION_DATE_FORMAT,
    NAME_RE,
    NOW_RE,
    TRANSFORM_DATE_FORMATS,
    TRANSFORMS,
    AwsConfig,
    CatalogConfig,
    CheckConfig,
    Config,
    EmrConfig,
    InstanceFleetConfig,
    InstanceGroupConfig,
    LockConfig,
    PartitionRule,
    ProjectionConfig,
    QueryConfig,
    ScheduleConfig,
    SourceConfig,
    TableConfig,
    TableScheduleConfig,
)
from lakeloader.config.tables import (
    java_date_pattern,
    render_source_path,
    resolve_input,
    source_input,
    validate_table,
)
from lakeloader.errors import ConfigError

__all__ = [
    "BUCKET_RE",
    "DEFAULT_INSTANCE_GROUPS",
    "DEFAULT_PROJECTION_DATE_FORMAT",
    "NAME_RE",
    "NOW_RE",
    "TRANSFORMS",
    "TRANSFORM_DATE_FORMATS",
    "AwsConfig",
    "CatalogConfig",
    "CheckConfig",
    "Config",
    "EmrConfig",
    "InstanceFleetConfig",
    "InstanceGroupConfig",
    "LockConfig",
    "PartitionRule",
    "ProjectionConfig",
    "QueryConfig",
    "ScheduleConfig",
    "SourceConfig",
    "TableConfig",
    "TableScheduleConfig",
    "java_date_pattern",
    "load_config",
    "parse_config",
    "render_source_path",
    "resolve_input",
    "source_input",
    "suggest",
]


def load_config(path: Union[str, os.PathLike], overrides: Optional[list[str]] = None) -> Config:
    """Read, override and validate a config file; raise ConfigError naming file and key."""
    src = str(path)
    try:
        text = Path(src).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{src}: file not found") from None
    except OSError as e:
        raise ConfigError(f"{src}: cannot read ({e.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{src}{where}: malformed YAML: {problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{src}: expected a mapping at the top level, got {type(raw).__name__}")
    for item in overrides or []:
        _apply_override(raw, item, src)
    return parse_config(raw, src)


def parse_config(raw: dict[str, Any], source_file: str = "<config>") -> Config:
    """Validate an already-parsed config mapping."""
    raw = dict(raw)
    tables_raw = raw.pop("tables", None)
    if not isinstance(tables_raw, dict) or not tables_raw:
        raise ConfigError(f"{source_file}: 'tables' must be a mapping with at least one table")
    tables = {}
    for name, body in tables_raw.items():
        key = f"tables.{name}"
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ConfigError(
                f"{source_file}: {key}: table names are lowercase letters, digits and '_' (Glue lowercases them)"
            )
        if not isinstance(body, dict):
            raise ConfigError(f"{source_file}: {key}: expected a mapping")
        tables[name] = build(TableConfig, {**body, "name": name}, key, source_file)
    raw["tables"] = {}
    raw["source_file"] = source_file
    if "warehouse" not in raw:
        raise ConfigError(f"{source_file}: missing required key 'warehouse'")
    cfg = build(Config, raw, "", source_file)
    cfg = dataclasses.replace(cfg, tables=tables, warehouse=_normalize_warehouse(cfg.warehouse, source_file))
    if cfg.catalog.kind == "local":
        cfg = dataclasses.replace(
            cfg, catalog=dataclasses.replace(cfg.catalog, path=os.path.abspath(os.path.expanduser(cfg.catalog.path)))
        )
    if cfg.catalog.max_in_flight < 1:
        raise ConfigError(f"{source_file}: catalog.max_in_flight: must be at least 1")
    if cfg.query.engine == "athena" and cfg.catalog.kind != "glue":
        # Athena reads only the Glue catalog: with a local one it would never see a table lakeloader registers.
        raise ConfigError(
            f"{source_file}: query.engine: athena reads the Glue catalog, but catalog.kind is {cfg.catalog.kind}; "
            "set catalog.kind: glue, or query.engine: duckdb"
        )
    if not cfg.lock.ttl_s > 0:
        raise ConfigError(f"{source_file}: lock.ttl_s: must be more than 0 seconds (the lease a run renews)")
    if cfg.lock.wait_s < 0:
        raise ConfigError(f"{source_file}: lock.wait_s: must be 0 or more seconds")
    for table in tables.values():
        validate_table(table, f"tables.{table.name}", source_file)
    validate_schedule(cfg.schedule, tables, source_file)
    return cfg


def _normalize_warehouse(value: str, src: str) -> str:
    if value.startswith(("s3://", "s3a://", "s3n://")):
        return "s3://" + value.split("://", 1)[1].rstrip("/")  # the catalog always records s3://
    if value.startswith("hdfs://"):
        return value.rstrip("/")
    if value.startswith("file://"):
        value = value[len("file://") :]
    elif "://" in value:
        raise ConfigError(f"{src}: warehouse: {value!r}: use a local path, file://, or s3://bucket/prefix")
    return "file://" + os.path.abspath(os.path.expanduser(value))


def _apply_override(raw: dict[str, Any], item: str, src: str) -> None:
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. tables.events.mode=append")
    dotted, value = item.split("=", 1)
    node = raw
    parts = dotted.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {item!r}: {p!r} in {src} is not a mapping")
    node[parts[-1]] = yaml.safe_load(value)
