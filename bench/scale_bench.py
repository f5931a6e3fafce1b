"""Scale bench: driver time per stage as the input's file count grows, with the fitted growth per unit.

    python bench/scale_bench.py --input-files 1000,10000,50000,200000

Input listing: N small CSV files in 100 partition folders. For each N, in one Spark session and
interleaved, lakeloader's `plan` stage (`run --dry-run`: read, list, fingerprint the input, derive
the run id) against Spark's own `spark.read.csv(dir).inputFiles()` on the same files. Target
(issue 14): plan ≤ 1.5x inputFiles() at 50,000 files, and 200,000 files planned in under a minute.

Every series appends a block to bench/RESULTS.md with the command that produced it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lib"), str(ROOT)]

from bench.common import git_commit, linear_fit  # noqa: E402
from lakeloader.config import load_config  # noqa: E402
from lakeloader.pipeline import RunOptions, run_table  # noqa: E402
from lakeloader.session import build_session  # noqa: E402

FOLDERS = 100
SCHEMA = "id BIGINT, v STRING"
RUN_DATE = dt.date(2026, 12, 4)


def make_files(root: Path, n: int) -> None:
    """n tiny CSV files spread over FOLDERS partition folders `d=NNN/` (kept between runs of the bench)."""
    done = root / "_complete"
    if done.exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    for i in range(n):
        folder = root / f"d={i % FOLDERS:03d}"
        if i < FOLDERS:
            folder.mkdir(parents=True)
        (folder / f"part-{i:07d}.csv").write_text(f"{i},x\n")
    done.write_text("")


def write_config(work: Path) -> str:
    cfg = {
        "warehouse": str(work / "warehouse"),
        "catalog": {"kind": "local", "path": str(work / "catalog.sqlite")},
        "tables": {
            "files": {
                "database": "bench",
                "source": {"path": "unused", "format": "csv", "schema": SCHEMA, "on_bad_records": "fail"},
                "partitions": [{"name": "d"}],
            }
        },
    }
    path = work / "scale.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def plan_seconds(spark, cfg: str, inp: Path) -> float:
    """lakeloader's plan stage, as `lakeloader run --dry-run` times it."""
    opts = RunOptions(run_date=RUN_DATE, input_uri=str(inp), dry_run=True)
    summary = run_table(spark, load_config(cfg), "files", opts)
    return summary.manifest.timings_s["plan"]


def input_files_seconds(spark, inp: Path) -> tuple[float, int]:
    """Spark's own listing of the same input: `spark.read.csv(dir).inputFiles()`."""
    t = time.monotonic()
    n = len(spark.read.schema(SCHEMA).csv(f"file://{inp}").inputFiles())
    return time.monotonic() - t, n


def listing_series(args, spark, work: Path) -> str:
    cfg = write_config(work)
    rows = []
    for n in args.input_files:
        inp = work / f"input-{n}"
        t = time.monotonic()
        make_files(inp, n)
        print(f"{n:,} files ready in {time.monotonic() - t:.0f}s", flush=True)
        input_files_seconds(spark, inp)  # warm the OS's directory cache for both contenders
        ours, theirs = [], []
        for r in range(args.repeat):
            order = [0, 1] if r % 2 == 0 else [1, 0]  # interleaved: neither always runs on a warmer machine
            for k in order:
                if k == 0:
                    ours.append(plan_seconds(spark, cfg, inp))
                else:
                    s, listed = input_files_seconds(spark, inp)
                    theirs.append(s)
                    assert listed == n, f"inputFiles() saw {listed} files, expected {n}"
        p, s = statistics.median(ours), statistics.median(theirs)
        rows.append((n, p, s))
        print(f"{n:,} files: plan {p:.2f}s, inputFiles() {s:.2f}s, ratio {p / s:.2f}", flush=True)
    a, b = linear_fit([r[0] for r in rows], [r[1] for r in rows])
    sa, sb = linear_fit([r[0] for r in rows], [r[2] for r in rows])
    lines = [
        "| input files | plan s (median) | inputFiles() s (median) | plan / inputFiles() |",
        "|---|---|---|---|",
        *[f"| {n:,} | {p:.2f} | {s:.2f} | {p / s:.2f}x |" for n, p, s in rows],
    ]
    fit = (
        f"fitted: plan = {a:.2f} s + {b * 1e6:.1f} s per million files; "
        f"inputFiles() = {sa:.2f} s + {sb * 1e6:.1f} s per million files"
    )
    return "\n".join(["### Input listing: lakeloader plan vs Spark's inputFiles(), same session, interleaved", "",
                      *lines, "", fit, ""])  # fmt: skip


def csv_ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input-files", type=csv_ints, default=[1000, 10000, 50000, 200000], help="file counts")
    p.add_argument("--repeat", type=int, default=3, help="rounds per size, contenders interleaved; median reported")
    p.add_argument("--work", default=str(ROOT / "bench" / ".work" / "scale"), help="inputs are kept here")
    p.add_argument("--results", default=str(ROOT / "bench" / "RESULTS.md"))
    args = p.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    spark = build_session("lakeloader-scale-bench", {"spark.sql.shuffle.partitions": "4"}, local=True)
    spark.sparkContext.setLogLevel("ERROR")
    command = "python " + " ".join(["bench/scale_bench.py", *sys.argv[1:]])
    blocks = [listing_series(args, spark, work)] if args.input_files else []
    head = (
        f"## Scale: driver time vs file count\n\n- command: `{command}`\n"
        f"- commit: {git_commit()}, date: {dt.date.today()}, machine: {os.cpu_count()} cores, local[*], "
        "**shared with other engineers' Spark jobs while measured** (ratios measured side by side hold; "
        "absolute seconds are pessimistic)\n\n"
    )
    block = head + "\n".join(blocks) + "\n"
    print(block)
    with open(args.results, "a", encoding="utf-8") as f:
        f.write(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
