"""Query engines: DuckDB locally, Athena on AWS, behind one QueryEngine interface.

- base.py: the interface; sql.py: SQL text helpers shared by the engines and validation
- duckdb.py: Athena SQL transpiled by sqlglot over the catalog's files
- athena.py: Amazon Athena (athena_values.py: typed result values, athena_errors.py: one-line failures)
- export_sql.py, athena_export.py: the SQL and Athena UNLOADs of `lakeloader export`
"""

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
