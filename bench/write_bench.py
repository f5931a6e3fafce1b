"""Write benchmark: plain partitionBy, the repartition(cols) idiom, DuckDB COPY, awswrangler and `lakeloader run`.

    .venv/bin/python bench/write_bench.py [--rows 5000000] [--repeat 3] [--work bench/.work]
    .venv/bin/python bench/write_bench.py --scaling [1,2,5,10]   # lakeloader alone at 1, 2, 5, 10 M rows
    .venv/bin/python bench/write_bench.py --partition-scaling [60,600,3000,6000] [--partition-rows 2000000]

One generated CSV input (date x country = 600 partitions, 60 % of rows on one country), the same
Spark settings for every Spark contender, each in its own SparkContext with an event log, from which
the write stage's task durations and the input bytes read are taken. Prints a table and appends it
to bench/RESULTS.md, and redraws the chart bench/results.png from bench/results.json.

awswrangler (`wr.s3.to_parquet(dataset=True, partition_cols=..., database=..., table=...)`) runs in
its own venv (bench/requirements-awswrangler.txt; it needs pyarrow < 26, the project pins 26.0.1),
built on first use under ~/.cache/lakeloader, as a subprocess writing to a moto server (S3 + Glue)
on 127.0.0.1 that this script starts for each round. If that venv cannot be built (no network), the
contender is skipped with one line saying why (`--no-awswrangler` skips it on purpose).

`--scaling` runs lakeloader alone over growing inputs at 600 partitions; `--partition-scaling` runs
it over a fixed number of rows spread over a growing number of days (20 countries a day).
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lib"), str(ROOT)]

from bench.common import CACHE, cpu_seconds, free_port, git_commit, linear_fit, pinned_venv, wait_for_port  # noqa: E402
from lakeloader import jvm  # noqa: E402
from lakeloader.aws import client as aws_client  # noqa: E402
from lakeloader.catalog.glue import GlueCatalog  # noqa: E402
from lakeloader.config import AwsConfig  # noqa: E402
from lakeloader.session import S3A_COMMITTER_CONF, build_session  # noqa: E402
from lakeloader.storage import list_files  # noqa: E402

SCHEMA = "event_id BIGINT, event_ts TIMESTAMP, user_id STRING, country STRING, amount DECIMAL(12,2), payload STRING"
COUNTRIES = ["US"] + ["GB", "DE", "FR", "IN", "BR", "JP", "CA", "AU", "MX", "ES", "IT", "NL", "SE", "PL", "KR",
                      "AR", "ZA", "NG", "EG"]  # fmt: skip
DAYS = 30


def generate(spark, out: Path, rows: int, days: int = DAYS) -> None:
    """5 M rows ~ 540 MB of CSV: `days` (30) days x 20 countries, 60 % of the rows on US."""
    from pyspark.sql import functions as F

    others = F.array(*[F.lit(c) for c in COUNTRIES[1:]])
    h = F.pmod(F.xxhash64(F.col("id")), F.lit(1000))
    df = spark.range(rows).select(
        F.col("id").alias("event_id"),
        (F.lit(dt.datetime(2026, 10, 1).timestamp()) + F.pmod(F.col("id") * 7919, F.lit(days * 86400)))
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


def files_report(root: str | Path, endpoint: str | None = None) -> dict:
    """Parquet files per partition below a local folder, or an s3:// prefix on the moto server at `endpoint`;
    version directories (`_v=`) are folded into their partition."""
    root = str(root) if "://" in str(root) else str(Path(root).resolve())
    aws = AwsConfig(region="us-east-1", endpoint_url=endpoint) if endpoint else None
    base = root.rstrip("/") if "://" in root else f"file://{root}"
    per: dict[str, list[int]] = {}
    for f in list_files(root, aws, suffix=".parquet"):
        dirs = f.uri[len(base) + 1 :].split("/")[:-1]
        per.setdefault("/".join(d for d in dirs if not d.startswith("_v=")), []).append(f.size)
    files = sum(len(v) for v in per.values())
    return {"partitions": len(per), "files": files, "max_files_per_partition": max(map(len, per.values()), default=0),
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


def lakeloader_run(inp: Path, work: Path, events: Path, target_mb: int, endpoint: str | None = None) -> dict:
    """`lakeloader run` in-process: to the local warehouse and catalog, or to S3 + Glue at a moto `endpoint`."""
    from lakeloader.config import load_config
    from lakeloader.pipeline import RunOptions, run_table

    cfg = work / "bench.yaml"
    target: dict = {
        "warehouse": str(work / "lake"),
        "catalog": {"kind": "local", "path": str(work / "catalog.sqlite")},
    }
    if endpoint:
        target = {
            "aws": {"region": "us-east-1", "endpoint_url": endpoint},
            "warehouse": f"s3://{S3_BUCKET}/lake",
            "catalog": {"kind": "glue"},
        }
    cfg.write_text(yaml.safe_dump({
        **target,
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
    stats = {"tool": LAKELOADER_S3 if endpoint else "lakeloader run", "wall_s": wall, **event_stats(events, app)}
    if endpoint:
        stats.update(files_report(f"s3://{S3_BUCKET}/lake/bench/events/", endpoint))
        stats["glue_partitions"] = glue_partition_count(endpoint, "bench", "events")
    else:
        stats.update(files_report(work / "lake" / "bench" / "events"))
    stats["timings"] = summary.manifest.timings_s
    stats["glue_calls"] = math.ceil(len(summary.manifest.partitions) / 100)
    stats["manifest_files"] = summary.manifest.files
    return stats


S3_BUCKET = "bench"
LAKELOADER_S3 = "lakeloader run, S3 + Glue"
CONTENDERS = {  # table name -> --only name
    "plain partitionBy": "plain",
    "repartition(cols)": "repartition",
    "DuckDB COPY": "duckdb",
    "awswrangler + Glue": "awswrangler",
    "lakeloader run": "lakeloader",
    LAKELOADER_S3: "lakeloader-s3",
}
WRANGLER_REQUIREMENTS = ROOT / "bench" / "requirements-awswrangler.txt"
WRANGLER_SCRIPT = ROOT / "bench" / "awswrangler_contender.py"
FAKE_AWS = {  # a benchmark never reaches AWS: fake keys, no profile or config files, no instance metadata
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def awswrangler_python(venv: Path) -> tuple[Path | None, str]:
    """The awswrangler venv's python, (re)built when missing or its pins changed; (None, why) if it cannot be."""
    return pinned_venv(venv, WRANGLER_REQUIREMENTS, "import awswrangler, pandas, pyarrow, numpy", timeout_s=600)


