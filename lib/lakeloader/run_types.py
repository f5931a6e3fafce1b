"""What one run of a table is asked to do (RunOptions) and what it reports (RunSummary)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional

from lakeloader.manifest import Manifest
from lakeloader.register import Published
from lakeloader.validate import Report


@dataclass(frozen=True)
class RunOptions:
    """What the caller asks of one run: its date, and optionally the input, run id, mode and a dry run."""

    run_date: dt.date
    input_uri: Optional[str] = None
    run_id: Optional[str] = None
    mode: Optional[str] = None
    dry_run: bool = False


@dataclass(frozen=True)
class RunSummary:
    """How a run ended: its manifest, the outcome, and what it published and audited."""

    manifest: Manifest
    manifest_uri: Optional[str]
    outcome: str  # published | already-published | recovered | dry-run
    published: Optional[Published] = None
    audit: Optional[Report] = None
    symlink_location: Optional[str] = None  # a projected table's partition manifests
