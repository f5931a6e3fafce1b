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

# Athena's default for `projection.<key>.format` as lakeloader sets it: the value `transform: date` writes.
DEFAULT_PROJECTION_DATE_FORMAT = "yyyy-MM-dd"
# The partition values each time transform writes (partitioning.partition_expr), as Java date formats.
TRANSFORM_DATE_FORMATS = {"date": "yyyy-MM-dd", "hour": "yyyy-MM-dd-HH", "month": "yyyy-MM", "year": "yyyy"}
# A relative bound of a projected date range, as Athena documents it (e.g. `NOW`, `NOW-3YEARS`).
NOW_RE = re.compile(r"^\s*NOW\s*(([+-])\s*([0-9]+)\s*(YEARS?|MONTHS?|WEEKS?|DAYS?|HOURS?|MINUTES?|SECONDS?)\s*)?$")
_INT_RE = re.compile(r"^\s*-?[0-9]+\s*$")


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
class LockConfig:
    wait_s: float = 0.0
    ttl_s: float = 86_400.0


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
    kind: Literal["not_null", "unique", "accepted_values", "range", "regex", "freshness", "row_count_change"]
    column: Optional[str] = None
    columns: Optional[list[str]] = None
    values: Optional[list[Any]] = None
    min: Optional[float] = None
    max: Optional[float] = None
    max_pct: Optional[float] = None
    pattern: Optional[str] = None  # regex: a Java/RE2-style regular expression, found anywhere in the value
    max_age_hours: Optional[float] = None  # freshness: max(column) may be at most this old (UTC)
    severity: Literal["error", "warn"] = "error"

    @property
    def key_columns(self) -> list[str]:
        """Columns a check looks at (`columns` for unique, else `column`)."""
        return list(self.columns) if self.columns else ([self.column] if self.column else [])


@dataclass(frozen=True)
class ProjectionConfig:
    """Athena partition projection for one partition key (the `projection.<key>.*` table properties)."""

    type: Literal["date", "integer", "enum", "injected"]
    range: Optional[str] = None
    format: Optional[str] = None
    interval: Optional[int] = None
    unit: Optional[Literal["YEARS", "MONTHS", "WEEKS", "DAYS", "HOURS", "MINUTES", "SECONDS"]] = None
    values: Optional[list[str]] = None
    digits: Optional[int] = None

    @property
    def date_format(self) -> str:
        """The Java date format of a `date` projection (`format`, else yyyy-MM-dd)."""
        return self.format or DEFAULT_PROJECTION_DATE_FORMAT


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
    retain_versions: int = 1
    schema_evolution: Literal["append", "overwrite"] = "append"
    location: Optional[str] = None
    checks: list[CheckConfig] = field(default_factory=list)
    partition_projection: dict[str, ProjectionConfig] = field(default_factory=dict)


@dataclass(frozen=True)
class InstanceGroupConfig:
    """One instance group of a cluster `--create-cluster` starts (`emr.instance_groups[]`)."""

    role: Literal["MASTER", "CORE", "TASK"]
    instance_type: str
    count: int = 1
    market: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"
    ebs_gb: int = 0
    name: Optional[str] = None


@dataclass(frozen=True)
class InstanceFleetConfig:
    """One instance fleet (`emr.instance_fleets[]`), the alternative to instance groups."""

    role: Literal["MASTER", "CORE", "TASK"]
    instance_types: list[str]
    on_demand: int = 0
    spot: int = 0
    ebs_gb: int = 0
    name: Optional[str] = None


# Used when neither `instance_groups` nor `instance_fleets` is given: memory-optimised core nodes,
# since the layout's repartition shuffles the whole input once.
DEFAULT_INSTANCE_GROUPS = (
    InstanceGroupConfig(role="MASTER", instance_type="m5.xlarge", count=1),
    InstanceGroupConfig(role="CORE", instance_type="r5.2xlarge", count=2, ebs_gb=256),
)


