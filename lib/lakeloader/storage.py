"""Small file operations on warehouse URIs (file:// locally, s3:// on AWS) for the driver side.

Spark does the data I/O; this module handles bookkeeping files (manifests, markers), listing a
run's output and removing old versions. pyarrow's filesystems give one interface for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlparse

from pyarrow import fs as pafs

from lakeloader.config import AwsConfig


@dataclass(frozen=True)
class FileInfo:
    uri: str
    size: int


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
        return pafs.LocalFileSystem(), parsed.path or uri
    if parsed.scheme in ("s3", "s3a"):
        aws = aws or AwsConfig()
        kwargs: dict = {"region": aws.region}
        if aws.endpoint_url:
            ep = urlparse(aws.endpoint_url)
            kwargs.update(endpoint_override=ep.netloc, scheme=ep.scheme or "http", force_virtual_addressing=False)
        return pafs.S3FileSystem(**kwargs), f"{parsed.netloc}{parsed.path}"
    raise ValueError(f"unsupported storage scheme in {uri!r}")


def _uri(prefix_uri: str, fs_path: str) -> str:
    scheme = urlparse(prefix_uri).scheme or "file"
    return f"{scheme}://{fs_path}" if scheme != "file" else f"file://{fs_path}"


def write_text(uri: str, text: str, aws: Optional[AwsConfig] = None) -> None:
    """Write a small text file, creating parent directories; replaces atomically on a local disk."""
    fs, path = to_filesystem(uri, aws)
    local = isinstance(fs, pafs.LocalFileSystem)
    if local:  # S3 has no directories; creating one would leave an empty marker object
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    tmp = path + ".tmp" if local else path
    with fs.open_output_stream(tmp) as out:
        out.write(text.encode("utf-8"))
    if tmp != path:
        fs.move(tmp, path)


def read_text(uri: str, aws: Optional[AwsConfig] = None) -> Optional[str]:
    """The file's text, or None when it does not exist."""
    fs, path = to_filesystem(uri, aws)
    try:
        with fs.open_input_stream(path) as f:
            return f.read().decode("utf-8")
    except FileNotFoundError:
        return None


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
            out.append(FileInfo(_uri(uri, info.path), info.size))
    return sorted(out, key=lambda f: f.uri)


def delete_dir(uri: str, aws: Optional[AwsConfig] = None) -> None:
    """Remove a directory (prefix) and everything under it; missing is fine."""
    fs, path = to_filesystem(uri, aws)
    try:
        fs.delete_dir(path)
    except FileNotFoundError:
        pass


def exists(uri: str, aws: Optional[AwsConfig] = None) -> bool:
    """True when a file or directory exists at the URI."""
    fs, path = to_filesystem(uri, aws)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


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
