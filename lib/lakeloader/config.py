"""Typed, validated settings from conf/<env>.yaml plus command-line overrides.

The YAML is turned into frozen dataclasses once, at start-up. Every problem is a ConfigError
naming the file and the key path (``tables.events.partitions[1].transform``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml

from lakeloader.errors import ConfigError

TRANSFORMS = ("date", "hour", "month", "year")
BUCKET_RE = re.compile(r"^bucket:([1-9][0-9]*)$")
NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class AwsConfig:
    region: str = "us-east-1"
    endpoint_url: Optional[str] = None
    profile: Optional[str] = None
    retry_mode: Literal["standard", "adaptive"] = "standard"
    max_attempts: int = 10


@dataclass(frozen=True)
class CatalogConfig:
    kind: Literal["local", "glue"] = "local"
    path: str = ".lakeloader/catalog.sqlite"
    catalog_id: Optional[str] = None
    max_in_flight: int = 16


@dataclass(frozen=True)
class QueryConfig:
    engine: Literal["duckdb", "athena"] = "duckdb"
    workgroup: str = "primary"
    output_location: Optional[str] = None
    timeout_s: float = 600.0


@dataclass(frozen=True)
class SourceConfig:
    path: str
    format: Literal["parquet", "orc", "csv", "json", "text"]
    options: dict[str, Any] = field(default_factory=dict)
    schema: Optional[str] = None
    on_bad_records: Literal["fail", "quarantine", "drop"] = "fail"


@dataclass(frozen=True)
class PartitionRule:
    name: str
    from_: Optional[str] = None
    transform: Optional[str] = None

    @property
    def source_column(self) -> str:
        """The input column this partition value is derived from."""
        return self.from_ or self.name

    @property
    def buckets(self) -> Optional[int]:
        """N for a `bucket:N` transform, else None."""
        m = BUCKET_RE.match(self.transform or "")
        return int(m.group(1)) if m else None


@dataclass(frozen=True)
class CheckConfig:
    kind: Literal["not_null", "unique", "accepted_values", "range", "row_count_change"]
    column: Optional[str] = None
    columns: Optional[list[str]] = None
    values: Optional[list[Any]] = None
    min: Optional[float] = None
    max: Optional[float] = None
    max_pct: Optional[float] = None
    severity: Literal["error", "warn"] = "error"

    @property
    def key_columns(self) -> list[str]:
        """Columns a check looks at (`columns` for unique, else `column`)."""
        return list(self.columns) if self.columns else ([self.column] if self.column else [])


@dataclass(frozen=True)
class TableConfig:
    name: str
    database: str
    source: SourceConfig
    partitions: list[PartitionRule]
    mode: Literal["append", "overwrite_partitions", "overwrite"] = "overwrite_partitions"
    format: Literal["parquet", "delta"] = "parquet"
    compression: Literal["snappy", "zstd", "gzip", "none"] = "snappy"
    target_file_mb: int = 256
    max_records_per_file: int = 0
    schema_evolution: Literal["append", "overwrite"] = "append"
    location: Optional[str] = None
    checks: list[CheckConfig] = field(default_factory=list)


@dataclass(frozen=True)
class Config:
    source_file: str
    warehouse: str
    tables: dict[str, TableConfig]
    catalog: CatalogConfig = field(default_factory=CatalogConfig)
    query: QueryConfig = field(default_factory=QueryConfig)
    aws: AwsConfig = field(default_factory=AwsConfig)
    spark: dict[str, str] = field(default_factory=dict)

    def table(self, name: str) -> TableConfig:
        """The named table's settings; a ConfigError suggesting the closest name otherwise."""
        if name not in self.tables:
            raise ConfigError(
                f"{self.source_file}: no table {name!r} under 'tables'{suggest(name, self.tables)}"
                f" (tables: {', '.join(sorted(self.tables)) or 'none'})"
            )
        return self.tables[name]

    def table_location(self, table: TableConfig) -> str:
        """The table's root URI: its `location`, or <warehouse>/<database>/<table>."""
        return (table.location or f"{self.warehouse}/{table.database}/{table.name}").rstrip("/")

    def admin_location(self, table: TableConfig) -> str:
        """Where lakeloader keeps its own bookkeeping for a table (never under the table root)."""
        return f"{self.warehouse}/_lakeloader/{table.database}/{table.name}"


# --------------------------------------------------------------------------- loading


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
        tables[name] = _build(TableConfig, {**body, "name": name}, key, source_file)
    raw["tables"] = {}
    raw["source_file"] = source_file
    if "warehouse" not in raw:
        raise ConfigError(f"{source_file}: missing required key 'warehouse'")
    cfg = _build(Config, raw, "", source_file)
    cfg = dataclasses.replace(cfg, tables=tables, warehouse=_normalize_warehouse(cfg.warehouse, source_file))
    if cfg.catalog.kind == "local":
        cfg = dataclasses.replace(
            cfg, catalog=dataclasses.replace(cfg.catalog, path=os.path.abspath(os.path.expanduser(cfg.catalog.path)))
        )
    if cfg.catalog.max_in_flight < 1:
        raise ConfigError(f"{source_file}: catalog.max_in_flight: must be at least 1")
    for table in tables.values():
        _validate_table(table, f"tables.{table.name}", source_file)
    return cfg