@dataclass(frozen=True)
class EmrConfig:
    """Where the code goes and how a step runs on EMR: the `emr:` section of conf/<env>.yaml."""

    code_location: Optional[str] = None
    log_uri: Optional[str] = None
    release_label: str = "emr-7.10.0"
    cluster_name: str = "lakeloader"
    service_role: str = "EMR_DefaultRole"
    instance_profile: str = "EMR_EC2_DefaultRole"
    instance_groups: list[InstanceGroupConfig] = field(default_factory=list)
    instance_fleets: list[InstanceFleetConfig] = field(default_factory=list)
    subnet_ids: list[str] = field(default_factory=list)
    key_name: Optional[str] = None
    idle_timeout_s: int = 3600
    python: str = "python3"
    spark_conf: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    step_timeout_s: float = 21600.0
    poll_s: float = 10.0
    poll_max_s: float = 60.0
    log_wait_s: float = 300.0

    @property
    def groups(self) -> list[InstanceGroupConfig]:
        """The instance groups to start (the defaults unless fleets or groups are configured)."""
        if self.instance_groups or self.instance_fleets:
            return list(self.instance_groups)
        return list(DEFAULT_INSTANCE_GROUPS)


@dataclass(frozen=True)
class TableScheduleConfig:
    """When one table loads on AWS (`schedule.tables.<name>`): an EventBridge Scheduler expression."""

    cron: str
    timezone: Optional[str] = None
    days_before: int = 0
    enabled: bool = True


