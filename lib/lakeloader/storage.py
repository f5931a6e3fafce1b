"""Small file operations on warehouse URIs (file:// locally, s3:// on AWS) for the driver side.

Spark does the data I/O; this module handles bookkeeping files (manifests, markers), listing a
run's output and removing old versions. pyarrow's filesystems give one interface for both.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Optional, TypeVar
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from lakeloader.config import AwsConfig
from lakeloader.errors import StorageError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class FileInfo:
    uri: str
    size: int
    mtime_ns: int = 0


def _one_line_errors(fn: F) -> F:
    """A store's failure (an OSError from pyarrow, a botocore error), after its client's retries, becomes a
    one-line StorageError naming the operation and the URI; what the function handles itself never gets here."""

    @functools.wraps(fn)
    def wrapper(target: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(target, *args, **kwargs)
        except Exception as e:
            if not isinstance(e, OSError) and not type(e).__module__.startswith("botocore."):
                raise  # a bug, or a lakeloader error already
            where = target if isinstance(target, str) else f"{len(target)} files"
            message = " ".join(str(e).split())[:500]
            raise StorageError(f"{fn.__name__.replace('_', ' ')} {where}: {message}", message) from None

    return wrapper  # type: ignore[return-value]


def hadoop_uri(uri: str, on_cluster: bool) -> str:
    """The URI Spark should use: s3:// stays on EMR (EMRFS); elsewhere it becomes s3a:// (hadoop-aws).

    The catalog and manifests always record s3://; this is the one place the scheme changes.
    """
    if not on_cluster and uri.startswith("s3://"):
        return "s3a://" + uri[len("s3://") :]
    return uri


def catalog_uri(uri: str) -> str:
    """The URI the catalog records: s3a:// and s3n:// become s3://."""
    for scheme in ("s3a://", "s3n://"):
        if uri.startswith(scheme):
            return "s3://" + uri[len(scheme) :]
    return uri


def to_filesystem(uri: str, aws: Optional[AwsConfig] = None) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it) for a file:// or s3:// URI."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return _LOCAL, parsed.path or uri
    if parsed.scheme in ("s3", "s3a"):
        aws = aws or AwsConfig()
        return _s3(aws.region, aws.endpoint_url, aws.max_attempts), f"{parsed.netloc}{parsed.path}"
    raise ValueError(f"unsupported storage scheme in {uri!r}")


def _path(uri: str) -> str:
    """The path inside its filesystem of a file:// or s3:// URI, as to_filesystem gives it."""
    parsed = urlparse(uri)
    return parsed.path or uri if parsed.scheme in ("", "file") else f"{parsed.netloc}{parsed.path}"


_LOCAL = pafs.LocalFileSystem()


@functools.lru_cache(maxsize=8)
def _s3(region: str, endpoint_url: Optional[str], max_attempts: int) -> pafs.S3FileSystem:
    """One S3 filesystem per endpoint for the whole process: building one resolves credentials and
    opens a connection pool, which per written file would cost more than the request itself.
    pyarrow's S3FileSystem is thread-safe and refreshes expiring credentials on its own. Its AWS SDK
    retries like botocore's standard mode, with the same `aws.max_attempts` (pyarrow's default is 3)."""
    kwargs: dict = {"region": region, "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=max_attempts)}
    if endpoint_url:
        ep = urlparse(endpoint_url)
        kwargs.update(endpoint_override=ep.netloc, scheme=ep.scheme or "http", force_virtual_addressing=False)
    return pafs.S3FileSystem(**kwargs)


@functools.lru_cache(maxsize=8)
def _s3_client(aws: AwsConfig) -> Any:
    """One boto3 S3 client per AWS config for the process (thread-safe; 16 connections for the footer reads)."""
    from lakeloader.aws import client  # boto3 only where S3 is used

    return client("s3", aws, pool_size=16)


def _uri(prefix_uri: str, fs_path: str) -> str:
    scheme = urlparse(prefix_uri).scheme or "file"
    return f"{scheme}://{fs_path}" if scheme != "file" else f"file://{fs_path}"


@_one_line_errors
def write_text(uri: str, text: str, aws: Optional[AwsConfig] = None) -> None:
    """Write a small text file, creating parent directories; replaces atomically (one PUT on S3)."""
    fs, path = to_filesystem(uri, aws)
    if not isinstance(fs, pafs.LocalFileSystem):
        # One PutObject, not pyarrow's output stream: that is a multipart upload, which a failed part
        # leaves open (and billed) under _lakeloader/; and it takes three requests, not one.
        bucket, key = path.split("/", 1)
        _s3_client(aws or AwsConfig()).put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"))
        return
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path + ".tmp") as out:
        out.write(text.encode("utf-8"))
    fs.move(path + ".tmp", path)


