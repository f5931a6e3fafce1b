"""Athena side of `lakeloader export`: one query counting rows per channel, then one UNLOAD per channel."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from lakeloader.query.athena import AthenaEngine
from lakeloader.query.export_sql import CHANNEL, channel_sql, unload_sql

log = logging.getLogger(__name__)


def unload_channels(
    engine: AthenaEngine, select: str, columns: Sequence[dict[str, str]], to: str, channels: Sequence[str], fmt: str
) -> dict[str, int]:
    """UNLOAD each channel's rows to `to`<channel>/ (Athena wants each prefix empty); returns rows per channel."""
    counted = engine.query(f'SELECT "{CHANNEL}", count(*) FROM ({select}) GROUP BY 1')
    rows = {c: 0 for c in channels}
    rows.update({str(r[0]): int(r[1]) for r in counted.rows if r[0] in rows})
    for channel in channels:
        info = engine.execute(unload_sql(channel_sql(select, columns, channel), f"{to}{channel}/", fmt))
        log.info(
            "unloaded channel %s: %d rows (query %s, %d bytes scanned)",
            channel,
            rows[channel],
            info.query_id,
            info.data_scanned_bytes,
        )
    return rows
