"""Scale bench: driver time per stage as the input's file count grows, with the fitted growth per unit.

    python bench/scale_bench.py --input-files 1000,10000,50000,200000 --past-runs 1,100,1000,5000 \
        --output-files 1000,5000,20000

Input listing: N small CSV files in 100 partition folders. For each N, in one Spark session and
interleaved, lakeloader's `plan` stage (`run --dry-run`: read, list, fingerprint the input, derive
the run id) against Spark's own `spark.read.csv(dir).inputFiles()` on the same files. Target
(issue 14): plan ≤ 1.5x inputFiles() at 50,000 files, and 200,000 files planned in under a minute.

Past runs: one table with a real published run, then H-1 more published manifests of the same
size (copies of the real one under other run ids, older). For each H, interleaved: `validate`,
a no-op rerun (`run` on the same input: already published) and `history --limit 20`, next to what
the former `validate` did first (read every manifest). Target: at 5,000 runs validate and the no-op
rerun within ±20 % of their time at 1 run.

Output files: one run writing F files (rows per file bounded with max_records_per_file) into 10
partitions. The time after the write job's last task (the statistics job, manifest, audit,
register, publish) as a share of the run's wall time. Target: ≤ 10 % at 20,000 files.

Every series appends a block to bench/RESULTS.md with the command that produced it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import logging
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


def plan_seconds(spark, cfg: str, inp: Path, n: int) -> float:
    """lakeloader's plan stage, as `lakeloader run --dry-run` times it."""
    opts = RunOptions(run_date=RUN_DATE, input_uri=str(inp), dry_run=True)
    summary = run_table(spark, load_config(cfg), "files", opts)
    assert summary.manifest.input_files == n, f"plan listed {summary.manifest.input_files} files, expected {n}"
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
                    ours.append(plan_seconds(spark, cfg, inp, n))
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


def events_config(root: Path, inp: Path, partitions: list, **table) -> Path:
    """A fresh warehouse and catalog under `root` and a config loading the sample events from `inp`."""
    from lakeloader.sample import SCHEMA_DDL

    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    source = {"path": str(inp), "format": "csv", "options": {"header": True}, "schema": SCHEMA_DDL,
              "on_bad_records": "drop"}  # fmt: skip
    cfg = {
        "warehouse": str(root / "warehouse"),
        "catalog": {"kind": "local", "path": str(root / "catalog.sqlite")},
        "tables": {"events": {"database": "bench", "partitions": partitions, "source": source, **table}},
    }
    path = root / "scale.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def past_runs_series(args, work: Path) -> str:
    from lakeloader import manifest as manifests
    from lakeloader.cli import main as cli
    from lakeloader.sample import generate

    inp = work / "history-input"
    if not inp.exists():
        generate(inp, rows=2_000, files=1, days=3, bad_rows=0, seed=5)
    rows = []
    for h in args.past_runs:
        root = work / f"history-{h}"
        checks = [{"kind": "not_null", "column": "event_id"}, {"kind": "row_count_change", "max_pct": 50}]
        path = events_config(root, inp, [{"name": "dt", "from": "event_ts", "transform": "date"}, {"name": "country"}],
                             checks=checks)  # fmt: skip
        argv = ["--config", str(path), "--table", "events"]
        run = ["run", *argv, "--run-date", str(RUN_DATE)]
        assert cli(run) == 0
        config = load_config(str(path))
        admin = config.admin_location(config.table("events"))
        (real,) = manifests.history(admin)
        text = manifests.manifest_uri(admin, real.run_id).removeprefix("file://")
        body = Path(text).read_text()
        for i in range(1, h):  # older published runs of the same size, written before the real one
            fake = body.replace(real.run_id, f"past-{i:05d}").replace(real.created_at, f"2020-01-01T00:00:{i % 60:02d}")
            f = Path(text).parent / f"past-{i:05d}.json"
            f.write_text(fake)
            os.utime(f, (1_600_000_000 + i, 1_600_000_000 + i))
        timings: dict[str, list[float]] = {"validate": [], "no-op rerun": [], "history --limit 20": [], "read all": []}
        for r in range(args.repeat + 1):  # round 0 warms up (engine start, imports) and is not counted
            for name, call in (
                ("validate", (cli, ["validate", *argv])),
                ("no-op rerun", (cli, run)),
                ("history --limit 20", (cli, ["history", *argv, "--limit", "20"])),
                ("read all", (manifests.history, admin)),
            ):
                t = time.monotonic()
                with contextlib.redirect_stdout(io.StringIO()):
                    call[0](call[1])
                if r:
                    timings[name].append(time.monotonic() - t)
        med = {k: statistics.median(v) for k, v in timings.items()}
        rows.append((h, med))
        print(f"{h:,} past runs: " + ", ".join(f"{k} {v:.2f}s" for k, v in med.items()), flush=True)
    base = rows[0][1]
    lines = [
        "| past runs | validate s | no-op rerun s | history --limit 20 s | former first step: read every manifest s |",
        "|---|---|---|---|---|",
        *[f"| {h:,} | {m['validate']:.2f} ({m['validate'] / base['validate']:.2f}x) | "
          f"{m['no-op rerun']:.2f} ({m['no-op rerun'] / base['no-op rerun']:.2f}x) | {m['history --limit 20']:.2f} | "
          f"{m['read all']:.2f} |" for h, m in rows],
    ]  # fmt: skip
    xs = [h for h, _ in rows]
    fits = {k: linear_fit(xs, [m[k] for _, m in rows])[1] * 1000 for k in base}
    fit = "fitted growth, s per 1,000 past runs: " + ", ".join(f"{k} {v:+.3f}" for k, v in fits.items())
    manifest_kb = len(body.encode()) / 1024
    title = (
        f"### Past runs: validate and a no-op rerun vs history length (manifests of {manifest_kb:.0f} KiB; "
        "(x) = time / time at the first size)"
    )
    return "\n".join([title, "", *lines, "", fit, ""])


