"""`lakeloader query`: Athena-dialect SQL on the configured engine, printed or written to a file."""

from __future__ import annotations

import argparse
import logging
import sys

from lakeloader.cli.format import render_rows
from lakeloader.cli.output import check_destination, copy_file, write_text
from lakeloader.cli.run import load_args

log = logging.getLogger("lakeloader")


def cmd_query(args: argparse.Namespace) -> int:
    """`lakeloader query`."""
    from lakeloader.catalog import open_catalog
    from lakeloader.query import open_engine

    if args.output:
        check_destination(args.output, "--output")
    config = load_args(args)
    engine = open_engine(config, open_catalog(config))
    fmt = args.format or "table"
    if args.output and fmt == "table":  # a file gets data, not an aligned table: --format csv/json wins
        fmt = "json" if args.output.endswith(".json") else "csv"
    result = None
    if args.output and fmt == "csv" and config.query.engine == "athena":
        from lakeloader.query.athena import AthenaEngine

        if isinstance(engine, AthenaEngine):
            # Athena already wrote the result as CSV: copy that file rather than page every row through
            # GetQueryResults (1,000 rows a call) to write it again.
            execution = engine.execute(args.sql)
            if execution.output_location:
                copy_file(execution.output_location, args.output, config)
                log.info("copied Athena's result %s to %s", execution.output_location, args.output)
                return 0
            result = engine.fetch(execution.query_id)  # no result location reported: render it ourselves
    if result is None:
        result = engine.query(args.sql)
    text = render_rows(result.columns, result.rows, fmt)
    if args.output:
        write_text(args.output, text, config, "--output")
        log.info("wrote %d rows to %s", len(result.rows), args.output)
    else:
        sys.stdout.write(text)
    return 0
