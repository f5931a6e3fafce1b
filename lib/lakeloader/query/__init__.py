"""Query engines: DuckDB locally, Athena on AWS, behind one QueryEngine interface."""

from __future__ import annotations

from lakeloader.catalog.base import Catalog
from lakeloader.config import Config
from lakeloader.errors import ConfigError
from lakeloader.query.base import QueryEngine, QueryResult

__all__ = ["QueryEngine", "QueryResult", "open_engine"]


def open_engine(config: Config, catalog: Catalog) -> QueryEngine:
    """The query engine the config names."""
    if config.query.engine == "duckdb":
        from lakeloader.query.duckdb import DuckDBEngine

        return DuckDBEngine(catalog, config.aws)
    if config.query.engine == "athena":
        from lakeloader.query.athena import AthenaEngine

        return AthenaEngine(config.aws, config.query)
    raise ConfigError(f"{config.source_file}: query.engine: {config.query.engine!r} is not supported by this build")
