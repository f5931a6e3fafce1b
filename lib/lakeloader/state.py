"""The table's current state in one small object, so a run reads a constant number of objects.

`<admin>/state.json` says which run is live (`latest`), which was live before it (`previous`),
every partition's live version (`live`, with the stats a rollback record needs) and each
partition's recent version locations (`versions`, for pruning). Publish writes it right after the
catalog flips (a snapshot `<admin>/states/<run id>.json` first, then `state.json`, each replaced
whole), so it never names a version the catalog does not serve. The manifests stay the audit trail;
`history` pages through them and nothing else reads them all.

A table made before this object existed has none: `current` rebuilds it once from the manifests
(the former way), and the table's next run saves it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Optional

from lakeloader import manifest as manifests
from lakeloader import storage
from lakeloader.config import AwsConfig
from lakeloader.manifest import Manifest, PartitionStats

log = logging.getLogger(__name__)
FORMAT = 1


@dataclass(frozen=True)
class TableState:
    latest: Optional[str] = None  # run id of the live run (a rollback is a run of its own)
    previous: Optional[str] = None  # the run that was live before it
    live: tuple[PartitionStats, ...] = ()
    versions: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()  # partition -> locations, oldest first
    unpruned: tuple[str, ...] = ()  # due for deletion; deleted again by the next publish should one crash
    format: int = FORMAT

    def to_json(self) -> str:
        """Stable JSON."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TableState:
        """Parse what to_json wrote."""
        raw = json.loads(text)
        return cls(
            latest=raw["latest"],
            previous=raw["previous"],
            live=tuple(PartitionStats(**p) for p in raw["live"]),
            versions=tuple((tuple(k), tuple(v)) for k, v in raw["versions"]),
            unpruned=tuple(raw["unpruned"]),
            format=raw["format"],
        )


def state_uri(admin: str, run_id: Optional[str] = None) -> str:
    """The current state object, or the snapshot left by `run_id`'s publish."""
    return f"{admin}/state.json" if run_id is None else f"{admin}/states/{run_id}.json"


def load(admin: str, aws: Optional[AwsConfig] = None, as_of: Optional[str] = None) -> Optional[TableState]:
    """The saved state (as of `as_of`'s publish when given), or None when there is none."""
    text = storage.read_text(state_uri(admin, as_of), aws)
    return TableState.from_json(text) if text is not None else None


def save(state: TableState, admin: str, aws: Optional[AwsConfig] = None) -> None:
    """Write the snapshot of the latest run, then the current state."""
    text = state.to_json()
    if state.latest is not None:
        storage.write_text(state_uri(admin, state.latest), text, aws)
    storage.write_text(state_uri(admin), text, aws)


def current(admin: str, retain: int, aws: Optional[AwsConfig] = None) -> tuple[TableState, bool]:
    """(the table's state, whether it was rebuilt from the manifests because none was saved yet)."""
    saved = load(admin, aws)
    if saved is not None:
        return saved, False
    history = manifests.history(admin, aws)
    if history:
        log.info("%s: no state object yet; rebuilding it from %d manifests (once)", admin, len(history))
    return from_history(history, retain), True


def from_history(history: Sequence[Manifest], retain: int) -> TableState:
    """The state that replaying the published runs, oldest first, arrives at."""
    state = TableState()
    for m in history:
        if m.status == "published":
            state, _ = advance(state, m, retain)
    return replace(state, unpruned=())  # the former pruning already removed those


def advance(state: TableState, m: Manifest, retain: int, track_versions: bool = True) -> tuple[TableState, list[str]]:
    """The state once `m` is live, and the version locations to delete now (beyond `retain`, never live).

    Idempotent: advancing to the run that is already latest changes nothing. `track_versions` is
    off for formats whose partitions are not version directories (Delta).
    """
    if state.latest == m.run_id:
        return state, list(state.unpruned)
    live = {} if m.mode in ("overwrite", "rollback") else {tuple(p.values): p for p in state.live}
    live.update({tuple(p.values): p for p in m.partitions})
    versions = {k: list(v) for k, v in state.versions}
    doomed: list[str] = []
    if track_versions:
        live_locations = {p.location for p in live.values()}
        for p in m.partitions:
            seen = versions.setdefault(tuple(p.values), [])
            if p.location in seen:
                seen.remove(p.location)  # a rollback re-publishes a version: it is recent again
            seen.append(p.location)
        for key, locations in versions.items():
            old = locations[:-retain]
            doomed += [loc for loc in old if loc not in live_locations]
            versions[key] = [loc for loc in old if loc in live_locations] + locations[-retain:]
    new = TableState(
        latest=m.run_id,
        previous=state.latest,
        live=tuple(live[k] for k in sorted(live)),
        versions=tuple((k, tuple(v)) for k, v in sorted(versions.items())),
        unpruned=tuple(sorted(set(doomed))),
    )
    return new, sorted(set(doomed) | set(state.unpruned))


def previous_of(admin: str, run_id: str, aws: Optional[AwsConfig] = None) -> tuple[bool, Optional[str]]:
    """(whether `run_id` was ever live, the run live before it), from its snapshot: one read.

    Runs published before state objects existed have no snapshot: their manifests are read instead.
    """
    snapshot = load(admin, aws, as_of=run_id)
    if snapshot is not None:
        return True, snapshot.previous
    published = [m.run_id for m in manifests.history(admin, aws) if m.status == "published"]
    if run_id not in published:
        return False, None
    i = published.index(run_id)
    return True, published[i - 1] if i > 0 else None
