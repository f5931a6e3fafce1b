"""Write benchmark: plain partitionBy, the repartition(cols) idiom and a whole `lakeloader run`, in one run.

    .venv/bin/python bench/write_bench.py [--rows 5000000] [--work bench/.work]

One generated CSV input (date x country = 600 partitions, 60 % of rows on one country), the same
Spark settings for every contender, each in its own SparkContext with an event log, from which the
write stage's task durations and the input bytes read are taken. Prints a table and appends it to
bench/RESULTS.md.
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
    return stats


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--work", default=str(ROOT / "bench" / ".work"))
    p.add_argument("--target-mb", type=int, default=256)
    p.add_argument("--results", default=str(ROOT / "bench" / "RESULTS.md"))
    p.add_argument("--repeat", type=int, default=3, help="rounds, contenders interleaved; wall time is the median")
    args = p.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    events, inp = work / "events", work / "input"
    spark = build_session("bench-generate", local=True)
    generate(spark, inp, args.rows)
    spark.stop()
    src_bytes = sum(f.stat().st_size for f in inp.glob("*.csv"))
    print(f"input: {args.rows:,} rows, {src_bytes / 2**20:.0f} MiB CSV", flush=True)
    for f in inp.glob("*.csv"):  # warm the page cache so every contender reads from memory
        f.read_bytes()

    rounds = []
    for n in range(args.repeat):
        for d in ("plain", "repartition", "lake", "catalog.sqlite"):
            shutil.rmtree(work / d, ignore_errors=True) if d != "catalog.sqlite" else (work / d).unlink(missing_ok=True)
        rounds.append([
            spark_idiom("plain partitionBy", inp, work / "plain", events, repartition=False),
            spark_idiom("repartition(cols)", inp, work / "repartition", events, repartition=True),
            lakeloader_run(inp, work, events, args.target_mb),
        ])  # fmt: skip
        print(f"round {n + 1}: " + ", ".join(f"{r['tool']} {r['wall_s']:.1f}s" for r in rounds[-1]), flush=True)
    results = rounds[-1]
    for i, r in enumerate(results):
        r["walls"] = [rd[i]["wall_s"] for rd in rounds]
        r["wall_s"] = statistics.median(r["walls"])
    plain = results[0]["wall_s"]
    idiom = results[1]["wall_s"]
    columns = [
        "tool", "wall s (median)", "rounds", "vs plain", "vs repartition", "files", "max files/partition",
        "within file bound", "write tasks", "max/median task", "input read / source",
    ]  # fmt: skip
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in results:
        skew = r["max_task_s"] / r["median_task_s"] if r["median_task_s"] else float("inf")
        cells = [
            r["tool"], f"{r['wall_s']:.1f}", " / ".join(f"{w:.1f}" for w in r["walls"]),
            f"{r['wall_s'] / plain:.2f}x", f"{r['wall_s'] / idiom:.2f}x", str(r["files"]),
            str(r["max_files_per_partition"]), str(bound_ok(r["per_partition"], args.target_mb)),
            str(r["write_tasks"]), f"{skew:.2f}", f"{r['input_bytes_read'] / src_bytes:.2f}",
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    lakeloader_timings = ", ".join(f"{k} {v:.1f}s" for k, v in results[2]["timings"].items())
    block = "\n".join([
        f"\n## Write: {args.rows:,} rows, {src_bytes / 2**20:.0f} MiB CSV, {results[0]['partitions']} partitions, "
        f"60 % of rows on one country",
        "",
        f"- command: `.venv/bin/python bench/write_bench.py --rows {args.rows} --repeat {args.repeat}` (`make bench`)",
        f"- commit: {commit}, date: {dt.date.today()}, machine: {os.cpu_count()} cores, local[*], same Spark settings",
        f"- lakeloader stages: {lakeloader_timings}",
        "",
        *lines,
        "",
    ])  # fmt: skip
    print(block)
    with open(args.results, "a", encoding="utf-8") as f:
        f.write(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
