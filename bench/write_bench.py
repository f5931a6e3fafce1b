"""Write benchmark: plain partitionBy, the repartition(cols) idiom, DuckDB COPY and `lakeloader run`, in one run.

    .venv/bin/python bench/write_bench.py [--rows 5000000] [--repeat 3] [--work bench/.work]
    .venv/bin/python bench/write_bench.py --scaling [1,2,5,10]   # lakeloader alone at 1, 2, 5, 10 M rows

awswrangler (to_parquet with Glue) is not a contender: every awswrangler release either requires
pyarrow<26 (constraints.txt pins 26.0.1) or numpy<2 (pyarrow 26 needs numpy>=2), see RESULTS.md.

One generated CSV input (date x country = 600 partitions, 60 % of rows on one country), the same
Spark settings for every contender, each in its own SparkContext with an event log, from which the
write stage's task durations and the input bytes read are taken. Prints a table and appends it to
bench/RESULTS.md, and redraws the chart bench/results.png from bench/results.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from lakeloader.session import build_session  # noqa: E402

SCHEMA = "event_id BIGINT, event_ts TIMESTAMP, user_id STRING, country STRING, amount DECIMAL(12,2), payload STRING"
COUNTRIES = ["US"] + ["GB", "DE", "FR", "IN", "BR", "JP", "CA", "AU", "MX", "ES", "IT", "NL", "SE", "PL", "KR",
                      "AR", "ZA", "NG", "EG"]  # fmt: skip
DAYS = 30


def generate(spark, out: Path, rows: int) -> None:
    """5 M rows ~ 540 MB of CSV: 30 days x 20 countries, 60 % of the rows on US."""
    from pyspark.sql import functions as F

    others = F.array(*[F.lit(c) for c in COUNTRIES[1:]])
    h = F.pmod(F.xxhash64(F.col("id")), F.lit(1000))
    df = spark.range(rows).select(
        F.col("id").alias("event_id"),
        (F.lit(dt.datetime(2026, 10, 1).timestamp()) + F.pmod(F.col("id") * 7919, F.lit(DAYS * 86400)))
        .cast("timestamp")
        .alias("event_ts"),
        F.format_string("u%06d", F.pmod(F.col("id") * 31, F.lit(250000))).alias("user_id"),
        F.when(h < 600, F.lit("US"))
        .otherwise(F.element_at(others, (F.pmod(h, F.lit(19)) + 1).cast("int")))
        .alias("country"),
        (F.pmod(F.col("id") * 13, F.lit(500000)) / 100).cast("decimal(12,2)").alias("amount"),
        F.sha2(F.col("id").cast("string"), 256).alias("payload"),
    )
    df.write.mode("overwrite").option("header", True).csv(str(out))


def session(events: Path, name: str):
    events.mkdir(parents=True, exist_ok=True)
    conf = {
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": f"file://{events}",
        "spark.eventLog.compress": "false",
    }
    return build_session(name, conf, local=True)


def event_stats(events: Path, app_id: str) -> dict:
    """Write-stage task skew and total input bytes from one application's event log."""
    (log,) = glob.glob(str(events / f"{app_id}*"))
    tasks: dict[int, list[dict]] = {}
    for line in open(log, encoding="utf-8"):
        e = json.loads(line)
        if e.get("Event") == "SparkListenerTaskEnd":
            tasks.setdefault(e["Stage ID"], []).append(e)
    read = sum(
        t.get("Task Metrics", {}).get("Input Metrics", {}).get("Bytes Read", 0) for ts in tasks.values() for t in ts
    )

    def written(ts):
        return sum(t.get("Task Metrics", {}).get("Output Metrics", {}).get("Records Written", 0) for t in ts)

    write_stage = max(tasks, key=lambda s: (written(tasks[s]) > 0, written(tasks[s]), s))
    durations = [t["Task Info"]["Finish Time"] - t["Task Info"]["Launch Time"] for t in tasks[write_stage]]
    durations = [d for d in durations if d >= 0]
    return {
        "input_bytes_read": read,
        "write_tasks": len(durations),
        "max_task_s": max(durations) / 1000,
        "median_task_s": statistics.median(durations) / 1000,
    }


def files_report(table: Path) -> dict:
    per: dict[str, list[int]] = {}
    for f in table.rglob("*.parquet"):
        if f.name.startswith((".", "_")):
            continue
        key = "/".join(p for p in f.relative_to(table).parts[:-1] if not p.startswith("_v="))
        per.setdefault(key, []).append(f.stat().st_size)
    files = sum(len(v) for v in per.values())
    return {"partitions": len(per), "files": files, "max_files_per_partition": max(len(v) for v in per.values()),
            "bytes": sum(sum(v) for v in per.values()), "per_partition": per}  # fmt: skip


