"""The rules across a table's keys that types alone cannot express: partitions, checks, projection."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Optional

from lakeloader.config.builder import suggest
from lakeloader.config.duration import parse_duration
from lakeloader.config.sections import (
    BUCKET_RE,
    NAME_RE,
    NOW_RE,
    TRANSFORM_DATE_FORMATS,
    TRANSFORMS,
    CheckConfig,
    PartitionRule,
    ProjectionConfig,
    SourceConfig,
    TableConfig,
)
from lakeloader.errors import ConfigError, UsageError

_INT_RE = re.compile(r"^\s*-?[0-9]+\s*$")


def render_source_path(template: str, run_date: dt.date) -> str:
    """Fill `{run_date:%Y/%m/%d}`-style placeholders in a source path; ValueError naming a bad one."""
    try:
        return template.format(run_date=run_date)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as e:
        raise ValueError(
            f"bad placeholder ({e}); the only one is {{run_date:<strftime>}} "
            "(a Hadoop glob's {a,b} is written {{a,b}})"
        ) from None


def resolve_input(source_path: str, override: Optional[str], run_date: dt.date) -> str:
    """The URI a run reads: `--input` when given, else `source.path`, with `{run_date...}` filled in.

    A bad placeholder in `--input` is a UsageError naming it (source.path was checked when loading).
    """
    if override is None:
        return render_source_path(source_path, run_date)
    try:
        return render_source_path(override, run_date)
    except ValueError as e:
        raise UsageError(f"--input {override!r}: {e}") from None


def source_input(src: SourceConfig, override: Optional[str], run_date: dt.date) -> str:
    """What a run reads, for messages and the manifest: resolve_input's URI, or `db.table where <condition>`.

    `--input` replaces a path; with a Hive table source it is a UsageError.
    """
    if src.table is None:
        assert src.path is not None  # validate_table: a source without a table has a path
        return resolve_input(src.path, override, run_date)
    if override is not None:
        raise UsageError(f"--input replaces source.path; this table reads the Hive table {src.table} instead")
    return f"{src.table} where {render_source_path(src.where, run_date)}" if src.where else src.table


def validate_table(t: TableConfig, key: str, src: str) -> None:
    def err(sub: str, msg: str) -> ConfigError:
        return ConfigError(f"{src}: {key}.{sub}: {msg}")

    if not NAME_RE.match(t.database):
        raise err("database", f"{t.database!r}: lowercase letters, digits and '_' only (Glue lowercases names)")
    _validate_source(t.source, err)
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
    try:
        parse_duration(t.retain_for)
    except ValueError as e:
        raise err("retain_for", str(e)) from None
    if t.max_records_per_file < 0:
        raise err("max_records_per_file", "must be 0 (derived) or positive")
    for i, c in enumerate(t.checks):
        _validate_check(c, f"checks[{i}]", err)
    _validate_projection(t, err)


# A Hive table name as the metastore stores it: `database.table`, each a Hive identifier.
_HIVE_TABLE_RE = re.compile(r"^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$")


def _validate_source(s: SourceConfig, err: Any) -> None:
    """Files (`path` + `format`) or a metastore table (`table` + `where`), never a mix of both."""
    if s.table is None and s.path is None:
        raise err("source.path", "missing required key (or source.table, to read a Hive metastore table)")
    if s.table is not None:
        file_keys = [k for k in ("path", "format", "schema") if getattr(s, k) is not None]
        file_keys += ["options"] if s.options else []
        file_keys += ["on_bad_records"] if s.on_bad_records != "fail" else []
        if file_keys:
            raise err(
                "source",
                f"'table' reads a Hive metastore table, so {', '.join(map(repr, file_keys))} cannot be set with it "
                "(the metastore knows the table's files, format and schema)",
            )
        if not _HIVE_TABLE_RE.match(s.table):
            raise err("source.table", f"{s.table!r} is not database.table (letters, digits and '_')")
    else:
        if s.where is not None:
            raise err("source.where", "filters a Hive 'table' source; a 'path' source selects files by its path")
        if s.format is None:
            raise err("source.format", "missing required key (parquet | orc | csv | json | text)")
    for key in ("path", "where"):
        text = getattr(s, key)
        if text is None:
            continue
        try:
            render_source_path(text, dt.date(2024, 1, 31))
        except ValueError as e:
            raise err(f"source.{key}", str(e)) from None


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
