"""Hive's partition layout, shared by the Spark side and the query engines (which must not import Spark).

Spark's `partitionBy` names directories with Hive's `escapePathName`; the catalog stores the raw
value. The helpers here reproduce that escaping exactly, so a directory, a catalog value and a
query result always agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional
from urllib.parse import unquote

HIVE_DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"

# org.apache.hadoop.hive.common.FileUtils.charToEscape (and Spark's ExternalCatalogUtils copy of it).
_ESCAPED = frozenset([chr(c) for c in range(0x01, 0x20)] + list("\"#%'*/:=?\\\x7f{[]^"))


def escape_path_name(value: str) -> str:
    """Escape one partition value for a directory name, byte-for-byte as Hive and Spark do."""
    return "".join(f"%{ord(ch):02X}" if ch in _ESCAPED else ch for ch in value)


def unescape_path_name(name: str) -> str:
    """Inverse of escape_path_name."""
    return unquote(name)


def catalog_value(value: Optional[str]) -> str:
    """The value the catalog stores for a partition: null and '' become Hive's default partition."""
    return HIVE_DEFAULT_PARTITION if value is None or value == "" else value


def partition_path(names: Sequence[str], values: Sequence[str]) -> str:
    """`a=1/b=x%2Fy` for catalog values, the directory layout Spark's partitionBy writes."""
    pairs = zip(names, values, strict=True)
    return "/".join(f"{escape_path_name(n)}={escape_path_name(catalog_value(v))}" for n, v in pairs)


def parse_partition_path(path: str) -> list[tuple[str, str]]:
    """[(name, catalog value), ...] from a relative path such as `a=1/b=x%2Fy`."""
    out = []
    for seg in path.strip("/").split("/"):
        name, sep, value = seg.partition("=")
        if not sep:
            raise ValueError(f"not a partition directory: {seg!r}")
        out.append((unescape_path_name(name), unescape_path_name(value)))
    return out
