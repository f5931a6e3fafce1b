"""LocalCatalog: the Glue data model in one SQLite file, for laptops and tests."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Optional

from lakeloader.catalog.base import Catalog, Values
from lakeloader.errors import CatalogError, PartitionExistsError, TableExistsError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS databases (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS tables (
  database TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, version INTEGER NOT NULL,
  PRIMARY KEY (database, name));
CREATE TABLE IF NOT EXISTS partitions (
  database TEXT NOT NULL, table_name TEXT NOT NULL, values_key TEXT NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (database, table_name, values_key));
"""


class LocalCatalog(Catalog):
    """A SQLite file holding Glue-shaped TableInput / PartitionInput JSON."""

    def __init__(self, path: str) -> None:
        self.path = path
        parent = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(parent, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30)
            try:
                db.executescript(_SCHEMA)  # commits on its own: outside _tx
            finally:
                db.close()
        except (OSError, sqlite3.Error) as e:
            raise CatalogError(f"cannot open local catalog {path}: {e}") from None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        # One connection per transaction: IMMEDIATE takes the write lock up front, so two
        # writers serialise instead of failing half-way.
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    def ensure_database(self, database: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO databases (name) VALUES (?)", (database,))

    def get_table(self, database: str, table: str) -> Optional[dict[str, Any]]:
        with self._tx() as db:
            row = db.execute("SELECT body FROM tables WHERE database=? AND name=?", (database, table)).fetchone()
        return json.loads(row[0]) if row else None

    def create_table(self, database: str, table_input: dict[str, Any]) -> None:
        with self._tx() as db:
            self._require_db(db, database)
            try:
                db.execute(
                    "INSERT INTO tables (database, name, body, version) VALUES (?, ?, ?, 1)",
                    (database, table_input["Name"], json.dumps(table_input)),
                )
            except sqlite3.IntegrityError:
                raise TableExistsError(f"table {database}.{table_input['Name']} already exists") from None

    def update_table(self, database: str, table_input: dict[str, Any]) -> None:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE tables SET body=?, version=version+1 WHERE database=? AND name=?",
                (json.dumps(table_input), database, table_input["Name"]),
            )
            if cur.rowcount == 0:
                raise CatalogError(f"table {database}.{table_input['Name']} does not exist")

    def get_partitions(self, database: str, table: str) -> list[dict[str, Any]]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT body FROM partitions WHERE database=? AND table_name=? ORDER BY values_key", (database, table)
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def put_partitions(self, database: str, table: str, partitions: Sequence[dict[str, Any]]) -> None:
        with self._tx() as db:
            if not db.execute("SELECT 1 FROM tables WHERE database=? AND name=?", (database, table)).fetchone():
                raise CatalogError(f"table {database}.{table} does not exist")
            db.executemany(
                "INSERT OR REPLACE INTO partitions (database, table_name, values_key, body) VALUES (?, ?, ?, ?)",
                [(database, table, json.dumps(p["Values"]), json.dumps(p)) for p in partitions],
            )

    def create_partition(self, database: str, table: str, partition: dict[str, Any]) -> None:
        with self._tx() as db:
            if not db.execute("SELECT 1 FROM tables WHERE database=? AND name=?", (database, table)).fetchone():
                raise CatalogError(f"table {database}.{table} does not exist")
            try:
                db.execute(
                    "INSERT INTO partitions (database, table_name, values_key, body) VALUES (?, ?, ?, ?)",
                    (database, table, json.dumps(partition["Values"]), json.dumps(partition)),
                )
            except sqlite3.IntegrityError:
                raise PartitionExistsError(f"partition {partition['Values']} of {database}.{table} exists") from None

    def delete_partitions(self, database: str, table: str, values: Sequence[Values]) -> None:
        with self._tx() as db:
            db.executemany(
                "DELETE FROM partitions WHERE database=? AND table_name=? AND values_key=?",
                [(database, table, json.dumps(list(v))) for v in values],
            )

    def delete_table(self, database: str, table: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM partitions WHERE database=? AND table_name=?", (database, table))
            db.execute("DELETE FROM tables WHERE database=? AND name=?", (database, table))

    @staticmethod
    def _require_db(db: sqlite3.Connection, database: str) -> None:
        if not db.execute("SELECT 1 FROM databases WHERE name=?", (database,)).fetchone():
            raise CatalogError(f"database {database!r} does not exist")
