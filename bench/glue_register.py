"""Benchmark: register N partitions with GlueCatalog.put_partitions against a moto server with injected latency.

    python bench/glue_register.py --partitions 10000 --latency-ms 100

Every Glue call through the client sleeps `--latency-ms` first (a stand-in for the network round trip and
Glue's own time), so the wall time shows how well calls overlap. A sequential run (max_in_flight=1) is the
baseline; the design target is < 2 s for 10,000 partitions at 100 ms per call.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import math
import multiprocessing
import os
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Never reach a real AWS account from a benchmark.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.pop("AWS_PROFILE", None)

sys.path[:0] = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", d) for d in ("lib", "")]

from bench.common import cpu_seconds, free_port, git_commit, wait_for_port  # noqa: E402
from lakeloader.catalog.glue import GlueCatalog, glue_client  # noqa: E402
from lakeloader.catalog.tables import partition_input, table_input  # noqa: E402
from lakeloader.config import AwsConfig, CatalogConfig  # noqa: E402

COLUMNS = [{"Name": "id", "Type": "bigint"}, {"Name": "amount", "Type": "double"}]
KEYS = [{"Name": "dt", "Type": "string"}, {"Name": "bucket", "Type": "string"}]


class SlowClient:
    """Delegates to a real Glue client, sleeping `latency_s` before every API call and counting calls."""

    def __init__(self, real: Any, latency_s: float) -> None:
        self.real, self.latency_s, self.calls = real, latency_s, Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if not callable(attr) or name in ("get_paginator", "meta"):
            return attr

        def call(**kwargs: Any) -> Any:
            self.calls[name] += 1
            time.sleep(self.latency_s)
            return attr(**kwargs)

        return call


def serve_moto(port: int, stop: Any) -> None:
    """Run a ThreadedMotoServer until `stop` is set (the body of the --server process mode)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per call otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    stop.wait()
    server.stop()


@contextmanager
def moto_server(mode: str) -> Iterator[tuple[str, Any]]:
    """A moto server's URL and its process id (None in thread mode): in this process (its CPU competes for our
    GIL) or in a child process (like a remote Glue, whose work does not run on the client's interpreter)."""
    port = free_port()
    stop = multiprocessing.Event() if mode == "process" else threading.Event()
    runner = multiprocessing.Process if mode == "process" else threading.Thread
    worker = runner(target=serve_moto, args=(port, stop), daemon=True)
    worker.start()
    try:
        if not wait_for_port(port, 20.0):
            raise SystemExit(f"bench error: moto server did not listen on port {port} within 20 s")
        yield f"http://127.0.0.1:{port}", getattr(worker, "pid", None)
    finally:
        stop.set()
        worker.join(timeout=10)


