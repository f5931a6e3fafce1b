"""Durations in config: `1h`, `30m`, `1h30m`, `45s`, `7d`, or `0`."""

from __future__ import annotations

import re
from typing import Any

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION_RE = re.compile(r"(?:[0-9]+[smhd])+")


def parse_duration(value: Any) -> float:  # noqa: ANN401 (YAML gives a string, or the number 0)
    """Seconds in a duration like `1h`, `30m`, `1h30m`, `45s`, `7d` or `0`; ValueError otherwise."""
    if value == 0 and not isinstance(value, bool) or value == "0":
        return 0.0
    text = str(value).strip().lower()
    if isinstance(value, bool) or not isinstance(value, str) or not _DURATION_RE.fullmatch(text):
        raise ValueError(f"{value!r} is not a duration like 1h, 30m, 1h30m, 45s, 7d or 0")
    return float(sum(int(n) * _UNITS[u] for n, u in re.findall(r"([0-9]+)([smhd])", text)))
