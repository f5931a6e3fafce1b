"""The QueryEngine interface: Athena SQL in, typed rows out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


class QueryEngine(ABC):
    """Runs Athena-dialect SQL against tables registered in the catalog."""

    name: str = "query engine"  # how errors name the engine ("athena", "duckdb")
    queries_issued: int = 0

    @abstractmethod
    def query(self, sql: str, parameters: Sequence[Any] = ()) -> QueryResult:
        """Run one statement; `?` placeholders take `parameters` (never formatted into the SQL)."""
