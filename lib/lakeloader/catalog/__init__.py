"""Catalogs: where tables and partitions are registered (local SQLite or AWS Glue).

- base.py: the Catalog interface (Glue's data model); tables.py: TableInput / PartitionInput from a schema
- local.py: SQLite; glue.py: the Glue Data Catalog (glue_batches.py: partition batches in flight,
  glue_retry.py: throttled calls); symlinks.py: projected tables' partitions as symlink manifests
- types.py: Spark -> Glue type strings, Glue -> DuckDB types
"""

from __future__ import annotations

from lakeloader.catalog.base import Catalog
from lakeloader.config import Config
from lakeloader.errors import ConfigError


def open_catalog(config: Config) -> Catalog:
    """The catalog the config names; projected tables keep their partitions as symlink manifests."""
    from lakeloader.catalog.symlinks import SymlinkCatalog

    if config.catalog.kind == "local":
        from lakeloader.catalog.local import LocalCatalog

        return SymlinkCatalog(LocalCatalog(config.catalog.path), config.aws)
    if config.catalog.kind == "glue":
        from lakeloader.catalog.glue import GlueCatalog

        inner = GlueCatalog(config.aws, config.catalog.catalog_id, max_in_flight=config.catalog.max_in_flight)
        return SymlinkCatalog(inner, config.aws)
    raise ConfigError(f"{config.source_file}: catalog.kind: {config.catalog.kind!r} is not supported by this build")
