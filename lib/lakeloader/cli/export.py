"""`lakeloader export`: a table's rows into files for SageMaker (lakeloader.export does the work)."""

from __future__ import annotations

import argparse
import time

from lakeloader.cli.run import load_args


def cmd_export(args: argparse.Namespace) -> int:
    """`lakeloader export`."""
    from lakeloader.catalog import open_catalog
    from lakeloader.export import export_table, options_from_args, render_summary
    from lakeloader.query import open_engine

    opts = options_from_args(args)
    config = load_args(args)
    catalog = open_catalog(config)
    t = time.monotonic()
    summary = export_table(config, catalog, open_engine(config, catalog), args.table, opts)
    print(render_summary(summary, time.monotonic() - t))
    return 0
