"""The settings of conf/<env>.yaml, one frozen dataclass per section (`tables.<name>`, `catalog`, `emr`, ...).

Field names and types here are the schema: lakeloader.config.builder turns YAML into these, and
conf/README.md documents every key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from lakeloader.config.builder import suggest
from lakeloader.config.duration import parse_duration
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
    """Files (`path` + `format`) or a Hive metastore table (`table` + optional `where`); one or the other."""

    path: Optional[str] = None
    format: Optional[Literal["parquet", "orc", "csv", "json", "text"]] = None
    table: Optional[str] = None  # database.table in the cluster's Hive metastore
    where: Optional[str] = None  # a Spark SQL condition; {run_date:<strftime>} filled per run
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
    retain_for: Any = "1h"  # a duration (`1h`, `30m`, `0`; YAML reads 0 as a number): validate_table checks it
    schema_evolution: Literal["append", "overwrite"] = "append"
    location: Optional[str] = None
    checks: list[CheckConfig] = field(default_factory=list)
    partition_projection: dict[str, ProjectionConfig] = field(default_factory=dict)

    @property
    def retain_for_s(self) -> float:
        """`retain_for` in seconds: how long a superseded version stays readable before it is deleted."""
        return parse_duration(self.retain_for)


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
    # EMR 7's `python3` is 3.9, older than constraints.txt needs; the bootstrap installs this one with dnf.
    python: str = "python3.11"
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