def bound_ok(per: dict[str, list[int]], target_mb: int) -> bool:
    return all(len(v) <= math.ceil(sum(v) / (target_mb * 2**20)) + 1 for v in per.values())


def spark_idiom(name: str, inp: Path, out: Path, events: Path, repartition: bool) -> dict:
    from pyspark.sql import functions as F

    spark = session(events, name)
    t = time.monotonic()
    df = spark.read.option("header", True).schema(SCHEMA).csv(str(inp)).withColumn("dt", F.to_date("event_ts"))
    if repartition:
        df = df.repartition("dt", "country")
    df.write.mode("overwrite").partitionBy("dt", "country").parquet(str(out))
    wall = time.monotonic() - t
    app = spark.sparkContext.applicationId
    spark.stop()
    return {"tool": name, "wall_s": wall, **event_stats(events, app), **files_report(out)}


DUCKDB_COLUMNS = {"event_id": "BIGINT", "event_ts": "TIMESTAMP", "user_id": "VARCHAR", "country": "VARCHAR",
                  "amount": "DECIMAL(12,2)", "payload": "VARCHAR"}  # fmt: skip


def duckdb_copy(inp: Path, out: Path) -> dict:
    """Single-node DuckDB: read the CSV, derive dt, COPY ... PARTITION_BY (dt, country), all cores."""
    import duckdb

    shutil.rmtree(out, ignore_errors=True)
    con = duckdb.connect()
    cols = "{" + ", ".join(f"'{k}': '{v}'" for k, v in DUCKDB_COLUMNS.items()) + "}"
    t = time.monotonic()
    con.execute(
        f"COPY (SELECT *, CAST(event_ts AS DATE) AS dt FROM read_csv('{inp}/*.csv', header=true, columns={cols})) "
        f"TO '{out}' (FORMAT parquet, PARTITION_BY (dt, country))"
    )
    wall = time.monotonic() - t
    con.close()
    na = {"input_bytes_read": None, "write_tasks": None, "max_task_s": None, "median_task_s": None}
    return {"tool": "DuckDB COPY", "wall_s": wall, **na, **files_report(out)}


def lakeloader_run(inp: Path, work: Path, events: Path, target_mb: int) -> dict:
    from lakeloader.config import load_config
    from lakeloader.pipeline import RunOptions, run_table

    cfg = work / "bench.yaml"
    cfg.write_text(yaml.safe_dump({
        "warehouse": str(work / "lake"),
        "catalog": {"kind": "local", "path": str(work / "catalog.sqlite")},
        "tables": {"events": {
            "database": "bench",
            "source": {"path": str(inp), "format": "csv", "options": {"header": True}, "schema": SCHEMA,
                       "on_bad_records": "fail"},
            "partitions": [{"name": "dt", "from": "event_ts", "transform": "date"}, {"name": "country"}],
            "target_file_mb": target_mb,
            "checks": [{"kind": "not_null", "column": "event_id"}],
        }},
    }))  # fmt: skip
    spark = session(events, "lakeloader")
    t = time.monotonic()
    summary = run_table(spark, load_config(cfg), "events", RunOptions(run_date=dt.date(2026, 10, 31)))
    wall = time.monotonic() - t
    app = spark.sparkContext.applicationId
    spark.stop()
    stats = {"tool": "lakeloader run", "wall_s": wall, **event_stats(events, app)}
    stats.update(files_report(work / "lake" / "bench" / "events"))
    stats["timings"] = summary.manifest.timings_s
    stats["glue_calls"] = math.ceil(len(summary.manifest.partitions) / 100)
    stats["manifest_files"] = summary.manifest.files
    return stats