@dataclass(frozen=True)
class ScheduleConfig:
    """What `lakeloader schedule` creates: the `schedule:` section of conf/<env>.yaml."""

    prefix: str = "lakeloader"
    timezone: str = "UTC"
    cluster: Literal["transient", "existing"] = "transient"
    cluster_id: Optional[str] = None
    sns_topic: Optional[str] = None
    states_role_arn: Optional[str] = None
    scheduler_role_arn: Optional[str] = None
    tables: dict[str, TableScheduleConfig] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    source_file: str
    warehouse: str
    tables: dict[str, TableConfig]
    catalog: CatalogConfig = field(default_factory=CatalogConfig)
    query: QueryConfig = field(default_factory=QueryConfig)
    aws: AwsConfig = field(default_factory=AwsConfig)
    lock: LockConfig = field(default_factory=LockConfig)
    emr: EmrConfig = field(default_factory=EmrConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
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

    def symlink_location(self, table: TableConfig) -> str:
        """Where a projected table's partition manifests live (Athena's `storage.location.template` root)."""
        return f"{self.admin_location(table)}/symlink"


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
    _validate_schedule(cfg.schedule, tables, source_file)
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
    if t.retain_versions < 1:
        raise err("retain_versions", "must be at least 1 (the live version)")
    if t.max_records_per_file < 0:
        raise err("max_records_per_file", "must be 0 (derived) or positive")
    for i, c in enumerate(t.checks):
        _validate_check(c, f"checks[{i}]", err)
    _validate_projection(t, err)


# EventBridge Scheduler: cron(min hour day-of-month month day-of-week year), rate(N unit) or at(timestamp).
_CRON_RE = re.compile(r"^cron\((\S+ ){5}\S+\)$")
_RATE_RE = re.compile(r"^rate\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\)$")
_PREFIX_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")
_CLUSTER_ID_RE = re.compile(r"^j-[0-9A-Z]+$")


def _validate_schedule(s: ScheduleConfig, tables: dict[str, TableConfig], src: str) -> None:
    def err(sub: str, msg: str) -> ConfigError:
        return ConfigError(f"{src}: schedule.{sub}: {msg}")

    if not _PREFIX_RE.match(s.prefix):
        raise err("prefix", f"{s.prefix!r}: a letter, then letters, digits, '-' or '_' (at most 40)")
    if s.cluster == "existing" and not (s.cluster_id and _CLUSTER_ID_RE.match(s.cluster_id)):
        raise err("cluster_id", "cluster: existing needs the id of a long-running cluster (j-XXXXXXXXXXXXX)")
    if s.cluster == "transient" and s.cluster_id:
        raise err("cluster_id", "applies to cluster: existing only (transient clusters are created per run)")
    if s.sns_topic is not None and not re.match(r"^[A-Za-z0-9_-]{1,256}$", s.sns_topic):
        raise err("sns_topic", f"{s.sns_topic!r}: an SNS topic name (letters, digits, '-', '_'), not an ARN")
    for key in ("states_role_arn", "scheduler_role_arn"):
        value = getattr(s, key)
        if value is not None and not re.match(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/", value):
            raise err(key, f"{value!r} is not an IAM role ARN (leave it out and lakeloader creates the role)")
    for name, t in s.tables.items():
        where = f"tables.{name}"
        if name not in tables:
            raise err(where, f"no table {name!r} under 'tables'{suggest(name, tables)}")
        if not (_CRON_RE.match(t.cron) or _RATE_RE.match(t.cron)):
            raise err(
                f"{where}.cron",
                f"{t.cron!r}: use an EventBridge Scheduler expression: cron(min hour day month weekday year), "
                'e.g. "cron(0 3 * * ? *)", or rate(1 day)',
            )
        if _CRON_RE.match(t.cron):
            fields = t.cron[5:-1].split()
            if "?" not in (fields[2], fields[4]):
                raise err(f"{where}.cron", f"{t.cron!r}: day-of-month or day-of-week must be '?' (one of them)")
        if t.days_before < 0:
            raise err(f"{where}.days_before", "must be 0 (the scheduled day) or positive")
        if len(f"{s.prefix}-{name}") > 64:
            raise err(where, f"'{s.prefix}-{name}' is longer than the 64 characters a schedule name may have")
        if t.timezone is not None:
            _check_timezone(t.timezone, err, f"{where}.timezone")
    _check_timezone(s.timezone, err, "timezone")


def _check_timezone(name: str, err: Any, key: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise err(key, f"{name!r} is not an IANA time zone, e.g. UTC or Europe/Paris") from None


def _validate_check(c: CheckConfig, where: str, err: Any) -> None:
    needs = {
        "not_null": ("column",),
        "accepted_values": ("column", "values"),
        "range": ("column",),
        "regex": ("column", "pattern"),
        "freshness": ("column", "max_age_hours"),
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
    if c.kind == "regex":
        if not c.pattern:
            raise err(f"{where}.pattern", "regex needs a non-empty pattern")
        try:
            # Python's syntax is close to Athena's (Java) and DuckDB's (RE2): this catches unbalanced
            # brackets and dangling quantifiers; what only one engine knows is left to the engine.
            re.compile(c.pattern)
        except re.error as e:
            if not str(e).startswith("bad escape"):  # \p{L}, \Q..\E, \z are Java and RE2, not Python
                raise err(f"{where}.pattern", f"{c.pattern!r} is not a valid regular expression ({e})") from None
    if c.kind == "freshness" and not (c.max_age_hours or 0) > 0:
        raise err(f"{where}.max_age_hours", f"must be a positive number of hours, got {c.max_age_hours:g}")


# Which optional keys each projection type takes (Athena's `projection.<key>.*` properties).
_PROJECTION_KEYS = {
    "date": ("range", "format", "interval", "unit"),
    "integer": ("range", "interval", "digits"),
    "enum": ("values",),
    "injected": (),
}


def _validate_projection(t: TableConfig, err: Any) -> None:
    """Athena needs an entry for every partition key, and each entry must project the paths lakeloader writes."""
    if not t.partition_projection:
        return
    if t.format == "delta":
        raise err("partition_projection", "does not apply to format: delta (Athena reads its partitions from the log)")
    rules = {r.name: r for r in t.partitions}
    for name in t.partition_projection:
        if name not in rules:
            raise err(
                f"partition_projection.{name}",
                f"{name!r} is not a partition of this table{suggest(name, rules)} (partitions: {', '.join(rules)})",
            )
    missing = [n for n in rules if n not in t.partition_projection]
    if missing:
        raise err(
            "partition_projection",
            f"no entry for partition {', '.join(map(repr, missing))}; Athena needs one for every partition key",
        )
    for name, p in t.partition_projection.items():
        _validate_projection_entry(p, rules[name], f"partition_projection.{name}", err)


def _validate_projection_entry(p: ProjectionConfig, rule: PartitionRule, where: str, err: Any) -> None:
    for key in ("range", "format", "interval", "unit", "values", "digits"):
        if getattr(p, key) is not None and key not in _PROJECTION_KEYS[p.type]:
            takes = ", ".join(_PROJECTION_KEYS[p.type]) or "no other keys"
            raise err(f"{where}.{key}", f"does not apply to type {p.type} (it takes {takes})")
    for key in ("interval", "digits"):
        if getattr(p, key) is not None and getattr(p, key) < 1:
            raise err(f"{where}.{key}", "must be a positive integer")
    made_by = f"transform {rule.transform!r}" if rule.transform else "an identity partition"
    if p.type == "integer":
        if rule.transform in ("date", "hour", "month"):
            raise err(f"{where}.type", f"{made_by} writes dates, not integers; use type: date")
        if p.range is None:
            raise err(f"{where}.range", 'type integer needs range: "<min>,<max>", e.g. "0,15"')
        bounds = p.range.split(",")
        if len(bounds) != 2 or not all(_INT_RE.match(b) for b in bounds):
            raise err(f"{where}.range", f'{p.range!r} is not "<min>,<max>" with two integers')
        if int(bounds[0]) > int(bounds[1]):
            raise err(f"{where}.range", f"{p.range!r}: the minimum is greater than the maximum")
        if rule.buckets is not None and (p.digits or 1) > 1:
            raise err(f"{where}.digits", f"{made_by} writes bucket numbers without leading zeros; drop digits")
    elif p.type == "enum":
        if not p.values:
            raise err(f"{where}.values", "type enum needs a non-empty list of values")
        for i, v in enumerate(p.values):
            if not v or "," in v:
                # Athena splits `projection.<key>.values` on commas; '' is stored as the Hive default partition.
                raise err(f"{where}.values[{i}]", f"{v!r} cannot be projected (empty, or contains ',')")
    elif p.type == "date":
        if rule.buckets is not None:
            raise err(
                f"{where}.type",
                f'{made_by} writes bucket numbers, not dates; use type: integer, range: "0,{rule.buckets - 1}"',
            )
        fmt = p.date_format
        written = TRANSFORM_DATE_FORMATS.get(rule.transform or "")
        if written is not None and fmt != written:
            # A different format projects directory names that do not exist: Athena returns no rows, no error.
            raise err(f"{where}.format", f"{fmt!r} does not match the values {made_by} writes ({written})")
        if p.range is None:
            raise err(f"{where}.range", 'type date needs range: "<start>,<end>", e.g. "2020-01-01,NOW"')
        bounds = p.range.split(",")
        if len(bounds) != 2:
            raise err(f"{where}.range", f'{p.range!r} is not "<start>,<end>"')
        for b in bounds:
            if not NOW_RE.match(b) and not _is_java_date(b, fmt):
                raise err(f"{where}.range", f"{b!r} is neither a date in format {fmt!r} nor NOW[+-<n><UNIT>]")
        if _needs_interval(fmt) and (p.interval is None or p.unit is None):
            # Athena defaults the step only for day or month precision.
            raise err(where, f"format {fmt!r} is not day or month precision, so Athena needs interval and unit")


# Java DateTimeFormatter letters lakeloader can check a range bound against; others are left to Athena.
_JAVA_DATE_TOKENS = (("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S"))


def java_date_pattern(fmt: str) -> Optional[str]:
    """The strptime pattern of a Java date format, or None when it uses letters not handled here."""
    pattern, i = "", 0
    while i < len(fmt):
        for token, directive in _JAVA_DATE_TOKENS:
            end = i + len(token)
            if fmt.startswith(token, i) and fmt[end : end + 1] != token[0]:
                pattern, i = pattern + directive, end
                break
        else:
            if fmt[i].isalpha() or fmt[i] in "'%":
                return None
            pattern, i = pattern + fmt[i], i + 1
    return pattern


def _is_java_date(text: str, fmt: str) -> bool:
    """Whether `text` parses with the Java date format `fmt`; True when `fmt` uses letters not checked here."""
    pattern = java_date_pattern(fmt)
    if pattern is None:
        return True
    try:
        dt.datetime.strptime(text, pattern)
    except ValueError:
        return False
    return True


def _needs_interval(fmt: str) -> bool:
    letters = set(re.sub(r"'[^']*'", "", fmt))
    if letters & set("HhKkmsSAnN"):
        return True
    return not letters & set("dDM")


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
        if args and dataclasses.is_dataclass(args[1]):
            return {str(k): _build(args[1], v, _join(key, k), src) for k, v in value.items()}
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