class _WriteDone(logging.Handler):
    """Notes when the run's write stage ends (its "write done" log line)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.at = float("nan")

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("write done"):
            self.at = time.monotonic()


def output_files_series(args, work: Path) -> str:
    from lakeloader.cli import main as cli
    from lakeloader.sample import generate

    rows_in = 200_000
    inp = work / "output-input"
    if not inp.exists():
        generate(inp, rows=rows_in, files=2, days=10, bad_rows=0, seed=6)
    out = []
    for n in args.output_files:
        root = work / f"output-{n}"
        path = events_config(root, inp, [{"name": "dt", "from": "event_ts", "transform": "date"}],
                             checks=[], max_records_per_file=max(1, rows_in // n))  # fmt: skip
        mark = _WriteDone()
        logging.getLogger("lakeloader.pipeline").addHandler(mark)
        t = time.monotonic()
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                assert cli(["run", "--config", str(path), "--table", "events", "--run-date", str(RUN_DATE)]) == 0
        finally:
            logging.getLogger("lakeloader.pipeline").removeHandler(mark)
        end = time.monotonic()
        wall = end - t
        config = load_config(str(path))
        from lakeloader import manifest as manifests

        (m,) = manifests.history(config.admin_location(config.table("events")))
        tm = m.timings_s
        stats = tm.get("statistics (part of write)", 0.0)
        # The write stage ends with the statistics job: what follows its last task is that job plus
        # everything after the stage (manifest, audit, register, publish). The run's start-up before
        # `plan` (CLI imports, session, config) is in the wall, not in this tail.
        tail = stats + (end - mark.at)
        out.append((m.files, wall, tm["write"] - stats, stats, tail))
        print(f"{m.files:,} files: wall {wall:.1f}s, write job {tm['write'] - stats:.1f}s, statistics {stats:.1f}s, "
              f"after the last task {tail:.1f}s ({tail / wall:.0%})", flush=True)  # fmt: skip
    lines = [
        "| files written | run wall s | write job s | statistics job s | after the last write task s | share |",
        "|---|---|---|---|---|---|",
        *[f"| {f:,} | {w:.1f} | {j:.1f} | {st:.1f} | {t:.1f} | {t / w:.0%} |" for f, w, j, st, t in out],
    ]
    a, b = linear_fit([r[0] for r in out], [r[4] for r in out])
    fit = f"fitted: time after the last task = {a:.2f} s + {b * 1000:.2f} s per 1,000 files written"
    return "\n".join(["### Output files: time after the write's last task (200,000 rows, 10 partitions)", "",
                      *lines, "", fit, ""])  # fmt: skip


def csv_ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input-files", type=csv_ints, default=[1000, 10000, 50000, 200000], help="file counts")
    p.add_argument("--past-runs", type=csv_ints, default=[1, 100, 1000, 5000], help="history lengths")
    p.add_argument("--output-files", type=csv_ints, default=[1000, 5000, 20000], help="files a run writes")
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
    if args.past_runs:
        blocks.append(past_runs_series(args, work))
    if args.output_files:
        blocks.append(output_files_series(args, work))
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
