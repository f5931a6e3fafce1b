"""The `lakeloader` console script. Maps user-caused failures to one line and an exit code.

- parser.py: every subcommand's arguments and the function that runs it
- run.py (run, backfill, validate), query.py, versions.py (history, rollback), plan.py (plan, sample), deploy.py,
  export.py, migrate.py
- format.py: tables, CSV, JSON and the validation report; output.py: writing --output and --report files
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Optional

from lakeloader.cli.parser import COMMANDS, build_parser
from lakeloader.errors import ChecksFailed, LakeloaderError, UsageError

log = logging.getLogger("lakeloader")
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; returns the process exit code (the console script exits with it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as e:
        print(e, file=sys.stderr)
        return e.exit_code
    except SystemExit as e:  # --help and --version
        return int(e.code or 0)
    configure_logging(logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO)
    try:
        return COMMANDS[args.command](args)
    except ChecksFailed as e:
        print(e, file=sys.stderr)
        return e.exit_code
    except LakeloaderError as e:
        print(e, file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is now, so main() can run many times in one process (tests)."""

    @property
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # noqa: ANN001
        pass


def configure_logging(level: int) -> None:
    """One format for every lakeloader logger; Spark/py4j chatter kept at WARNING."""
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        h = _StderrHandler()
        h.setFormatter(logging.Formatter(LOG_FORMAT, "%H:%M:%S"))
        root.addHandler(h)
    logging.getLogger("lakeloader").setLevel(level)
    root.setLevel(logging.WARNING)
    logging.getLogger("py4j").setLevel(logging.WARNING)
