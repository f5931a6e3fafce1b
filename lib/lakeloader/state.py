"""The table's current state in one small object, so a run reads a constant number of objects.

`<admin>/state.json` says which run is live (`latest`), which was live before it (`previous`),
every partition's live version (`live`, with the stats a rollback record needs), each
partition's recent version locations (`versions`, the ones `retain_versions` keeps for rollback) and
the versions that fell out of that window with when they did (`pending`), which retention.py deletes
once `retain_for` has passed, so a query that planned on a superseded version can still finish.
Publish writes it right after the catalog flips (a snapshot `<admin>/states/<run id>.json` first,
then `state.json`, each replaced whole), so it never names a version the catalog does not serve.
The manifests stay the audit trail; `history` pages through them and nothing else reads them all.

A table made before this object existed has none: `current` rebuilds it once from the manifests
(the former way), and the table's next run saves it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Optional

from lakeloader import manifest as manifests
from lakeloader import storage
from lakeloader.config import AwsConfig
from lakeloader.manifest import Manifest, PartitionStats

log = logging.getLogger(__name__)
FORMAT = 2  # 2: `pending` (a format 1 state.json has none: it loads with none, and its next save adds it)


@dataclass(frozen=True)
class TableState:
    latest: Optional[str] = None  # run id of the live run (a rollback is a run of its own)
    previous: Optional[str] = None  # the run that was live before it
    live: tuple[PartitionStats, ...] = ()
    versions: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()  # partition -> locations, oldest first
    pending: tuple[tuple[str, str], ...] = ()  # (location, ISO time it left `versions`), awaiting retain_for
    unpruned: tuple[str, ...] = ()  # being deleted; deleted again by the next prune should one crash
    format: int = FORMAT

    def to_json(self) -> str:
        """Stable JSON."""
        return json.dumps(manifests.plain(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TableState:
        """Parse what to_json wrote."""
        raw = json.loads(text)
        return cls(
            latest=raw["latest"],
            previous=raw["previous"],
            live=tuple(PartitionStats(**p) for p in raw["live"]),
            versions=tuple((tuple(k), tuple(v)) for k, v in raw["versions"]),
            pending=tuple((loc, since) for loc, since in raw.get("pending", ())),
            unpruned=tuple(raw["unpruned"]),
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
            state = advance(state, m, retain, now=m.created_at)
    return replace(state, pending=(), unpruned=())  # the former pruning already removed those


def advance(state: TableState, m: Manifest, retain: int, now: str, track_versions: bool = True) -> TableState:
    """The state once `m` is live: locations beyond `retain` per partition (never a live one) join `pending`.

    `now` (ISO time) is recorded as when they left; retention.py deletes them once `retain_for` has
    passed since. A pending location that is live again (a rollback) or kept again leaves `pending`.
    Idempotent: advancing to the run that is already latest changes nothing. `track_versions` is
    off for formats whose partitions are not version directories (Delta).
    """
    if state.latest == m.run_id:
        return state
    live = {} if m.mode in ("overwrite", "rollback") else {tuple(p.values): p for p in state.live}
    live.update({tuple(p.values): p for p in m.partitions})
    versions = {k: list(v) for k, v in state.versions}
    retired: list[str] = []
    live_locations = {p.location for p in live.values()}
    if track_versions:
        for p in m.partitions:
            seen = versions.setdefault(tuple(p.values), [])
            if p.location in seen:
                seen.remove(p.location)  # a rollback re-publishes a version: it is recent again
            seen.append(p.location)
        for key, locations in versions.items():
            old = locations[:-retain]
            retired += [loc for loc in old if loc not in live_locations]
            versions[key] = [loc for loc in old if loc in live_locations] + locations[-retain:]
    kept = live_locations | {loc for locations in versions.values() for loc in locations}
    pending = {loc: since for loc, since in state.pending if loc not in kept}
    pending.update({loc: now for loc in retired if loc not in pending})
    return TableState(
        latest=m.run_id,
        previous=state.latest,
        live=tuple(live[k] for k in sorted(live)),
        versions=tuple((k, tuple(v)) for k, v in sorted(versions.items())),
        pending=tuple(sorted(pending.items())),
        unpruned=state.unpruned,
    )


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
