"""Output files the CLI writes (--output, --report): local paths or s3:// URIs, checked before the work."""

from __future__ import annotations

import os

from lakeloader.config import Config
from lakeloader.errors import StorageError, UsageError

_WRITABLE_SCHEMES = ("s3", "s3a", "file")


def check_destination(path: str, flag: str) -> None:
    """UsageError for an output file lakeloader cannot write: an unknown URI scheme, or no file name."""
    scheme = path.split("://", 1)[0].lower() if "://" in path else ""
    if scheme and scheme not in _WRITABLE_SCHEMES:
        raise UsageError(f"{flag} {path}: use a local path, file:// or s3://bucket/key")
    if path.endswith("/") or (scheme in ("s3", "s3a") and len(path.split("/", 3)) < 4):
        raise UsageError(f"{flag} {path}: name a file, e.g. s3://bucket/reports/report.json")


def write_text(path: str, text: str, config: Config, flag: str) -> None:
    """Write an output file: a local path as given, a URI (s3://, file://) through lakeloader.storage."""
    from lakeloader import storage

    try:
        if "://" in path:
            storage.write_text(path, text, config.aws)
        else:  # plain open: a local name may hold '#' or '?', which a URI parser would cut off
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(text)
    except OSError as e:
        raise UsageError(f"{flag} {path}: cannot write ({_one_line(e)})") from None
    except StorageError as e:  # the flag already names the URI: only the store's answer
        raise UsageError(f"{flag} {path}: cannot write ({e.reason})") from None


def copy_file(src: str, dst: str, config: Config) -> None:
    """Copy a result file from S3 to a local path or an S3 URI: server-side within S3, else streamed."""
    from pyarrow import fs as pafs

    from lakeloader import storage
    from lakeloader.errors import QueryError

    src_fs, src_path = storage.to_filesystem(src, config.aws)
    if "://" in dst:
        dst_fs, dst_path = storage.to_filesystem(dst, config.aws)
    else:
        dst_fs, dst_path = pafs.LocalFileSystem(), os.path.abspath(dst)
    info = src_fs.get_file_info(src_path)
    if info.type != pafs.FileType.File:
        raise QueryError(
            f"Athena's result file {src} is missing; check the workgroup's result location and its lifecycle"
        )
    try:
        if (
            isinstance(src_fs, pafs.S3FileSystem)
            and isinstance(dst_fs, pafs.S3FileSystem)
            and info.size < _COPY_OBJECT_MAX
        ):
            src_fs.copy_file(src_path, dst_path)  # CopyObject: the bytes never leave S3
        else:
            pafs.copy_files(src_path, dst_path, source_filesystem=src_fs, destination_filesystem=dst_fs)
    except OSError as e:
        raise UsageError(f"--output {dst}: cannot copy {src} there ({_one_line(e)})") from None


_COPY_OBJECT_MAX = 5 * 1024**3  # S3 CopyObject takes objects up to 5 GiB; larger ones are streamed


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__