def fmt_opt(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def commit_and_machine() -> tuple[str, str]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return commit, f"{os.cpu_count()} cores, local[*], same Spark settings"


def generate_input(work: Path, rows: int) -> tuple[Path, int]:
    inp = work / "input"
    shutil.rmtree(inp, ignore_errors=True)
    spark = build_session("bench-generate", local=True)
    generate(spark, inp, rows)
    spark.stop()
    src_bytes = sum(f.stat().st_size for f in inp.glob("*.csv"))
    print(f"input: {rows:,} rows, {src_bytes / 2**20:.0f} MiB CSV", flush=True)
    for f in inp.glob("*.csv"):  # warm the page cache so every contender reads from memory
        f.read_bytes()
    return inp, src_bytes


def reset_lakeloader(work: Path) -> None:
    shutil.rmtree(work / "lake", ignore_errors=True)
    (work / "catalog.sqlite").unlink(missing_ok=True)


def load_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def save_json(path: Path, key: str, value) -> dict:
    data = load_json(path)
    data[key] = value
    path.write_text(json.dumps(data, indent=1) + "\n")
    return data


def draw_chart(data: dict, out: Path) -> None:
    """Left: median wall time per tool (ratio to plain Spark on the bar). Right: lakeloader time vs rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    compare, scaling = data.get("compare"), data.get("scaling")
    panels = [p for p in (compare, scaling) if p]
    if not panels:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.2), squeeze=False)
    axes = list(axes[0])
    if compare:
        ax = axes.pop(0)
        tools = compare["tools"]
        names = [t["tool"] for t in tools][::-1]
        walls = [t["wall_s"] for t in tools][::-1]
        colors = ["tab:orange" if n == "lakeloader run" else "tab:gray" for n in names]
        bars = ax.barh(names, walls, color=colors)
        plain = next(t["wall_s"] for t in tools if t["tool"] == "plain partitionBy")
        files = [t["files"] for t in tools][::-1]
        for bar, w, nf in zip(bars, walls, files):
            label = f" {w:.1f} s  ({w / plain:.2f}x plain), {nf} files"
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, label, va="center", fontsize=9)
        ax.set_xlim(0, max(walls) * 1.7)
        ax.set_xlabel("wall time, s (median of rounds; shorter is better)")
        ax.set_title(f"Write {compare['rows']:,} rows into {compare['partitions']} partitions", fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
    if scaling:
        ax = axes.pop(0)
        pts = scaling["points"]
        rows = [p["rows"] / 1e6 for p in pts]
        walls = [p["wall_s"] for p in pts]
        ax.plot(rows, walls, "o-", color="tab:orange", label="lakeloader run")
        ref = [walls[0] * r / rows[0] for r in rows]
        ax.plot(rows, ref, "--", color="tab:gray", label="linear through first point")
        for r, w, p in zip(rows, walls, pts):
            ax.annotate(f"{p['files']} files, {p['glue_calls']} Glue calls", (r, w), textcoords="offset points",
                        xytext=(4, -12), fontsize=8)  # fmt: skip
        ax.set_xlabel("input rows, millions")
        ax.set_ylabel("wall time, s")
        ax.set_xlim(0, max(rows) * 1.25)
        ax.set_ylim(0, max(walls + ref) * 1.15)
        ax.set_title("lakeloader scaling (below the dashed line = better than linear)", fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def scaling_series(args, sizes_m: list[float]) -> int:
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    events = work / "events"
    points = []
    for i, m in enumerate(sizes_m):
        rows = int(m * 1_000_000)
        inp, src_bytes = generate_input(work, rows)
        if i == 0:  # warm-up, not recorded: the first run in a process pays JVM start-up and JIT
            reset_lakeloader(work)
            lakeloader_run(inp, work, events, args.target_mb)
        reset_lakeloader(work)
        r = lakeloader_run(inp, work, events, args.target_mb)
        points.append(
            {
                "rows": rows,
                "mib": src_bytes / 2**20,
                "wall_s": r["wall_s"],
                "files": r["files"],
                "partitions": r["partitions"],
                "glue_calls": r["glue_calls"],
                "timings": r["timings"],
            }
        )
        print(f"{rows:,} rows: {r['wall_s']:.1f}s, {r['files']} files, {r['glue_calls']} Glue calls", flush=True)
    commit, machine = commit_and_machine()
    base = points[0]
    lines = ["| rows | MiB CSV | wall s | s per M rows | vs linear from first | files | partitions | Glue calls |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for p in points:
        linear = base["wall_s"] * p["rows"] / base["rows"]
        lines.append(
            f"| {p['rows']:,} | {p['mib']:.0f} | {p['wall_s']:.1f} | {p['wall_s'] / (p['rows'] / 1e6):.2f} | "
            f"{p['wall_s'] / linear:.2f}x | {p['files']} | {p['partitions']} | {p['glue_calls']} |"
        )
    arg = ",".join(f"{m:g}" for m in sizes_m)
    block = "\n".join([
        f"\n## Scaling: lakeloader run alone at {arg} M rows",
        "",
        f"- command: `.venv/bin/python bench/write_bench.py --scaling {arg}` (`make bench`)",
        f"- commit: {commit}, date: {dt.date.today()}, machine: {machine}; one round per size, after one "
        "unrecorded warm-up run on the first size",
        "- Glue calls: ceil(partitions / 100) from the run manifest (batch_create_partition takes 100)",
        "",
        *lines,
        "",
    ])  # fmt: skip
    print(block)
    with open(args.results, "a", encoding="utf-8") as f:
        f.write(block)
    data = save_json(Path(args.json), "scaling", {"points": points, "commit": commit})
    draw_chart(data, Path(args.chart))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--work", default=str(ROOT / "bench" / ".work"))
    p.add_argument("--target-mb", type=int, default=256)
    p.add_argument("--results", default=str(ROOT / "bench" / "RESULTS.md"))
    p.add_argument("--json", default=str(ROOT / "bench" / "results.json"), help="last numbers, the chart's data")
    p.add_argument("--chart", default=str(ROOT / "bench" / "results.png"))
    p.add_argument("--repeat", type=int, default=3, help="rounds, contenders interleaved; wall time is the median")
    p.add_argument(
        "--scaling",
        nargs="?",
        const="1,2,5,10",
        metavar="M,M,...",
        help="run lakeloader alone at these sizes in millions of rows (default 1,2,5,10) instead",
    )
    args = p.parse_args()
    if args.scaling:
        return scaling_series(args, [float(x) for x in args.scaling.split(",")])
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    events = work / "events"
    inp, src_bytes = generate_input(work, args.rows)

    rounds = []
    for n in range(args.repeat):
        for d in ("plain", "repartition"):
            shutil.rmtree(work / d, ignore_errors=True)
        reset_lakeloader(work)
        rounds.append([
            spark_idiom("plain partitionBy", inp, work / "plain", events, repartition=False),
            spark_idiom("repartition(cols)", inp, work / "repartition", events, repartition=True),
            duckdb_copy(inp, work / "duckdb"),
            lakeloader_run(inp, work, events, args.target_mb),
        ])  # fmt: skip
        print(f"round {n + 1}: " + ", ".join(f"{r['tool']} {r['wall_s']:.1f}s" for r in rounds[-1]), flush=True)
    results = rounds[-1]
    for i, r in enumerate(results):
        r["walls"] = [rd[i]["wall_s"] for rd in rounds]
        r["wall_s"] = statistics.median(r["walls"])
    plain = results[0]["wall_s"]
    idiom = results[1]["wall_s"]
    lake = next(r for r in results if r["tool"] == "lakeloader run")
    columns = [
        "tool", "wall s (median)", "rounds", "vs plain", "vs repartition", "files", "files/partition (max)",
        "within file bound", "write tasks", "max/median task", "input read / source",
    ]  # fmt: skip
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in results:
        skew = None
        if r["median_task_s"] is not None:
            skew = r["max_task_s"] / r["median_task_s"] if r["median_task_s"] else float("inf")
        read = None if r["input_bytes_read"] is None else r["input_bytes_read"] / src_bytes
        cells = [
            r["tool"], f"{r['wall_s']:.1f}", " / ".join(f"{w:.1f}" for w in r["walls"]),
            f"{r['wall_s'] / plain:.2f}x", f"{r['wall_s'] / idiom:.2f}x", str(r["files"]),
            f"{r['files'] / r['partitions']:.2f} ({r['max_files_per_partition']})",
            str(bound_ok(r["per_partition"], args.target_mb)),
            fmt_opt(r["write_tasks"], "d"), fmt_opt(skew, ".2f"), fmt_opt(read, ".2f"),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    commit, machine = commit_and_machine()
    lakeloader_timings = ", ".join(f"{k} {v:.1f}s" for k, v in lake["timings"].items())
    block = "\n".join([
        f"\n## Write: {args.rows:,} rows, {src_bytes / 2**20:.0f} MiB CSV, {results[0]['partitions']} partitions, "
        f"60 % of rows on one country",
        "",
        f"- command: `.venv/bin/python bench/write_bench.py --rows {args.rows} --repeat {args.repeat}` (`make bench`)",
        f"- commit: {commit}, date: {dt.date.today()}, machine: {machine}",
        f"- lakeloader stages: {lakeloader_timings}",
        "- DuckDB: single process, all cores, `COPY (SELECT ... FROM read_csv(...)) TO ... PARTITION_BY (dt, country)`;"
        " task skew and input bytes are Spark event-log figures (n/a)",
        "- awswrangler + Glue: not run. awswrangler >= 3.1.1 requires pyarrow < 26 (constraints.txt pins 26.0.1);"
        " 3.1.0 installs but requires numpy < 2, which pyarrow 26 refuses to import with",
        "",
        *lines,
        "",
    ])  # fmt: skip
    print(block)
    with open(args.results, "a", encoding="utf-8") as f:
        f.write(block)
    keep = ("tool", "wall_s", "walls", "files", "partitions", "max_files_per_partition")
    data = save_json(Path(args.json), "compare", {
        "rows": args.rows, "partitions": results[0]["partitions"], "commit": commit,
        "tools": [{k: r[k] for k in keep} for r in results],
    })  # fmt: skip
    draw_chart(data, Path(args.chart))
    return 0


if __name__ == "__main__":
    sys.exit(main())
