"""The benchmark tooling (`make bench`): what it counts must be right, or its ratios mean nothing."""

from __future__ import annotations

import math
import uuid

import boto3
import pytest
from bench import glue_register, write_bench


def test_request_counts_reads_moto_access_log_by_kind(tmp_path):
    log = tmp_path / "moto.log"
    log.write_text(
        "WARNING: This is a development server.\n"
        '127.0.0.1 - - [03/Dec/2026 10:41:17] "PUT /bench HTTP/1.1" 200 -\n'
        '127.0.0.1 - - [03/Dec/2026 10:41:17] "\x1b[31m\x1b[1mPOST / HTTP/1.1\x1b[0m" 400 -\n'
        '127.0.0.1 - - [03/Dec/2026 10:41:18] "GET /bench?list-type=2&prefix=a%2F HTTP/1.1" 200 -\n'
        '127.0.0.1 - - [03/Dec/2026 10:41:18] "GET /bench/a/part-0.parquet HTTP/1.1" 206 -\n'
        '127.0.0.1 - - [03/Dec/2026 10:41:18] "\x1b[33mHEAD /bench/a/_v=r1/ HTTP/1.1\x1b[0m" 404 -\n'
        '127.0.0.1 - - [03/Dec/2026 10:41:18] "POST /bench/?delete HTTP/1.1" 200 -\n'
    )
    assert write_bench.request_counts(log, bucket="bench") == {
        "Glue/STS": 1,
        "S3 GET": 1,
        "S3 HEAD": 1,
        "S3 LIST": 1,
        "S3 POST": 1,
        "S3 PUT": 1,
    }


def test_linear_fit_recovers_a_line_and_flags_curvature():
    a, b = write_bench.linear_fit([60, 600, 3000, 6000], [2 + 0.005 * x for x in (60, 600, 3000, 6000)])
    assert a == pytest.approx(2.0) and b == pytest.approx(0.005)
    # A quadratic series leaves a large distance from its best line: what the partition-scaling table reports.
    xs = [60, 600, 3000, 6000]
    a, b = write_bench.linear_fit(xs, [x * x / 1e5 for x in xs])
    assert max(abs(x * x / 1e5 - (a + b * x)) for x in xs) > 10


def test_files_report_counts_files_per_partition_across_versions(tmp_path):
    for rel, size in [("dt=1/c=US/_v=r1/part-0.parquet", 10), ("dt=1/c=US/_v=r1/part-1.parquet", 5),
                      ("dt=1/c=DE/_v=r1/part-0.parquet", 7), ("dt=1/c=DE/_v=r1/.part-0.parquet.crc", 1)]:  # fmt: skip
        f = tmp_path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"x" * size)
    report = write_bench.files_report(tmp_path)  # a local folder
    assert (report["partitions"], report["files"], report["max_files_per_partition"], report["bytes"]) == (2, 3, 2, 22)
    assert write_bench.bound_ok(report["per_partition"], target_mb=256)
    assert not write_bench.bound_ok({"dt=1": [1] * 3}, target_mb=256)  # 3 tiny files > ceil(3 B / 256 MiB) + 1


@pytest.mark.aws
def test_files_report_on_s3_groups_objects_by_partition_without_version_dirs(moto_endpoint):
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    for key in ["t/dt=1/c=US/_v=r1/part-0.parquet", "t/dt=1/c=US/_v=r1/part-1.parquet",
                "t/dt=2/c=US/_v=r1/part-0.parquet", "t/dt=2/c=US/_v=r1/notes.txt"]:  # fmt: skip
        s3.put_object(Bucket=bucket, Key=key, Body=b"abc")
    report = write_bench.files_report(f"s3://{bucket}/t/", moto_endpoint)
    assert sorted(report["per_partition"]) == ["dt=1/c=US", "dt=2/c=US"]
    assert (report["files"], report["max_files_per_partition"], report["bytes"]) == (3, 2, 9)


@pytest.mark.aws
@pytest.mark.slow
def test_glue_register_bench_registers_every_partition_in_batches_of_100_and_records_the_run(tmp_path, capsys):
    results = tmp_path / "RESULTS.md"
    n = 250
    assert glue_register.main(["--partitions", str(n), "--latency-ms", "0", "--no-baseline", "--server", "thread",
                               "--results", str(results)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert f"calls               {math.ceil(n / 100)} {{'batch_create_partition': {math.ceil(n / 100)}}}" in out
    text = results.read_text()
    assert f"bench/glue_register.py --partitions {n} --latency-ms 0 --no-baseline" in text
    assert "CPU floor" in text and "commit:" in text


def test_s3_line_gives_requests_per_written_file_and_the_wall_ratio_to_awswrangler():
    s3 = {"requests": {"S3 PUT": 600, "S3 POST": 1200, "Glue/STS": 6}, "files": 301, "wall_s": 50.0}
    wr = {"requests": {"S3 PUT": 600}, "files": 600, "wall_s": 100.0}
    assert write_bench.s3_versus(s3, wr) == (
        "lakeloader to S3: 6.0 requests per written file (target <= 6), wall 50.0 s; awswrangler 1.0 requests "
        "per file, wall 100.0 s: lakeloader/awswrangler wall 0.50x (target <= 1.0)"
    )
    assert write_bench.s3_versus(s3, None).endswith("wall 50.0 s; awswrangler not run")
