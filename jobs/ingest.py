"""spark-submit entry point for one table's load (what an EMR step runs).

    spark-submit --py-files lakeloader.zip jobs/ingest.py --config conf/prod.yaml --table events

Takes exactly the arguments of `lakeloader run`, plus `--days-before N` (the run date is --run-date minus N
days: what a scheduled run passes, lakeloader.schedule); exit codes: 0 ok, 2 bad config/input/arguments.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Optional

from lakeloader.cli import main as cli_main
from lakeloader.errors import UsageError
from lakeloader.schedule.timing import shift_run_date


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run `lakeloader run` with these arguments; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"]):
        return cli_main(["run", "--help"])
    try:
        args = shift_run_date(args)
    except UsageError as e:
        print(e, file=sys.stderr)
        return e.exit_code
    return cli_main(["run", *args])


if __name__ == "__main__":
    sys.exit(main())
