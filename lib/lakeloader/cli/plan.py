"""`lakeloader plan` and `lakeloader sample`: estimate a run before it; generate sample input."""

from __future__ import annotations

import argparse
import json

from lakeloader.cli.format import human_bytes, text_table
from lakeloader.cli.run import load_args
from lakeloader.errors import UsageError


def cmd_plan(args: argparse.Namespace) -> int:
    """`lakeloader plan`."""
    from dataclasses import asdict

    from lakeloader.plan import Assumptions, make_plan, parse_size

    config = load_args(args)
    table = config.table(args.table)
    a = Assumptions()
    plan = make_plan(config, table, parse_size(args.input_bytes), args.partitions, args.target_hours, a)
    if args.json:
        print(json.dumps({"plan": plan.to_dict(), "assumptions": asdict(a)}, indent=2))
        return 0
    rows = [
        ("input", f"{human_bytes(plan.input_bytes)} in {plan.input_splits:,} splits of {human_bytes(a.split_bytes)}"),
        ("planning", f"~{plan.input_files:,} input files of {human_bytes(a.input_file_bytes)}, "
                     "listed and fingerprinted "
                     f"in ~{plan.plan_seconds:,.0f} s at {a.plan_s_per_million_files:g} s per million files"),
        ("output", f"{human_bytes(plan.output_bytes)} Parquet (x{a.parquet_ratio} of input)"),
        ("files", f"{plan.files:,} ({plan.files_per_partition} per partition x {plan.partitions:,}), "
                  f"~{human_bytes(plan.file_bytes)} each"),
        ("shuffle", f"{human_bytes(plan.shuffle_bytes)} in ~{plan.write_tasks:,} write tasks"),
        ("glue", f"{plan.glue_calls:,} BatchCreatePartition calls"
                 + (f" (partition projection) + {plan.manifest_puts:,} manifest PUTs" if plan.manifest_puts else "")
                 + f", ~{plan.glue_seconds:.1f} s at {a.glue_latency_ms:g} ms/call, "
                 f"{config.catalog.max_in_flight} in flight, {a.glue_cpu_ms_per_call:g} ms driver CPU/call"),
        ("validation", f"{plan.validation_queries} queries, ~{human_bytes(plan.validation_bytes_scanned)} scanned, "
                       f"~${plan.validation_usd:,.2f} at ${a.athena_usd_per_tb:g}/TB"),
        ("compute", f"{plan.core_hours:,.0f} core-hours at {a.mb_per_core_s:g} MB/core/s"),
        ("cluster", f"{plan.nodes:,} x {a.vcpus_per_node}-vCPU core nodes for {plan.target_hours:g} h, "
                    f"~${plan.cluster_usd:,.0f} at ${a.node_usd_per_hour}/node-hour"),
    ]  # fmt: skip
    print(f"plan for {table.database}.{table.name} (assumptions: lakeloader.plan.Assumptions, docs/scale.md)")
    print(text_table([("", ""), *rows]).split("\n", 2)[2])
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    """`lakeloader sample`."""
    from lakeloader.sample import generate

    try:
        stats = generate(args.out, rows=args.rows, files=args.files, bad_rows=args.bad_rows, seed=args.seed)
    except ValueError as e:
        raise UsageError(f"sample: {e}") from None
    print(f"wrote {stats.rows} rows (+{stats.bad_rows} malformed) in {stats.files} files to {args.out}")
    return 0
