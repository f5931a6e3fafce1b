"""A run's id: deterministic from what decides the data it writes, so a rerun of the same input is a no-op."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import asdict

from lakeloader.config import TableConfig
from lakeloader.listing import Listing

RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def compute_run_id(table: TableConfig, run_date: dt.date, listing: Listing) -> str:
    """Deterministic from the table's settings, the run date and the input listing's fingerprint."""
    h = hashlib.sha256()
    h.update(config_fingerprint(table).encode())
    h.update(run_date.isoformat().encode())
    h.update(listing.fingerprint.encode())
    return f"{run_date:%Y%m%d}-{h.hexdigest()[:12]}"


# Settings that decide nothing about the data a run writes: the audit's checks and how many old versions
# are kept, and for how long. Editing them must keep a rerun of the same input the promised no-op.
_NOT_DATA_SETTINGS = ("checks", "retain_versions", "retain_for")


def config_fingerprint(table: TableConfig) -> str:
    """The table settings that decide the data a run writes (and so its run id), as stable text."""
    settings = {k: v for k, v in asdict(table).items() if k not in _NOT_DATA_SETTINGS}
    return json.dumps(settings, sort_keys=True, default=str)