def moto_server(log: Path) -> tuple[subprocess.Popen, str]:
    """A fresh moto server (S3 + Glue, in memory) on 127.0.0.1 at a free port, in its own process."""
    port = free_port()
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **FAKE_AWS},
        )  # fmt: skip
    if wait_for_port(port, 30.0, alive=lambda: proc.poll() is None):
        return proc, f"http://127.0.0.1:{port}"
    proc.kill()
    raise RuntimeError(f"moto server did not listen on 127.0.0.1:{port} (log: {log})")


def glue_partition_count(endpoint: str, database: str, table: str) -> int:
    return len(GlueCatalog(AwsConfig(region="us-east-1", endpoint_url=endpoint)).get_partitions(database, table))


REQUEST = re.compile(r'"(?:\x1b\[[0-9;]*m)*(HEAD|GET|PUT|POST|DELETE) (\S+) HTTP')


def request_counts(log: Path, bucket: str = S3_BUCKET) -> dict[str, int]:
    """HTTP requests in a moto server's access log, by kind (S3 LIST told apart from GET; Glue calls are POST /)."""
    counts: Counter = Counter()
    for line in log.read_text(errors="replace").splitlines():
        m = REQUEST.search(line)
        if m is None:
            continue
        method, path = m.groups()
        if path == "/" or path.startswith("/?"):
            kind = "Glue/STS"
        elif method == "GET" and re.match(rf"/{bucket}/?(\?|$)", path):
            kind = "S3 LIST"
        else:
            kind = f"S3 {method}"
        counts[kind] += 1
    return dict(sorted(counts.items()))


