"""Partitions of projected tables as Hive symlink manifests instead of catalog entries.

Athena's partition projection builds each partition's location from the table's
`storage.location.template` and ignores registered partitions. A template cannot name a per-run
version directory, so lakeloader points it at a tree of small text files, one per partition,
`<symlink root>/<k1>=<v1>/.../symlink.txt`, each listing the data files of the partition's live
version; the table's input format is SymlinkTextInputFormat (as for Delta's generated manifests
and S3 Inventory tables). Publishing a partition rewrites one object, which S3 replaces atomically,
so readers still see exactly the old or exactly the new version.

SymlinkCatalog wraps any Catalog: for a table whose definition says it is projected it keeps the
partitions in that tree; everything else goes to the wrapped catalog unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

from lakeloader import storage
from lakeloader.catalog.base import Catalog, Values
from lakeloader.catalog.tables import SYMLINK_INPUT, partition_input
from lakeloader.config import AwsConfig
from lakeloader.errors import CatalogError

log = logging.getLogger(__name__)
SYMLINK_FILE = "symlink.txt"
_THREADS = 16  # small objects: latency-bound on S3


def symlink_root(table: Mapping[str, Any]) -> Optional[str]:
    """Where a projected table's symlink tree starts (its template up to the first `${`), else None."""
    params = table.get("Parameters") or {}
    if params.get("projection.enabled", "").lower() != "true":
        return None
    if table.get("StorageDescriptor", {}).get("InputFormat") != SYMLINK_INPUT:
        return None
    template = params.get("storage.location.template", "")
    head = template.split("${", 1)[0]
    return head.rsplit("/", 1)[0] if "${" in template else None


def partition_dir(root: str, keys: Sequence[str], values: Values) -> str:
    """`<root>/k1=v1/k2=v2`: values verbatim, as Athena substitutes them into the template."""
    return "/".join([root.rstrip("/"), *(f"{k}={v}" for k, v in zip(keys, values, strict=False))])