@_one_line_errors
def read_text(uri: str, aws: Optional[AwsConfig] = None) -> Optional[str]:
    """The file's text, or None when it does not exist."""
    fs, path = to_filesystem(uri, aws)
    try:
        with fs.open_input_stream(path) as f:
            return f.read().decode("utf-8")
    except FileNotFoundError:
        return None


@_one_line_errors
def list_files(uri: str, aws: Optional[AwsConfig] = None, suffix: str = "") -> list[FileInfo]:
    """Files below a prefix (recursively), skipping hidden and underscore-prefixed names."""
    fs, path = to_filesystem(uri, aws)
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    except FileNotFoundError:
        return []
    out = []
    for info in infos:
        if info.type != pafs.FileType.File or info.base_name.startswith((".", "_")):
            continue
        if info.path.endswith(suffix):
            out.append(FileInfo(_uri(uri, info.path), info.size, info.mtime_ns or 0))
    return sorted(out, key=lambda f: f.uri)


@_one_line_errors
def list_dirs(
    root: str, dirs: Sequence[str], aws: Optional[AwsConfig] = None, suffix: str = ""
) -> dict[str, list[FileInfo]]:
    """list_files of each of `dirs`, with one recursive listing per first-level directory under `root`
    instead of one per directory.

    On S3 a LIST is a request: a run's 600 partitions over 30 days take 30 LISTs, not 600. Listing
    below `<root>/<k1=v1>/` also returns other versions' files, which is why it does not go up to the
    root itself (a table with very many partitions would list them all).
    """
    base = root.rstrip("/")
    groups: dict[str, list[str]] = {}
    for d in dirs:
        rest = d.rstrip("/")[len(base) + 1 :] if d.startswith(base + "/") else ""
        groups.setdefault(f"{base}/{rest.split('/')[0]}" if rest else d, []).append(d)
    out: dict[str, list[FileInfo]] = {d: [] for d in dirs}
    for prefix, members in groups.items():
        wanted = {_path(d).rstrip("/"): d for d in members}
        for f in list_files(prefix, aws, suffix):
            parent = _path(f.uri).rsplit("/", 1)[0]
            while parent not in wanted and "/" in parent:  # files below a directory count, as in list_files
                parent = parent.rsplit("/", 1)[0]
            if parent in wanted:
                out[wanted[parent]].append(f)
    return out


_TAIL = 64 * 1024  # one ranged GET of a file's last 64 KiB holds the footer of all but very wide files


@_one_line_errors
def parquet_footers(files: Sequence[FileInfo], aws: Optional[AwsConfig] = None) -> list[pq.FileMetaData]:
    """The Parquet footers of listed files, read concurrently.

    On S3 each is one ranged GET of the file's tail: the listing already gave the size, so the HEAD a
    filesystem's open() makes first is saved (a request per written file).
    """
    s3 = None
    if any(urlparse(f.uri).scheme in ("s3", "s3a") for f in files):
        s3 = _s3_client(aws or AwsConfig())

    def one(f: FileInfo) -> pq.FileMetaData:
        if s3 is None or urlparse(f.uri).scheme not in ("s3", "s3a"):
            fs, path = to_filesystem(f.uri, aws)
            return pq.read_metadata(path, filesystem=fs)
        bucket, key = _path(f.uri).split("/", 1)
        tail = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=-{min(f.size, _TAIL)}")["Body"].read()
        length = int.from_bytes(tail[-8:-4], "little") + 8  # footer, its length, b"PAR1"
        if length > len(tail):
            tail = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=-{length}")["Body"].read()
        # The footer alone, behind a leading magic, is what read_metadata needs to parse it.
        return pq.read_metadata(pa.BufferReader(b"PAR1" + tail[-length:]))

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(one, files))


