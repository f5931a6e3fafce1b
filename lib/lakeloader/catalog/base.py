"""The Catalog interface: Glue's data model (TableInput / PartitionInput dicts) behind small calls.

LocalCatalog (SQLite) and GlueCatalog (boto3) implement it; the same contract tests run on both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Optional

Values = Sequence[str]


class Catalog(ABC):
    """Databases, tables and partitions, shaped like the AWS Glue Data Catalog API."""

    @abstractmethod
    def ensure_database(self, database: str) -> None:
        """Create the database when it does not exist."""

    @abstractmethod
    def get_table(self, database: str, table: str) -> Optional[dict[str, Any]]:
        """The table as a Glue TableInput dict, or None."""

    @abstractmethod
    def create_table(self, database: str, table_input: dict[str, Any]) -> None:
        """Create a table; CatalogError if it exists."""

    @abstractmethod
    def update_table(self, database: str, table_input: dict[str, Any]) -> None:
        """Replace a table's definition (not its partitions)."""

    @abstractmethod
    def get_partitions(self, database: str, table: str) -> list[dict[str, Any]]:
        """Every partition as a PartitionInput dict (`Values`, `StorageDescriptor`, `Parameters`)."""

    @abstractmethod
    def put_partitions(self, database: str, table: str, partitions: Sequence[dict[str, Any]]) -> None:
        """Create or replace partitions by their `Values`; all or none where the backend allows."""

    @abstractmethod
    def create_partition(self, database: str, table: str, partition: dict[str, Any]) -> None:
        """Create one partition; PartitionExistsError when its `Values` are taken (atomic: one caller wins)."""

    @abstractmethod
    def delete_partitions(self, database: str, table: str, values: Sequence[Values]) -> None:
        """Remove partitions by values; missing ones are ignored."""

    @abstractmethod
    def delete_table(self, database: str, table: str) -> None:
        """Remove a table and its partitions; missing is fine."""
