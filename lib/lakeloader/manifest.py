"""The per-run manifest: what a run wrote, where, how much, and from what input."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Optional

from lakeloader import storage
from lakeloader.config import AwsConfig


@dataclass
class PartitionStats:
    values: list[str]
    location: str
    files: int
    rows: int
    bytes: int
    # column -> {"nulls": n, "min": text, "max": text}, from the Parquet footers (min/max where written)
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Manifest:
    run_id: str
    database: str
    table: str
    mode: str
    run_date: str
    status: str  # staged | published | failed
    table_location: str
    partition_keys: list[str]
    schema: list[dict[str, str]]
    partitions: list[PartitionStats]
    input_uri: str
    input_files: int
    input_bytes: int
    rows_read: int
    rows_written: int
    bad_rows: int
    quarantine_location: Optional[str]
    timings_s: dict[str, float] = field(default_factory=dict)
    code_version: str = ""
    created_at: str = ""
    audit: Optional[dict[str, Any]] = None  # the validation report of the staged run
    attempt: int = 1  # each attempt of a run id writes its own version directories

    @property
    def files(self) -> int:
        return sum(p.files for p in self.partitions)

    @property
    def bytes(self) -> int:
        return sum(p.bytes for p in self.partitions)

    def to_json(self) -> str:
        """Stable, human-readable JSON."""
        return json.dumps(plain(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse a manifest written by to_json."""
        raw: dict[str, Any] = json.loads(text)
        raw["partitions"] = [PartitionStats(**p) for p in raw["partitions"]]
        return cls(**raw)


def plain(value: Any) -> Any:  # noqa: ANN401
    """`dataclasses.asdict` without its deep copy of every dict and list (a 600-partition manifest: 0.1 s)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value  # column statistics are dicts of JSON scalars already


def manifest_uri(admin_location: str, run_id: str) -> str:
    """Where a run's manifest lives."""
    return f"{admin_location}/manifests/{run_id}.json"


def save(m: Manifest, admin_location: str, aws: Optional[AwsConfig] = None) -> str:
    """Write the manifest; returns its URI."""
    uri = manifest_uri(admin_location, m.run_id)
    storage.write_text(uri, m.to_json(), aws)
    return uri


def load(admin_location: str, run_id: str, aws: Optional[AwsConfig] = None) -> Optional[Manifest]:
    """The run's manifest, or None."""
    text = storage.read_text(manifest_uri(admin_location, run_id), aws)
    return Manifest.from_json(text) if text is not None else None


def history(admin_location: str, aws: Optional[AwsConfig] = None) -> list[Manifest]:
    """Every manifest of a table, oldest first: one read per run ever made, for the rare reader that
    needs them all (upgrading a table to a state object); `newest` pages instead."""
    return sorted(_read_all(storage.list_files(f"{admin_location}/manifests", aws, suffix=".json"), aws), key=_order)


def newest(admin_location: str, limit: int, aws: Optional[AwsConfig] = None) -> tuple[list[Manifest], int]:
    """(the `limit` most recent manifests, newest first; how many the table has).

    One listing (1,000 keys per request on S3) and `limit` reads, whatever the history's length:
    runs of a table never overlap, so the last-written objects are the last runs.
    """
    files = storage.list_files(f"{admin_location}/manifests", aws, suffix=".json")
    recent = sorted(files, key=lambda f: (f.mtime_ns, f.uri), reverse=True)[:limit]
    return sorted(_read_all(recent, aws), key=_order, reverse=True), len(files)


def _read_all(files: list[storage.FileInfo], aws: Optional[AwsConfig]) -> list[Manifest]:
    texts = [storage.read_text(f.uri, aws) for f in files]
    return [Manifest.from_json(t) for t in texts if t]


def _order(m: Manifest) -> tuple[str, str]:
    return m.created_at, m.run_id