@_one_line_errors
def delete_dir(uri: str, aws: Optional[AwsConfig] = None) -> None:
    """Remove a directory (prefix) and everything under it; missing is fine."""
    fs, path = to_filesystem(uri, aws)
    try:
        fs.delete_dir(path)
    except FileNotFoundError:
        pass


@_one_line_errors
def entries(uri: str, aws: Optional[AwsConfig] = None) -> dict[str, bool]:
    """Every file and directory below a prefix, hidden ones too: {path inside the filesystem: is a directory}."""
    fs, path = to_filesystem(uri, aws)
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    except FileNotFoundError:
        return {}
    return {info.path: info.type == pafs.FileType.Directory for info in infos}


@_one_line_errors
def remove_new(uri: str, before: dict[str, bool], aws: Optional[AwsConfig] = None) -> int:
    """Delete what appeared below a prefix since `before` (from entries()), leaving everything else; the count.

    For a failed write into a folder that may hold files lakeloader never wrote (a custom `location`).
    """
    fs, _ = to_filesystem(uri, aws)
    new = {p: d for p, d in entries(uri, aws).items() if p not in before}
    # Only the top-most new entries: a new directory goes with everything under it.
    top = [p for p in new if p.rsplit("/", 1)[0] not in new]
    for p in top:
        try:
            fs.delete_dir(p) if new[p] else fs.delete_file(p)
        except FileNotFoundError:
            pass
    return len(top)


# Where an interrupted Spark write leaves its work: FileOutputCommitter's attempt directories and the
# S3A magic committer's `.pending` manifests (its data are uncommitted multipart uploads, see below).
SCRATCH_DIRS = ("_temporary", "__magic")


@_one_line_errors
def clear_interrupted_write(uri: str, aws: Optional[AwsConfig] = None) -> int:
    """Remove what a killed Spark write left below a table root; returns the multipart uploads aborted.

    On S3 the S3A committers upload every file as a multipart upload completed only at job commit; a
    killed job leaves them invisible but billed until aborted. The caller holds the table's lock, so no
    live writer's upload is under the prefix.
    """
    for name in SCRATCH_DIRS:
        delete_dir(f"{uri.rstrip('/')}/{name}", aws)
    return abort_uploads(uri, aws)


@_one_line_errors
def abort_uploads(uri: str, aws: Optional[AwsConfig] = None) -> int:
    """Abort every incomplete multipart upload below an s3:// prefix (0 for file://); returns how many."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("s3", "s3a"):
        return 0
    s3 = _s3_client(aws or AwsConfig())
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/").rstrip("/") + "/"
    n = 0
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
        for up in page.get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
            n += 1
    return n


@_one_line_errors
def exists(uri: str, aws: Optional[AwsConfig] = None) -> bool:
    """True when a file or directory exists at the URI."""
    fs, path = to_filesystem(uri, aws)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


@_one_line_errors
def copy_files(src_uri: str, dst_uri: str, aws: Optional[AwsConfig] = None) -> int:
    """Copy the data files directly under src into dst (server-side on S3); returns the count."""
    fs, src = to_filesystem(src_uri, aws)
    _, dst = to_filesystem(dst_uri, aws)
    n = 0
    for f in list_files(src_uri, aws):
        name = f.uri.rsplit("/", 1)[1]
        fs.copy_file(f"{src}/{name}", f"{dst}/{name}")
        n += 1
    return n


@_one_line_errors
def find_dirs(uri: str, names: set[str], aws: Optional[AwsConfig] = None) -> list[str]:
    """Directories below a prefix whose last path segment is one of `names` (one recursive listing)."""
    fs, path = to_filesystem(uri, aws)
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    except FileNotFoundError:
        return []
    found = {info.path for info in infos if info.type == pafs.FileType.Directory and info.base_name in names}
    # S3 has no directories: its listing gives keys, so take the parents of files too.
    for info in infos:
        parent = info.path.rsplit("/", 1)[0]
        if info.type == pafs.FileType.File and parent.rsplit("/", 1)[-1] in names:
            found.add(parent)
    return sorted(_uri(uri, p) for p in found)