def partitions(n: int) -> list[dict[str, Any]]:
    """n distinct (dt, bucket) partitions: 100 buckets per day, real calendar days (100,000 -> 1,000 days)."""
    root = "s3://bench/warehouse/bench/events"
    first = datetime.date(2024, 1, 1)
    out = []
    for i in range(n):
        values = [(first + datetime.timedelta(days=i // 100)).isoformat(), f"{i % 100:03d}"]
        out.append(partition_input(values, f"{root}/dt={values[0]}/bucket={values[1]}/_v=r1", COLUMNS))
    return out


def run(cfg: AwsConfig, n: int, latency_s: float, max_in_flight: int, server_pid: Any = None) -> dict[str, Any]:
    """Register n partitions into a fresh table; wall time, calls and CPU (ours, the server's) of put_partitions."""
    real = glue_client(cfg, max_in_flight)  # the client GlueCatalog makes for itself
    db = f"bench_{uuid.uuid4().hex[:8]}"
    real.create_database(DatabaseInput={"Name": db})
    real.create_table(DatabaseName=db, TableInput=table_input("events", COLUMNS, KEYS, "s3://bench/events"))
    client = SlowClient(real, latency_s)
    catalog = GlueCatalog(cfg, client=client, max_in_flight=max_in_flight)
    parts = partitions(n)
    server0, client0 = cpu_seconds(server_pid) or 0.0, time.process_time()
    start = time.perf_counter()
    catalog.put_partitions(db, "events", parts)
    wall = time.perf_counter() - start
    client_cpu, server_cpu = time.process_time() - client0, (cpu_seconds(server_pid) or 0.0) - server0
    registered = len(GlueCatalog(cfg, client=real).get_partitions(db, "events"))
    if registered != n:
        raise SystemExit(f"bench error: {registered} partitions registered, expected {n}")
    calls = sum(client.calls.values())
    return {"calls": calls, "wall": wall, "estimate": calls * latency_s, "by_method": dict(client.calls),
            "client_cpu": client_cpu, "server_cpu": server_cpu}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--partitions", type=int, default=10_000)
    p.add_argument("--latency-ms", type=float, default=100.0)
    p.add_argument("--max-in-flight", type=int, default=CatalogConfig().max_in_flight)
    p.add_argument("--no-baseline", action="store_true", help="skip the sequential (max_in_flight=1) run")
    p.add_argument(
        "--server",
        choices=["thread", "process"],
        default="process",
        help="run the ThreadedMotoServer in this process or in a child process (default: process)",
    )
    p.add_argument("--results", default=str(Path(__file__).parent / "RESULTS.md"), help="append here ('' = don't)")
    args = p.parse_args(argv)
    latency_s = args.latency_ms / 1000

    with moto_server(args.server) as (endpoint, pid):
        cfg = AwsConfig(endpoint_url=endpoint, region="us-east-1")
        par = run(cfg, args.partitions, latency_s, args.max_in_flight, pid)
        # The same registration with no injected latency: what is left is CPU (botocore on our side, moto on
        # the other, both on this machine's cores), the floor under any latency.
        floor = run(cfg, args.partitions, 0.0, args.max_in_flight, pid)
        seq = None if args.no_baseline else run(cfg, args.partitions, latency_s, 1, pid)

    waves = math.ceil(par["calls"] / args.max_in_flight)  # calls go out max_in_flight at a time
    expected = waves * latency_s
    bound = max(expected, floor["wall"])
    lines = [
        f"partitions          {args.partitions}",
        f"calls               {par['calls']} {par['by_method']} (ceil(n/100) = {math.ceil(args.partitions / 100)})",
        f"latency per call    {args.latency_ms:.0f} ms",
        f"max_in_flight       {args.max_in_flight}",
        f"moto server         {'child process' if args.server == 'process' else 'thread in this process'}",
        f"wall time           {par['wall']:.2f} s",
        f"latency bound       {expected:.2f} s (ceil(calls / concurrency) x latency = "
        f"ceil({par['calls']} / {args.max_in_flight}) x {latency_s:g} s)",
        f"CPU floor           {floor['wall']:.2f} s (the same registration at 0 ms latency; client CPU "
        f"{floor['client_cpu']:.2f} s, moto CPU {floor['server_cpu']:.2f} s, "
        f"{(floor['client_cpu'] + floor['server_cpu']) / par['calls'] * 1000:.1f} ms per call, "
        f"{os.cpu_count()} cores)",
        f"measured / latency  {par['wall'] / expected:.2f}x" if expected else "measured / latency  n/a (0 ms)",
        f"measured / max(latency bound, CPU floor) {par['wall'] / bound:.2f}x",
        f"CPU during the run  client {par['client_cpu']:.2f} s, moto {par['server_cpu']:.2f} s",
        f"sequential estimate {par['estimate']:.2f} s (calls x latency)",
    ]
    if seq is not None:
        lines += [
            f"sequential measured {seq['wall']:.2f} s (max_in_flight=1, {seq['calls']} calls)",
            f"speed-up            {seq['wall'] / par['wall']:.1f}x (sequential / parallel wall time)",
        ]
    print("\n".join(lines))
    if args.results:
        append_results(Path(args.results), args, lines)
    return 0


def append_results(path: Path, args: argparse.Namespace, lines: list[str]) -> None:
    """Append this run, with its command, commit and machine, to bench/RESULTS.md."""
    commit = git_commit()
    flags = f"--partitions {args.partitions} --latency-ms {args.latency_ms:g}" + (
        " --no-baseline" if args.no_baseline else ""
    )
    block = [
        f"\n## Glue registration: {args.partitions:,} partitions, {args.latency_ms:g} ms injected per Glue call",
        "",
        f"- command: `.venv/bin/python bench/glue_register.py {flags}` (`make bench`)",
        f"- commit: {commit}, date: {datetime.date.today()}, machine: {os.cpu_count()} cores; moto server "
        f"{'in a child process' if args.server == 'process' else 'in this process'} on 127.0.0.1",
        "",
        "```",
        *lines,
        "```",
        "",
    ]
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n".join(block))


if __name__ == "__main__":
    sys.exit(main())
