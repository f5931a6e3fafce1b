"""awswrangler contender for bench/write_bench.py: CSV -> pandas -> wr.s3.to_parquet(dataset=True) + Glue.

    <awswrangler venv>/bin/python bench/awswrangler_contender.py --input DIR --path s3://bucket/prefix/ \
        --database bench --table events

Runs in its own venv (bench/requirements-awswrangler.txt: awswrangler needs pyarrow < 26, the project
pins 26.0.1), started by write_bench.py, which also starts the moto server (S3 + Glue) this talks to.
The endpoint comes from AWS_ENDPOINT_URL and nothing runs without it: a benchmark never reaches AWS.

What it times, after the imports: read the CSV files with pandas (pyarrow engine, all cores), derive
dt (yyyy-MM-dd of event_ts, UTC) and write with `wr.s3.to_parquet(..., dataset=True,
partition_cols=["dt", "country"], database=..., table=..., mode="overwrite_partitions",
concurrent_partitioning=True)`, which PUTs
the Parquet files to S3 and creates the Glue table and its partitions. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections import Counter
from pathlib import Path

START = time.monotonic()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", required=True, help="folder of the generated CSV files (with a header)")
    p.add_argument("--path", required=True, help="s3://bucket/prefix/ of the dataset")
    p.add_argument("--database", default="bench")
    p.add_argument("--table", default="events")
    args = p.parse_args()

    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if not endpoint.startswith(("http://127.0.0.1:", "http://localhost:")):
        print(json.dumps({"error": f"AWS_ENDPOINT_URL must be a local moto server, got {endpoint!r}"}))
        return 2

    import awswrangler as wr
    import boto3
    import numpy
    import pandas as pd
    import pyarrow

    for service in ("s3", "glue", "sts"):
        setattr(wr.config, f"{service}_endpoint_url", endpoint)
    session = boto3.Session(region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    calls: Counter = Counter()

    def count(event_name: str, **_: object) -> None:  # before-call.<service>.<Operation>
        _, service, operation = event_name.split(".", 2)
        calls[f"{service}.{operation}"] += 1

    session.events.register("before-call.*.*", count)
    bucket = args.path.removeprefix("s3://").split("/", 1)[0]
    session.client("s3").create_bucket(Bucket=bucket)
    wr.catalog.create_database(args.database, exist_ok=True, boto3_session=session)
    calls.clear()
    imported = time.monotonic()

    t0 = time.monotonic()
    files = sorted(Path(args.input).glob("*.csv"))
    df = pd.concat(
        [
            pd.read_csv(
                f,
                engine="pyarrow",
                dtype={"event_id": "int64", "user_id": "string", "country": "string", "payload": "string"},
                parse_dates=["event_ts"],
            )
            for f in files
        ],
        ignore_index=True,
    )
    ts = df["event_ts"]
    df["dt"] = (ts.dt.tz_convert("UTC") if ts.dt.tz is not None else ts).dt.strftime("%Y-%m-%d")
    t_read = time.monotonic()
    result = wr.s3.to_parquet(
        df,
        path=args.path,
        dataset=True,
        partition_cols=["dt", "country"],
        database=args.database,
        table=args.table,
        mode="overwrite_partitions",
        concurrent_partitioning=True,  # its faster setting (threads over partitions); off by default
        dtype={"amount": "decimal(12,2)"},
        boto3_session=session,
    )
    t_write = time.monotonic()
    write_calls = dict(sorted(calls.items()))

    glue_partitions = wr.catalog.get_partitions(database=args.database, table=args.table, boto3_session=session)
    glue_types = wr.catalog.get_table_types(database=args.database, table=args.table, boto3_session=session)
    print(
        json.dumps(
            {
                "rows": len(df),
                "input_files": len(files),
                "wall_s": t_write - t0,
                "read_s": t_read - t0,
                "write_s": t_write - t_read,
                "startup_s": imported - START,
                "files": len(result["paths"]),
                "partitions": len(result["partitions_values"]),
                "glue_partitions": len(glue_partitions),
                "glue_types": glue_types,
                "calls": write_calls,
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "versions": {
                    "python": sys.version.split()[0],
                    "awswrangler": wr.__version__,
                    "pandas": pd.__version__,
                    "pyarrow": pyarrow.__version__,
                    "numpy": numpy.__version__,
                    "boto3": boto3.__version__,
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
