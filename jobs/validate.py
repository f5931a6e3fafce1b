"""spark-submit entry point for a table's validation (the scheduled state machine's and DAG's last step).

    spark-submit --deploy-mode cluster --files prod.yaml jobs/validate.py --config prod.yaml --table events

Takes exactly the arguments of `lakeloader validate` (Athena when query.engine is athena); exit code 1 when a
check fails, 2 on bad config or arguments, so the EMR step, and with it the scheduled run, fails.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Optional

from lakeloader import session
from lakeloader.cli import main as cli_main


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run `lakeloader validate` with these arguments; returns the exit code."""
    if session.is_on_cluster():
        # YARN cluster mode fails an application whose driver never starts a SparkContext ("User did not
        # initialize spark context!"), even though validation itself only queries Athena.
        session.build_session("lakeloader-validate")
    return cli_main(["validate", *list(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
