"""GlueCatalog: the Catalog interface on the AWS Glue Data Catalog (boto3), with LocalCatalog's semantics.

Partitions go in batches of 100 (Glue's limit) with several calls in flight; a throttled call is retried by
botocore (`aws.max_attempts` in all), a throttled item of a batch by GlueCatalog within a bounded number of
attempts and a time limit (glue_retry.py); every other per-item error is raised.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, Optional

from botocore import xform_name
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from botocore.validate import ParamValidator

from lakeloader import aws as awsutil
from lakeloader.catalog.base import Catalog, Values
from lakeloader.catalog.glue_batches import Item, chunks, delete_chunk, in_parallel, put_chunk
from lakeloader.catalog.glue_retry import DEFAULT_RETRY, GlueCallError, call_error
from lakeloader.config import AwsConfig
from lakeloader.errors import CatalogError, PartitionExistsError, TableExistsError
from lakeloader.retry import Backoff

log = logging.getLogger(__name__)

CREATE_BATCH = 100  # BatchCreatePartition: PartitionInputList max 100 (BatchUpdatePartition's Entries too)
DELETE_BATCH = 25  # BatchDeletePartition: PartitionsToDelete max 25
PAGE_SIZE = 1000  # GetPartitions: MaxResults max 1000

# Keys of a GetTable `Table` that are also valid (and ours to set) in a TableInput. Left out: what Glue
# manages (DatabaseName, CreateTime, UpdateTime, CreatedBy, CatalogId, VersionId, ...), access statistics
# (LastAccessTime, LastAnalyzedTime), and ViewDefinition, whose output shape differs from its input shape.
TABLE_INPUT_KEYS = (
    "Name",
    "Description",
    "Owner",
    "Retention",
    "StorageDescriptor",
    "PartitionKeys",
    "ViewOriginalText",
    "ViewExpandedText",
    "TableType",
    "Parameters",
    "TargetTable",
)
PARTITION_INPUT_KEYS = ("Values", "StorageDescriptor", "Parameters")


def glue_client(aws: AwsConfig, max_in_flight: int = 16) -> Any:
    """The Glue client GlueCatalog makes: a connection per call in flight, no per-call parameter validation."""
    # botocore's validation of a 100-partition batch costs more client CPU than serializing it, and on 2 cores
    # that CPU, not Glue's latency, bounded a large registration (bench/RESULTS.md). GlueCatalog validates
    # every single call itself, and of a put's or delete's batches, all built alike, the first (_check_request).
    return awsutil.client("glue", aws, pool_size=max_in_flight, validate=False)


class GlueCatalog(Catalog):
    """Tables and partitions in the AWS Glue Data Catalog (or a moto server standing in for it)."""

    def __init__(
        self,
        aws: AwsConfig,
        catalog_id: Optional[str] = None,
        client: Any = None,
        max_in_flight: int = 16,
        retry: Backoff = DEFAULT_RETRY,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.catalog_id = catalog_id
        self.max_in_flight = max_in_flight
        self.retry = retry
        self._client = client if client is not None else glue_client(aws, max_in_flight)

    # ------------------------------------------------------------------ databases and tables

    def ensure_database(self, database: str) -> None:
        try:
            self._call("CreateDatabase", database, DatabaseInput={"Name": database})
        except GlueCallError as e:
            if e.code != "AlreadyExistsException":
                raise

    def get_table(self, database: str, table: str) -> Optional[dict[str, Any]]:
        try:
            found = self._call("GetTable", f"{database}.{table}", DatabaseName=database, Name=table)["Table"]
        except GlueCallError as e:
            if e.code == "EntityNotFoundException":
                return None
            raise
        return {k: found[k] for k in TABLE_INPUT_KEYS if k in found}

    def create_table(self, database: str, table_input: dict[str, Any]) -> None:
        name = table_input["Name"]
        try:
            self._call("CreateTable", f"{database}.{name}", DatabaseName=database, TableInput=table_input)
        except GlueCallError as e:
            if e.code == "AlreadyExistsException":
                raise TableExistsError(f"table {database}.{name} already exists") from None
            if e.code == "EntityNotFoundException":
                raise CatalogError(f"database {database!r} does not exist") from None
            raise

    def update_table(self, database: str, table_input: dict[str, Any]) -> None:
        name = table_input["Name"]
        try:
            self._call("UpdateTable", f"{database}.{name}", DatabaseName=database, TableInput=table_input)
        except GlueCallError as e:
            if e.code == "EntityNotFoundException":
                raise CatalogError(f"table {database}.{name} does not exist") from None
            raise

    def delete_table(self, database: str, table: str) -> None:
        # Glue drops a deleted table's partitions asynchronously; deleting them first makes the
        # partitions gone on return, as in LocalCatalog, even if the table is re-created at once.
        values = [p["Values"] for p in self._partitions(database, table, exclude_columns=True)]
        self.delete_partitions(database, table, values)
        try:
            self._call("DeleteTable", f"{database}.{table}", DatabaseName=database, Name=table)
        except GlueCallError as e:
            if e.code != "EntityNotFoundException":
                raise

    # ------------------------------------------------------------------ partitions

    def get_partitions(self, database: str, table: str) -> list[dict[str, Any]]:
        parts = [{k: p[k] for k in PARTITION_INPUT_KEYS if k in p} for p in self._partitions(database, table)]
        return sorted(parts, key=lambda p: json.dumps(p["Values"]))  # LocalCatalog's order

    def put_partitions(self, database: str, table: str, partitions: Sequence[dict[str, Any]]) -> None:
        """Create or replace partitions by `Values`; not atomic: on CatalogError some may be registered."""
        # Last one wins for repeated Values, like LocalCatalog's INSERT OR REPLACE; Glue would reject them.
        unique = {tuple(p["Values"]): p for p in partitions}
        if not unique:
            if self.get_table(database, table) is None:
                raise CatalogError(f"table {database}.{table} does not exist")
            return
        items = [Item(list(v), body) for v, body in unique.items()]
        first = [i.body for i in items[:CREATE_BATCH]]
        self._check_request("BatchCreatePartition", DatabaseName=database, TableName=table, PartitionInputList=first)
        counts = in_parallel(
            [lambda c=c: put_chunk(self._call, database, table, c, self.retry) for c in chunks(items, CREATE_BATCH)],
            self.max_in_flight,
        )
        log.info(
            "registered %d partitions of %s.%s (%d created, %d replaced)",
            len(items),
            database,
            table,
            sum(c[0] for c in counts),
            sum(c[1] for c in counts),
        )

    def create_partition(self, database: str, table: str, partition: dict[str, Any]) -> None:
        where = f"{database}.{table}"
        try:
            self._call("CreatePartition", where, DatabaseName=database, TableName=table, PartitionInput=partition)
        except GlueCallError as e:
            if e.code == "AlreadyExistsException":
                raise PartitionExistsError(f"partition {partition['Values']} of {where} exists") from None
            if e.code == "EntityNotFoundException":
                raise CatalogError(f"table {where} does not exist") from None
            raise

    def delete_partitions(self, database: str, table: str, values: Sequence[Values]) -> None:
        unique = {tuple(v): list(v) for v in values}
        if not unique:
            return
        items = [Item(v, {"Values": v}) for v in unique.values()]
        first = [i.body for i in items[:DELETE_BATCH]]
        self._check_request("BatchDeletePartition", DatabaseName=database, TableName=table, PartitionsToDelete=first)
        in_parallel(
            [lambda c=c: delete_chunk(self._call, database, table, c, self.retry) for c in chunks(items, DELETE_BATCH)],
            self.max_in_flight,
        )
        log.info("deleted up to %d partitions of %s.%s", len(items), database, table)

    # ------------------------------------------------------------------ calls

    def _partitions(self, database: str, table: str, exclude_columns: bool = False) -> list[dict[str, Any]]:
        """Every partition of a table as Glue returns it; none when the table does not exist."""
        ids = {"CatalogId": self.catalog_id} if self.catalog_id else {}
        pages = self._client.get_paginator("get_partitions").paginate(
            **ids,
            DatabaseName=database,
            TableName=table,
            ExcludeColumnSchema=exclude_columns,
            PaginationConfig={"PageSize": PAGE_SIZE},
        )
        try:
            return [p for page in pages for p in page.get("Partitions", [])]
        except ParamValidationError:
            raise
        except (ClientError, BotoCoreError) as e:
            if awsutil.error_code(e) == "EntityNotFoundException":
                return []  # LocalCatalog: a missing table has no partitions
            raise call_error("GetPartitions", f"{database}.{table}", e) from None

    def _check_request(self, operation: str, **kwargs: Any) -> None:
        """Validate one request against the Glue API model (ParamValidationError: a bug in how it was built)."""
        if self.catalog_id:
            kwargs["CatalogId"] = self.catalog_id
        shape = self._client.meta.service_model.operation_model(operation).input_shape
        report = ParamValidator().validate(kwargs, shape)
        if report.has_errors():
            raise ParamValidationError(report=report.generate_report())

    def _call(self, operation: str, where: str, checked: bool = False, **kwargs: Any) -> dict:
        """Invoke one Glue API operation; GlueCallError (a one-line CatalogError) on failure.

        Single calls are validated here; batches (`checked`) once per put or delete, before the first.
        """
        if not checked:
            self._check_request(operation, **kwargs)
        if self.catalog_id:
            kwargs["CatalogId"] = self.catalog_id
        try:
            return getattr(self._client, xform_name(operation))(**kwargs)
        except ParamValidationError:
            raise  # a request we built wrongly is a bug: keep the traceback
        except (ClientError, BotoCoreError) as e:
            raise call_error(operation, where, e) from None
