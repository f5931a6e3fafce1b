"""The rules of the `schedule:` section (EventBridge Scheduler expressions, names, roles, time zones)."""

from __future__ import annotations

import re
from typing import Any

from lakeloader.config.builder import suggest
from lakeloader.config.sections import ScheduleConfig, TableConfig
from lakeloader.errors import ConfigError

# EventBridge Scheduler: cron(min hour day-of-month month day-of-week year), rate(N unit) or at(timestamp).
_CRON_RE = re.compile(r"^cron\((\S+ ){5}\S+\)$")
_RATE_RE = re.compile(r"^rate\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\)$")
_PREFIX_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")
_CLUSTER_ID_RE = re.compile(r"^j-[0-9A-Z]+$")


def validate_schedule(s: ScheduleConfig, tables: dict[str, TableConfig], src: str) -> None:
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
