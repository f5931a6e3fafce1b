"""Driver-side file operations: batched listings, footers without HEADs, removing only what is new,
aborting a killed write's multipart uploads."""

from __future__ import annotations

import uuid

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakeloader import storage
from lakeloader.config import AwsConfig
from lakeloader.errors import StorageError


def parquet(path, rows: int, columns: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({f"c{i}": list(range(rows)) for i in range(columns)}), path)


def test_list_dirs_gives_each_directory_what_list_files_gives(tmp_path):
    root = f"file://{tmp_path}/t"
    for d in ("dt=1/c=a/_v=r", "dt=1/c=b/_v=r", "dt=1/c=a/_v=old", "dt=2/c=a/_v=r", "dt=2/c=a/_v=r/nested"):
        parquet(tmp_path / "t" / d / "part-0.parquet", 1)
    (tmp_path / "t/dt=1/c=a/_v=r/_SUCCESS").touch()
    dirs = [f"{root}/dt=1/c=a/_v=r", f"{root}/dt=1/c=b/_v=r", f"{root}/dt=2/c=a/_v=r", f"{root}/dt=3/c=a/_v=r"]
    one_by_one = {d: storage.list_files(d, suffix=".parquet") for d in dirs}
    assert storage.list_dirs(root, dirs, suffix=".parquet") == one_by_one
    assert len(storage.list_dirs(root, dirs)[f"{root}/dt=2/c=a/_v=r"]) == 2  # below the directory too


def test_remove_new_keeps_what_was_there(tmp_path):
    (tmp_path / "t/theirs").mkdir(parents=True)
    (tmp_path / "t/theirs/keep.txt").write_text("x")
    uri = f"file://{tmp_path}/t"
    before = storage.entries(uri)
    parquet(tmp_path / "t/theirs/new.parquet", 1)
    parquet(tmp_path / "t/_delta_log/deep/0.json", 1)
    assert storage.remove_new(uri, before) == 2
    assert sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "t").rglob("*")) == [
        "t/theirs",
        "t/theirs/keep.txt",
    ]


@pytest.mark.aws
def test_footers_on_s3_equal_the_files_and_uploads_under_a_prefix_are_aborted(moto_endpoint, tmp_path):
    aws = AwsConfig(region="us-east-1", endpoint_url=moto_endpoint)
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    bucket = f"b-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    parquet(tmp_path / "small.parquet", 10)
    parquet(tmp_path / "wide.parquet", 3, columns=1500)  # a footer larger than the first ranged GET
    for name in ("small", "wide"):
        s3.upload_file(str(tmp_path / f"{name}.parquet"), bucket, f"t/{name}.parquet")
    files = storage.list_files(f"s3://{bucket}/t", aws)
    assert pq.read_metadata(tmp_path / "wide.parquet").serialized_size > 64 * 1024
    got = storage.parquet_footers(files, aws)
    assert [(m.num_rows, m.num_columns) for m in got] == [(10, 1), (3, 1500)]

    mine = s3.create_multipart_upload(Bucket=bucket, Key="t/dt=1/_v=r/part-0.parquet")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="t/dt=1/_v=r/part-0.parquet", UploadId=mine, PartNumber=1, Body=b"x")
    s3.create_multipart_upload(Bucket=bucket, Key="other/part-0.parquet")
    assert storage.clear_interrupted_write(f"s3://{bucket}/t", aws) == 1
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])] == ["other/part-0.parquet"]
    assert storage.abort_uploads(f"file://{tmp_path}", aws) == 0


def test_one_s3_filesystem_per_endpoint_is_reused_for_every_file():
    aws = AwsConfig(endpoint_url="http://127.0.0.1:1")
    first, path = storage.to_filesystem("s3://bucket/a/part-0.parquet", aws)
    again, _ = storage.to_filesystem("s3a://bucket/b/part-1.parquet", AwsConfig(endpoint_url="http://127.0.0.1:1"))
    other, _ = storage.to_filesystem("s3://bucket/a", AwsConfig(endpoint_url="http://127.0.0.1:2"))
    assert path == "bucket/a/part-0.parquet"
    assert first is again and other is not first


@pytest.mark.aws
def test_s3_failures_after_the_clients_retries_are_one_storage_error_line(moto_endpoint, tmp_path):
    """pyarrow (listing, text files) and boto3 (footers) each retry aws.max_attempts times, then one line."""
    from s3_fault_proxy import FaultProxy

    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    bucket = f"b-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    parquet(tmp_path / "a.parquet", 5)
    s3.upload_file(str(tmp_path / "a.parquet"), bucket, "t/a.parquet")
    with FaultProxy(moto_endpoint, {"GET": {"503": 1.0}}) as proxy:
        aws = AwsConfig(region="us-east-1", endpoint_url=proxy.url, max_attempts=2)
        with pytest.raises(StorageError) as listing:
            storage.list_files(f"s3://{bucket}/t", aws)
        with pytest.raises(StorageError) as text:
            storage.read_text(f"s3://{bucket}/t/a.parquet", aws)
        files = [storage.FileInfo(f"s3://{bucket}/t/a.parquet", (tmp_path / "a.parquet").stat().st_size)]
        with pytest.raises(StorageError) as footers:
            storage.parquet_footers(files, aws)
    assert str(listing.value).startswith(f"storage error: list files s3://{bucket}/t: ")
    assert str(text.value).startswith(f"storage error: read text s3://{bucket}/t/a.parquet: ")
    assert str(footers.value).startswith("storage error: parquet footers 1 files: ")
    assert "SlowDown" in str(footers.value)
    assert all("\n" not in str(e.value) for e in (listing, text, footers))
    assert proxy.injected[("GET", "503")] >= 3 * 2  # every layer retried, within its bound


def test_a_local_filesystem_failure_is_one_storage_error_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError, match=r"^storage error: write text .*file/sub/m\.json: "):
        storage.write_text(str(tmp_path / "file" / "sub" / "m.json"), "{}")  # a file where a directory must go


def test_a_bug_is_not_dressed_as_a_storage_error():
    with pytest.raises(Exception) as bug:
        storage.list_files(None)  # type: ignore[arg-type]
    assert not isinstance(bug.value, StorageError)
