"""A run's stages, logged as they start and end and timed into the run's manifest."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

# The progress lines keep the name of the pipeline they report on, whichever module runs the stage.
log = logging.getLogger("lakeloader.pipeline")


@contextmanager
def stage(name: str, timings: dict[str, float]) -> Iterator[None]:
    """Log a stage's start and end, recording its seconds in `timings` under `name`."""
    log.info("%s ...", name)
    t = time.monotonic()
    yield
    timings[name] = round(time.monotonic() - t, 3)
    log.info("%s done in %.1f s", name, timings[name])