class SymlinkCatalog(Catalog):
    """A Catalog whose projected tables keep their partitions as symlink manifests (see the module doc)."""

    def __init__(self, inner: Catalog, aws: Optional[AwsConfig] = None) -> None:
        self.inner = inner
        self.aws = aws
        # Whether a table is projected, read once: a run makes many partition calls on one table,
        # and each would otherwise cost a GetTable. Table changes made through this wrapper reset it.
        self._definitions: dict[tuple[str, str], Optional[tuple[str, list[str]]]] = {}

    def __getattr__(self, name: str) -> Any:
        # Backend extras (GlueCatalog.catalog_id, LocalCatalog.path, ...) stay reachable.
        return getattr(self.inner, name)

    def _projected(self, database: str, table: str) -> Optional[tuple[str, list[str]]]:
        key = (database, table)
        if key not in self._definitions:
            meta = self.inner.get_table(database, table)
            root = symlink_root(meta) if meta is not None else None
            keys = [k["Name"] for k in meta.get("PartitionKeys", [])] if meta is not None else []
            self._definitions[key] = None if root is None else (root, keys)
        return self._definitions[key]

    # ------------------------------------------------------------------ tables: the wrapped catalog
    def ensure_database(self, database: str) -> None:
        self.inner.ensure_database(database)

    def get_table(self, database: str, table: str) -> Optional[dict[str, Any]]:
        return self.inner.get_table(database, table)

    def create_table(self, database: str, table_input: dict[str, Any]) -> None:
        self._definitions.pop((database, table_input["Name"]), None)
        self.inner.create_table(database, table_input)

    def update_table(self, database: str, table_input: dict[str, Any]) -> None:
        """Replace the definition; partitions move along when projection is switched on or off."""
        before = self._projected(database, table_input["Name"])
        after = symlink_root(table_input)
        if (before[0] if before else None) == after:
            self._definitions.pop((database, table_input["Name"]), None)
            self.inner.update_table(database, table_input)
            return
        moving = self.get_partitions(database, table_input["Name"])
        self._definitions.pop((database, table_input["Name"]), None)
        self.inner.update_table(database, table_input)
        self.put_partitions(database, table_input["Name"], moving)
        if before is not None:
            self._call(storage.delete_dir, before[0], self.aws)
        else:
            self.inner.delete_partitions(database, table_input["Name"], [p["Values"] for p in moving])
        log.info(
            "moved %d partitions of %s.%s %s", len(moving), database, table_input["Name"],
            "to symlink manifests (partition projection on)" if after else "into the catalog (projection off)",
        )  # fmt: skip

    def delete_table(self, database: str, table: str) -> None:
        projected = self._projected(database, table)
        self._definitions.pop((database, table), None)
        self.inner.delete_table(database, table)
        if projected is not None:
            storage.delete_dir(projected[0], self.aws)

    # ------------------------------------------------------------------ partitions: maybe symlinks
    def get_partitions(self, database: str, table: str) -> list[dict[str, Any]]:
        projected = self._projected(database, table)
        if projected is None:
            return self.inner.get_partitions(database, table)
        root, keys = projected
        files = [f for f in self._call(storage.list_files, root, self.aws) if f.uri.endswith("/" + SYMLINK_FILE)]
        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            texts = list(pool.map(lambda f: self._call(storage.read_text, f.uri, self.aws), files))
        out = []
        for f, text in zip(files, texts, strict=False):
            rel = f.uri[len(root.rstrip("/")) + 1 : -len("/" + SYMLINK_FILE)]
            values = _values(rel, keys, f.uri)
            targets = [line for line in (text or "").splitlines() if line.strip()]
            if values is None or not targets:
                log.warning("ignoring %s: not a partition manifest of %s.%s", f.uri, database, table)
                continue
            out.append(partition_input(values, targets[0].rsplit("/", 1)[0], []))
        return out

    def put_partitions(self, database: str, table: str, partitions: Sequence[dict[str, Any]]) -> None:
        projected = self._projected(database, table)
        if projected is None:
            self.inner.put_partitions(database, table, partitions)
            return
        root, keys = projected

        def put(p: dict[str, Any]) -> None:
            location = p["StorageDescriptor"]["Location"]
            files = self._call(storage.list_files, location, self.aws, ".parquet")
            if not files:
                where = f"{database}.{table}: partition {'/'.join(p['Values'])}"
                raise CatalogError(f"{where}: no data files in {location}")
            text = "".join(f"{storage.catalog_uri(f.uri)}\n" for f in files)
            target = f"{partition_dir(root, keys, p['Values'])}/{SYMLINK_FILE}"
            self._call(storage.write_text, target, text, self.aws)

        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            list(pool.map(put, partitions))

    def create_partition(self, database: str, table: str, partition: dict[str, Any]) -> None:
        """Only lakeloader's own lock tables take single partitions, and they are never projected."""
        self.inner.create_partition(database, table, partition)

    def delete_partitions(self, database: str, table: str, values: Sequence[Values]) -> None:
        projected = self._projected(database, table)
        if projected is None:
            self.inner.delete_partitions(database, table, values)
        else:
            self._delete(projected[0], projected[1], values)

    def _delete(self, root: str, keys: list[str], values: Sequence[Values]) -> None:
        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            list(pool.map(lambda v: self._call(storage.delete_dir, partition_dir(root, keys, v), self.aws), values))

    @staticmethod
    def _call(fn, uri: str, *args: Any) -> Any:  # noqa: ANN001
        try:
            return fn(uri, *args)
        except OSError as e:
            raise CatalogError(f"partition manifest {uri}: {e}") from None


def _values(rel: str, keys: Sequence[str], uri: str) -> Optional[list[str]]:
    """The partition values of a manifest directory `k1=v1/k2=v2`, or None when it is not one."""
    segments = rel.split("/")
    if len(segments) != len(keys):
        return None
    values = []
    for key, seg in zip(keys, segments, strict=False):
        name, sep, value = seg.partition("=")
        if not sep or name != key:
            return None
        values.append(value)
    return values