@contextmanager
def moto_round(work: Path, name: str):
    """A fresh moto server with its own access log; fills moto_cpu_s and requests into the yielded dict on exit."""
    log = work / f"moto-{name}.log"
    log.unlink(missing_ok=True)
    server, endpoint = moto_server(log)
    out: dict = {"endpoint": endpoint}
    cpu0 = cpu_seconds(server.pid)
    try:
        yield out
    finally:
        cpu1 = cpu_seconds(server.pid)
        server.terminate()
        server.wait(timeout=30)
    out["moto_cpu_s"] = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
    out["requests"] = request_counts(log)


def lakeloader_s3(inp: Path, work: Path, events: Path, target_mb: int) -> dict:
    """`lakeloader run` writing through s3a to a fresh moto server (S3 + Glue), as awswrangler does."""
    with moto_round(work, "lakeloader") as moto:
        aws_client("s3", AwsConfig(region="us-east-1", endpoint_url=moto["endpoint"])).create_bucket(Bucket=S3_BUCKET)
        stats = lakeloader_run(inp, work, events, target_mb, endpoint=moto["endpoint"])
    committer = S3A_COMMITTER_CONF["spark.hadoop.fs.s3a.committer.name"]
    return {**stats, "moto_cpu_s": moto["moto_cpu_s"], "requests": moto["requests"], "committer": committer}