def render_source_path(template: str, run_date: dt.date) -> str:
    """Fill `{run_date:%Y/%m/%d}`-style placeholders in a source path."""
    return template.format(run_date=run_date)


# --------------------------------------------------------------------------- validation


def _validate_table(t: TableConfig, key: str, src: str) -> None:
    def err(sub: str, msg: str) -> ConfigError:
        return ConfigError(f"{src}: {key}.{sub}: {msg}")

    if not NAME_RE.match(t.database):
        raise err("database", f"{t.database!r}: lowercase letters, digits and '_' only (Glue lowercases names)")
    try:
        render_source_path(t.source.path, dt.date(2024, 1, 31))
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as e:
        raise err("source.path", f"bad placeholder ({e}); the only one is {{run_date:<strftime>}}") from None
    if not t.partitions:
        raise err("partitions", "at least one partition rule is required")
    seen: set[str] = set()
    for i, rule in enumerate(t.partitions):
        where = f"partitions[{i}]"
        if not NAME_RE.match(rule.name):
            raise err(f"{where}.name", f"{rule.name!r}: lowercase letters, digits and '_' only")
        if rule.name in seen:
            raise err(f"{where}.name", f"{rule.name!r} is used twice")
        seen.add(rule.name)
        if rule.transform is not None:
            if rule.transform not in TRANSFORMS and not BUCKET_RE.match(rule.transform):
                raise err(
                    f"{where}.transform",
                    f"{rule.transform!r} is not one of date, hour, month, year, bucket:N"
                    f"{suggest(rule.transform, TRANSFORMS)}",
                )
            if rule.from_ is None:
                raise err(f"{where}.from", f"transform {rule.transform!r} needs 'from: <input column>'")
    if t.target_file_mb <= 0:
        raise err("target_file_mb", "must be a positive number of MiB")
    if t.max_records_per_file < 0:
        raise err("max_records_per_file", "must be 0 (derived) or positive")
    for i, c in enumerate(t.checks):
        _validate_check(c, f"checks[{i}]", err)


def _validate_check(c: CheckConfig, where: str, err: Any) -> None:
    needs = {
        "not_null": ("column",),
        "accepted_values": ("column", "values"),
        "range": ("column",),
        "row_count_change": ("max_pct",),
    }
    if c.kind == "unique":
        if not c.key_columns:
            raise err(where, "unique needs 'columns: [..]' (or 'column')")
        return
    for req in needs[c.kind]:
        if getattr(c, req) is None:
            raise err(where, f"{c.kind} needs '{req}'")
    if c.kind == "accepted_values" and not c.values:
        raise err(where, "accepted_values needs a non-empty 'values' list")
    if c.kind == "range" and c.min is None and c.max is None:
        raise err(where, "range needs 'min', 'max' or both")


def _normalize_warehouse(value: str, src: str) -> str:
    if value.startswith(("s3://", "s3a://", "hdfs://")):
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


# --------------------------------------------------------------------------- generic builder


def _yaml_key(f: dataclasses.Field) -> str:
    return f.name.rstrip("_")  # `from_` in Python is `from` in YAML


def _build(cls: type, data: Any, key: str, src: str) -> Any:
    where = f"{src}: {key}" if key else src
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {_describe(data)}")
    hints = typing.get_type_hints(cls)
    fields = {_yaml_key(f): f for f in dataclasses.fields(cls)}
    for k in data:
        if k not in fields:
            raise ConfigError(f"{src}: {_join(key, k)}: unknown key{suggest(str(k), fields)}")
    kwargs = {}
    for yk, f in fields.items():
        if yk in data:
            kwargs[f.name] = _coerce(hints[f.name], data[yk], _join(key, yk), src)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{src}: {_join(key, yk)}: missing required key")
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str, src: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Union:
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, key, src)
    if origin is Literal:
        if value not in args:
            choices = " | ".join(map(str, args))
            raise ConfigError(f"{src}: {key}: {value!r} is not one of {choices}{suggest(str(value), args)}")
        return value
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key, src)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{src}: {key}: expected a list, got {_describe(value)}")
        return [_coerce(args[0], v, f"{key}[{i}]", src) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{src}: {key}: expected a mapping, got {_describe(value)}")
        if args and args[1] is str:
            return {str(k): str(v) for k, v in value.items()}
        return dict(value)
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, bool) or not isinstance(value, tp):
        raise ConfigError(f"{src}: {key}: expected {tp.__name__}, got {_describe(value)}")
    return value


def _join(key: str, sub: Any) -> str:
    return f"{key}.{sub}" if key else str(sub)


def _describe(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"


def suggest(word: str, choices: Any) -> str:
    """' (did you mean X?)' for the closest of `choices`, or ''."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