def awswrangler_write(python: Path, inp: Path, work: Path) -> dict:
    """One awswrangler run in its venv against a fresh moto server; files and Glue partitions counted here."""
    bucket, prefix, database, table = S3_BUCKET, "awswrangler/events/", "bench", "events"
    with moto_round(work, "awswrangler") as moto:
        endpoint = moto["endpoint"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON", "VIRTUAL_ENV"))}
        env.update(FAKE_AWS)
        env.update({f"AWS_ENDPOINT_URL{s}": endpoint for s in ("", "_S3", "_GLUE", "_STS")})
        cmd = [str(python), str(WRANGLER_SCRIPT), "--input", str(inp), "--path", f"s3://{bucket}/{prefix}",
               "--database", database, "--table", table]  # fmt: skip
        t = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        process_s = time.monotonic() - t
        if r.returncode != 0:
            tail = (r.stderr.strip().splitlines() or r.stdout.strip().splitlines() or [f"exit {r.returncode}"])[-1]
            raise RuntimeError(f"awswrangler contender failed: {tail}")
        inside = json.loads(r.stdout.strip().splitlines()[-1])
        files = files_report(f"s3://{bucket}/{prefix}", endpoint)
        registered = glue_partition_count(endpoint, database, table)
    na = {"input_bytes_read": None, "write_tasks": None, "max_task_s": None, "median_task_s": None}
    return {
        "tool": "awswrangler + Glue", "wall_s": inside["wall_s"], **na, **files,
        "process_s": process_s, "read_s": inside["read_s"], "to_parquet_s": inside["write_s"],
        "glue_partitions": registered, "calls": inside["calls"], "peak_rss_mib": inside["peak_rss_mib"],
        "versions": inside["versions"], "glue_types": inside.get("glue_types"),
        "moto_cpu_s": moto["moto_cpu_s"], "requests": moto["requests"],
    }  # fmt: skip


def requests_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {n:,}" for k, n in counts.items()) + f" ({sum(counts.values()):,} in all)"


def per_file(r: dict) -> float:
    """HTTP requests the moto server logged per Parquet file written (the whole run: write, stats, audit, Glue)."""
    return sum(r["requests"].values()) / r["files"] if r["files"] else float("nan")


def s3_versus(s3: dict, wr: dict | None) -> str:
    """The S3 line of `make bench`: requests per written file (target <= 6) and wall time against awswrangler's."""
    text = f"lakeloader to S3: {per_file(s3):.1f} requests per written file (target <= 6), wall {s3['wall_s']:.1f} s"
    if wr is None:
        return text + "; awswrangler not run"
    return (
        text + f"; awswrangler {per_file(wr):.1f} requests per file, wall {wr['wall_s']:.1f} s: "
        f"lakeloader/awswrangler wall {s3['wall_s'] / wr['wall_s']:.2f}x (target <= 1.0)"
    )


def fmt_opt(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def commit_and_machine() -> tuple[str, str]:
    return git_commit(), f"{os.cpu_count()} cores, local[*], same Spark settings"


def generate_input(work: Path, rows: int, days: int = DAYS) -> tuple[Path, int]:
    inp = work / "input"
    shutil.rmtree(inp, ignore_errors=True)
    spark = build_session("bench-generate", local=True)
    generate(spark, inp, rows, days)
    spark.stop()
    src_bytes = sum(f.stat().st_size for f in inp.glob("*.csv"))
    mib = src_bytes / 2**20
    print(f"input: {rows:,} rows, {mib:.0f} MiB CSV, {days} days x {len(COUNTRIES)} countries", flush=True)
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
    """Median wall time per tool (ratio to plain Spark on the bar); lakeloader time vs rows; vs partitions."""
    try:
        import matplotlib
    except ImportError:  # the numbers are already recorded; the chart is the bench extra's job (make bench)
        print(f"chart {out} not drawn: matplotlib is not installed (make bench installs the 'bench' extra)")
        return

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    compare, scaling, by_parts = data.get("compare"), data.get("scaling"), data.get("partition_scaling")
    panels = [p for p in (compare, scaling, by_parts) if p]
    if not panels:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.4), squeeze=False)
    axes = list(axes[0])
    if compare:
        ax = axes.pop(0)
        tools = compare["tools"]
        names = [t["tool"] for t in tools][::-1]
        walls = [t["wall_s"] for t in tools][::-1]
        colors = ["tab:orange" if n.startswith("lakeloader") else "tab:gray" for n in names]
        bars = ax.barh(names, walls, color=colors)
        plain = next(t["wall_s"] for t in tools if t["tool"] == "plain partitionBy")
        files = [t["files"] for t in tools][::-1]
        for bar, w, nf in zip(bars, walls, files, strict=False):
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
        for r, w, p in zip(rows, walls, pts, strict=False):
            ax.annotate(f"{p['files']} files, {p['glue_calls']} Glue calls", (r, w), textcoords="offset points",
                        xytext=(4, -12), fontsize=8)  # fmt: skip
        ax.set_xlabel("input rows, millions")
        ax.set_ylabel("wall time, s")
        ax.set_xlim(0, max(rows) * 1.25)
        ax.set_ylim(0, max(walls + ref) * 1.15)
        ax.set_title("lakeloader vs input size (below the dashed line = better than linear)", fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
        ax.spines[["top", "right"]].set_visible(False)
    if by_parts:
        ax = axes.pop(0)
        pts = by_parts["points"]
        parts = [p["partitions"] for p in pts]
        walls = [p["wall_s"] for p in pts]
        a, b = by_parts["fit"]
        ax.plot(parts, walls, "o-", color="tab:orange", label="lakeloader run")
        span = [0, max(parts) * 1.05]
        ax.plot(span, [a + b * x for x in span], "--", color="tab:gray",
                label=f"least-squares line: {a:.1f} s + {b * 1000:.2f} s / 1000 partitions")  # fmt: skip
        for x, w, p in zip(parts, walls, pts, strict=False):
            ax.annotate(f"{p['files']} files, {p['glue_calls']} Glue calls", (x, w), textcoords="offset points",
                        xytext=(4, -12), fontsize=8)  # fmt: skip
        ax.set_xlabel(f"partitions (days x 20 countries), {pts[0]['rows'] / 1e6:g} M rows each")
        ax.set_ylabel("wall time, s")
        ax.set_xlim(0, max(parts) * 1.3)
        ax.set_ylim(0, max(walls + [a + b * span[1]]) * 1.15)
        ax.set_title("lakeloader vs partition count (on the dashed line = linear)", fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def lakeloader_series(args, inputs: list[tuple[int, int]]):
    """lakeloader alone on generated inputs of (rows, days), one run each after an unrecorded warm-up run on the
    first (a process's first run pays JVM start-up and JIT); yields (source bytes, run stats) as each ends."""
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    events = work / "events"
    for i, (rows, days) in enumerate(inputs):
        inp, src_bytes = generate_input(work, rows, days)
        if i == 0:
            reset_lakeloader(work)
            lakeloader_run(inp, work, events, args.target_mb)
        reset_lakeloader(work)
        yield src_bytes, lakeloader_run(inp, work, events, args.target_mb)


def scaling_series(args, sizes_m: list[float]) -> int:
    points = []
    sizes = [(int(m * 1_000_000), DAYS) for m in sizes_m]
    for (rows, _), (src_bytes, r) in zip(sizes, lakeloader_series(args, sizes), strict=False):
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
    return record(args, block, "scaling", {"points": points, "commit": commit})


def record(args, block: str, key: str, value: dict) -> int:
    """Print a results block, append it to RESULTS.md, keep its numbers in results.json and redraw the chart."""
    print(block)
    with open(args.results, "a", encoding="utf-8") as f:
        f.write(block)
    draw_chart(save_json(Path(args.json), key, value), Path(args.chart))
    return 0


def partition_scaling_series(args, counts: list[int]) -> int:
    """lakeloader alone on the same number of rows spread over more and more partitions (days x 20 countries)."""
    rows = args.partition_rows
    points = []
    inputs = [(rows, target // len(COUNTRIES)) for target in counts]
    for target, (src_bytes, r) in zip(counts, lakeloader_series(args, inputs), strict=False):
        points.append({
            "rows": rows, "mib": src_bytes / 2**20, "days": target // len(COUNTRIES), "wall_s": r["wall_s"],
            "files": r["files"], "partitions": r["partitions"], "glue_calls": r["glue_calls"],
            "timings": r["timings"],
        })  # fmt: skip
        print(f"{r['partitions']} partitions: {r['wall_s']:.1f}s, {r['files']} files, {r['glue_calls']} Glue calls",
              flush=True)  # fmt: skip
        if r["partitions"] != target:
            print(f"warning: {r['partitions']} partitions written, {target} expected", flush=True)
    a, b = linear_fit([p["partitions"] for p in points], [p["wall_s"] for p in points])
    commit, machine = commit_and_machine()
    lines = ["| partitions | days | wall s | s per 1000 partitions | marginal s per 1000 (from previous) | "
             "linear fit s | write s | audit s | register s | files | files/partition | Glue calls |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    prev = None
    for p in points:
        t = p["timings"]
        marginal = ""
        if prev is not None:
            marginal = f"{(p['wall_s'] - prev['wall_s']) / (p['partitions'] - prev['partitions']) * 1000:.2f}"
        lines.append(
            f"| {p['partitions']} | {p['days']} | {p['wall_s']:.1f} | {p['wall_s'] / p['partitions'] * 1000:.2f} | "
            f"{marginal} | {a + b * p['partitions']:.1f} | {t.get('write', 0):.1f} | {t.get('audit', 0):.1f} | "
            f"{t.get('register', 0):.2f} | {p['files']} | {p['files'] / p['partitions']:.2f} | {p['glue_calls']} |"
        )  # fmt: skip
        prev = p
    arg = ",".join(str(c) for c in counts)
    worst = max(abs(p["wall_s"] - (a + b * p["partitions"])) for p in points)
    block = "\n".join([
        f"\n## Scaling: lakeloader run alone at {arg} partitions, {rows:,} rows",
        "",
        f"- command: `.venv/bin/python bench/write_bench.py --partition-scaling {arg} --partition-rows {rows}` "
        "(`make bench`)",
        f"- commit: {commit}, date: {dt.date.today()}, machine: {machine}; one round per count, after one "
        "unrecorded warm-up run on the first; the same rows spread over count / 20 days x 20 countries "
        f"({points[0]['mib']:.0f}-{points[-1]['mib']:.0f} MiB CSV), 60 % of rows on one country",
        "- Glue calls: ceil(partitions / 100) from the run manifest (batch_create_partition takes 100)",
        f"- least-squares line: wall = {a:.1f} s + {b * 1000:.2f} s per 1000 partitions; largest distance from it "
        f"{worst:.1f} s. Linear growth shows as a steady marginal cost; a quadratic term as a marginal cost that "
        "climbs with the count",
        "",
        *lines,
        "",
    ])  # fmt: skip
    return record(args, block, "partition_scaling", {"points": points, "commit": commit, "fit": [a, b]})


def compare(args) -> int:
    """The interleaved rounds of every contender on one input; medians into RESULTS.md, results.json, the chart."""
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    events = work / "events"
    wrangler, wrangler_note = None, "skipped (--no-awswrangler)"
    if args.only and "awswrangler" not in args.only:
        wrangler_note = "not selected (--only)"
    elif not args.no_awswrangler:
        wrangler, wrangler_note = awswrangler_python(Path(args.awswrangler_venv))
        print(f"awswrangler: {wrangler_note}" if wrangler else f"awswrangler: skipped, {wrangler_note}", flush=True)
    inp, src_bytes = generate_input(work, args.rows)

    contenders = [
        ("plain partitionBy", lambda: spark_idiom("plain partitionBy", inp, work / "plain", events, repartition=False)),
        ("repartition(cols)", lambda: spark_idiom("repartition(cols)", inp, work / "repartition", events, True)),
        ("DuckDB COPY", lambda: duckdb_copy(inp, work / "duckdb")),
        ("awswrangler + Glue", lambda: awswrangler_write(wrangler, inp, work)),
        ("lakeloader run", lambda: lakeloader_run(inp, work, events, args.target_mb)),
        (LAKELOADER_S3, lambda: lakeloader_s3(inp, work, events, args.target_mb)),
    ]
    if args.only:
        contenders = [c for c in contenders if CONTENDERS[c[0]] in args.only]
    if wrangler is None:
        contenders = [c for c in contenders if c[0] != "awswrangler + Glue"]
    s3_note = "" if jvm.jar_paths("spark") else "not run: the s3a jars are missing (`make install`)"
    if s3_note or (args.no_awswrangler and not args.only):
        s3_note = s3_note or "not run (--no-awswrangler: it is awswrangler's like-for-like)"
        contenders = [c for c in contenders if c[0] != LAKELOADER_S3]
    rounds: list[dict[str, dict]] = []
    for n in range(args.repeat):
        for d in ("plain", "repartition"):
            shutil.rmtree(work / d, ignore_errors=True)
        reset_lakeloader(work)
        done: dict[str, dict] = {}
        for name, fn in list(contenders):
            try:
                done[name] = fn()
            except RuntimeError as e:
                if name != "awswrangler + Glue":
                    raise
                print(f"awswrangler: dropped from every round, {e}", flush=True)
                wrangler_note = f"failed in round {n + 1}: {e}"
                contenders = [c for c in contenders if c[0] != name]
        rounds.append(done)
        print(f"round {n + 1}: " + ", ".join(f"{k} {r['wall_s']:.1f}s" for k, r in done.items()), flush=True)
    names = [name for name, _ in contenders]
    results = [rounds[-1][name] for name in names]
    for r in results:
        r["walls"] = [rd[r["tool"]]["wall_s"] for rd in rounds]
        r["wall_s"] = statistics.median(r["walls"])
    by_tool = {r["tool"]: r for r in results}
    plain = by_tool.get("plain partitionBy", {}).get("wall_s")
    idiom = by_tool.get("repartition(cols)", {}).get("wall_s")
    lake = by_tool.get("lakeloader run")
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
            fmt_opt(plain and r["wall_s"] / plain, ".2f"), fmt_opt(idiom and r["wall_s"] / idiom, ".2f"),
            str(r["files"]),
            f"{r['files'] / r['partitions']:.2f} ({r['max_files_per_partition']})",
            str(bound_ok(r["per_partition"], args.target_mb)),
            fmt_opt(r["write_tasks"], "d"), fmt_opt(skew, ".2f"), fmt_opt(read, ".2f"),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    commit, machine = commit_and_machine()
    lakeloader_timings = ", ".join(f"{k} {v:.1f}s" for k, v in lake["timings"].items()) if lake else "not run"
    wr = next((r for r in results if r["tool"] == "awswrangler + Glue"), None)
    if wr is None:
        wrangler_lines = [f"- awswrangler + Glue: not run: {wrangler_note}"]
    else:
        by_round = [rd["awswrangler + Glue"] for rd in rounds]
        v = wr["versions"]
        glue_ok = all(rd["glue_partitions"] == rd["partitions"] for rd in by_round)
        calls = ", ".join(f"{k} {n}" for k, n in wr["calls"].items())
        wrangler_lines = [
            f"- awswrangler + Glue: awswrangler {v['awswrangler']}, pandas {v['pandas']}, pyarrow {v['pyarrow']}, "
            f"numpy {v['numpy']} in its own venv (bench/requirements-awswrangler.txt); `wr.s3.to_parquet(df, "
            "dataset=True, partition_cols=['dt', 'country'], database=..., table=..., mode='overwrite_partitions')` "
            "and `concurrent_partitioning=True` (its faster setting; off by default), after "
            "`pd.read_csv(engine='pyarrow')` of the same CSV files and dt derived with "
            "`strftime('%Y-%m-%d')`. One pandas process; "
            "it writes to a moto server (S3 + Glue) on 127.0.0.1 over HTTP, not to local disk, so every S3 PUT "
            "and moto's own CPU (same 2 cores) are in its time; a fresh server each round",
            "- awswrangler times: wall s = read + derive + to_parquet (with Glue registration), timed inside the "
            "process after its imports, like the Spark contenders after their session starts; per round "
            + " / ".join(f"read {x['read_s']:.1f} + to_parquet {x['to_parquet_s']:.1f}" for x in by_round)
            + "; the whole process, with interpreter start, imports and bucket and database set-up, "
            + " / ".join(f"{x['process_s']:.1f}" for x in by_round)
            + " s; the moto server's CPU during the run "
            + " / ".join(fmt_opt(x["moto_cpu_s"], ".1f") for x in by_round)
            + f" s; peak RSS {wr['peak_rss_mib']:.0f} MiB",
            f"- awswrangler Glue partitions registered: {' / '.join(str(x['glue_partitions']) for x in by_round)} "
            f"(partitions written {wr['partitions']}: {'equal' if glue_ok else 'NOT EQUAL'}); AWS calls of one "
            f"round: {calls}; HTTP requests the moto server logged: {requests_text(wr['requests'])}",
        ]
    s3 = next((r for r in results if r["tool"] == LAKELOADER_S3), None)
    if s3 is None:
        s3_lines = [f"- {LAKELOADER_S3}: {s3_note}"]
    else:
        by_round = [rd[LAKELOADER_S3] for rd in rounds]
        s3_lines = [
            f"- {LAKELOADER_S3}: the same `lakeloader run` with `warehouse: s3://bench/lake`, "
            "`catalog: {kind: glue}` and `aws.endpoint_url` at a fresh moto server per round (Spark through s3a, "
            "DuckDB audit through httpfs), awswrangler's like-for-like target; moto server CPU during the run "
            + " / ".join(fmt_opt(x["moto_cpu_s"], ".1f") for x in by_round)
            + f" s; Glue partitions registered {' / '.join(str(x['glue_partitions']) for x in by_round)}; "
            + f"HTTP requests of one round: {requests_text(s3['requests'])}; stages "
            + ", ".join(f"{k} {v:.1f}s" for k, v in s3["timings"].items()),
            f"- {LAKELOADER_S3}: S3A committer `{s3['committer']}`; " + s3_versus(s3, wr),
        ]
        print(s3_versus(s3, wr), flush=True)
    block = "\n".join([
        f"\n## Write: {args.rows:,} rows, {src_bytes / 2**20:.0f} MiB CSV, {results[0]['partitions']} partitions, "
        f"60 % of rows on one country",
        "",
        f"- command: `.venv/bin/python bench/write_bench.py --rows {args.rows} --repeat {args.repeat}"
        + (f" --only {','.join(args.only)}" if args.only else "")
        + (f" --committer {args.committer}" if args.committer else "")
        + "`"
        + ("" if args.only else " (`make bench`)"),
        f"- commit: {commit}, date: {dt.date.today()}, machine: {machine}; contenders interleaved in each round",
        f"- lakeloader stages: {lakeloader_timings}",
        "- DuckDB: single process, all cores, `COPY (SELECT ... FROM read_csv(...)) TO ... PARTITION_BY (dt, country)`;"
        " task skew and input bytes are Spark event-log figures (n/a)",
        *wrangler_lines,
        *s3_lines,
        "",
        *lines,
        "",
    ])  # fmt: skip
    keep = ("tool", "wall_s", "walls", "files", "partitions", "max_files_per_partition")
    extra = (
        "committer",
        "process_s",
        "read_s",
        "to_parquet_s",
        "moto_cpu_s",
        "glue_partitions",
        "calls",
        "versions",
        "glue_types",
        "requests",
        "timings",
    )
    # A partial run (--only) keeps its numbers apart: the chart draws the full comparison.
    return record(args, block, "compare_only" if args.only else "compare", {
        "rows": args.rows, "partitions": results[0]["partitions"], "commit": commit,
        "tools": [{k: r[k] for k in keep + extra if k in r} for r in results],
    })  # fmt: skip


def csv_ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


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
        "--awswrangler-venv",
        default=str(CACHE / "bench-venv-awswrangler"),
        help="venv for the awswrangler contender, built from bench/requirements-awswrangler.txt when missing",
    )
    p.add_argument("--no-awswrangler", action="store_true", help="leave the awswrangler contender out")
    p.add_argument(
        "--only",
        type=lambda text: text.split(","),
        metavar="NAME,...",
        help=f"run only these contenders ({', '.join(CONTENDERS.values())}); e.g. --only awswrangler,lakeloader-s3",
    )
    p.add_argument(
        "--scaling",
        nargs="?",
        const="1,2,5,10",
        metavar="M,M,...",
        help="run lakeloader alone at these sizes in millions of rows (default 1,2,5,10) instead",
    )
    p.add_argument(
        "--partition-scaling",
        nargs="?",
        const="60,600,3000,6000",
        metavar="P,P,...",
        help="run lakeloader alone at these partition counts (multiples of 20: days x 20 countries; "
        "default 60,600,3000,6000) over --partition-rows rows instead",
    )
    p.add_argument("--partition-rows", type=int, default=2_000_000, help="rows of each --partition-scaling input")
    p.add_argument(
        "--committer",
        choices=("directory", "magic"),
        help="the S3A committer of the S3 contender (default: lakeloader's, "
        f"{S3A_COMMITTER_CONF['spark.hadoop.fs.s3a.committer.name']})",
    )
    args = p.parse_args()
    if args.only and (unknown := sorted(set(args.only) - set(CONTENDERS.values()))):
        p.error(f"--only: unknown contender {unknown[0]!r} (choose from {', '.join(CONTENDERS.values())})")
    if args.committer:
        S3A_COMMITTER_CONF["spark.hadoop.fs.s3a.committer.name"] = args.committer
    # Before the first JVM starts (it keeps the environment it starts with): s3a, boto3 and DuckDB read these.
    os.environ.update(FAKE_AWS)
    if args.scaling:
        return scaling_series(args, [float(x) for x in args.scaling.split(",")])
    if args.partition_scaling:
        counts = csv_ints(args.partition_scaling)
        if any(c < len(COUNTRIES) or c % len(COUNTRIES) for c in counts):
            p.error(f"--partition-scaling: each count must be a multiple of {len(COUNTRIES)} (days x countries)")
        return partition_scaling_series(args, counts)
    return compare(args)


if __name__ == "__main__":
    sys.exit(main())
