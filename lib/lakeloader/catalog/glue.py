"""GlueCatalog: the Catalog interface on the AWS Glue Data Catalog (boto3), with LocalCatalog's semantics.

Partitions go in batches of 100 (Glue's limit) with several calls in flight; throttling, whether Glue
reports it for the whole call or per item, is retried with exponential backoff and jitter within a
bounded number of attempts and a time limit; every other per-item error is raised.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, TypeVar

from botocore import xform_name
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from botocore.validate import ParamValidator

from lakeloader import aws as awsutil
from lakeloader.catalog.base import Catalog, Values
from lakeloader.config import AwsConfig
from lakeloader.errors import CatalogError, TableExistsError

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

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep retrying throttled Glue calls or items of one batch before giving up.

    `max_attempts` counts the first try; `time_limit_s` runs from the batch's first call.
    """

    max_attempts: int = 8
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0
    time_limit_s: float = 120.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)


class _Backoff:
    """One retry budget: attempts counted, sleeps with full jitter, gives up at the bound or the deadline."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.deadline = time.monotonic() + policy.time_limit_s
        self.attempt = 1

    def wait(self) -> bool:
        """Sleep before the next attempt; False when the attempt bound or the time limit is reached."""
        p = self.policy
        if self.attempt >= p.max_attempts:
            return False
        delay = random.uniform(0, min(p.max_delay_s, p.base_delay_s * 2 ** (self.attempt - 1)))
        if time.monotonic() + delay > self.deadline:
            return False
        p.sleep(delay)
        self.attempt += 1
        return True


class _GlueCallError(CatalogError):
    """A Glue call failed; carries the AWS error code so callers can treat expected codes specially."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Item:
    """One partition on its way into Glue, and the last error Glue gave for it."""

    values: list[str]
    body: dict[str, Any]
    error: str = ""


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
        retry: Optional[RetryPolicy] = None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.catalog_id = catalog_id
        self.max_in_flight = max_in_flight
        self.retry = retry or RetryPolicy()
        self._client = client if client is not None else glue_client(aws, max_in_flight)

    # ------------------------------------------------------------------ databases and tables

    def ensure_database(self, database: str) -> None:
        try:
            self._call("CreateDatabase", database, DatabaseInput={"Name": database})
        except _GlueCallError as e:
            if e.code != "AlreadyExistsException":
                raise

    def get_table(self, database: str, table: str) -> Optional[dict[str, Any]]:
        try:
            found = self._call("GetTable", f"{database}.{table}", DatabaseName=database, Name=table)["Table"]
        except _GlueCallError as e:
            if e.code == "EntityNotFoundException":
                return None
            raise
        return {k: found[k] for k in TABLE_INPUT_KEYS if k in found}

    def create_table(self, database: str, table_input: dict[str, Any]) -> None:
        name = table_input["Name"]
        try:
            self._call("CreateTable", f"{database}.{name}", DatabaseName=database, TableInput=table_input)
        except _GlueCallError as e:
            if e.code == "AlreadyExistsException":
                raise TableExistsError(f"table {database}.{name} already exists") from None
            if e.code == "EntityNotFoundException":
                raise CatalogError(f"database {database!r} does not exist") from None
            raise

    def update_table(self, database: str, table_input: dict[str, Any]) -> None:
        name = table_input["Name"]
        try:
            self._call("UpdateTable", f"{database}.{name}", DatabaseName=database, TableInput=table_input)
        except _GlueCallError as e:
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
        except _GlueCallError as e:
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
        items = [_Item(list(v), body) for v, body in unique.items()]
        first = [i.body for i in items[:CREATE_BATCH]]
        self._check_request("BatchCreatePartition", DatabaseName=database, TableName=table, PartitionInputList=first)
        counts = self._in_parallel(
            [lambda c=c: self._put_chunk(database, table, c) for c in _chunks(items, CREATE_BATCH)]
        )
        log.info(
            "registered %d partitions of %s.%s (%d created, %d replaced)",
            len(items),
            database,
            table,
            sum(c[0] for c in counts),
            sum(c[1] for c in counts),
        )

    def delete_partitions(self, database: str, table: str, values: Sequence[Values]) -> None:
        unique = {tuple(v): list(v) for v in values}
        if not unique:
            return
        items = [_Item(v, {"Values": v}) for v in unique.values()]
        first = [i.body for i in items[:DELETE_BATCH]]
        self._check_request("BatchDeletePartition", DatabaseName=database, TableName=table, PartitionsToDelete=first)
        self._in_parallel([lambda c=c: self._delete_chunk(database, table, c) for c in _chunks(items, DELETE_BATCH)])
        log.info("deleted up to %d partitions of %s.%s", len(items), database, table)

    # ------------------------------------------------------------------ batches

    def _put_chunk(self, database: str, table: str, chunk: list[_Item]) -> tuple[int, int]:
        """Create the chunk's partitions, update those that exist; (created, updated).

        Updates are a subset of the chunk, so they fit one BatchUpdatePartition call too.
        """
        backoff = _Backoff(self.retry)
        to_create, to_update = list(chunk), []
        created = updated = 0
        while True:
            retry_create: list[_Item] = []
            retry_update: list[_Item] = []
            if to_create:
                failed = self._batch(
                    "BatchCreatePartition",
                    database,
                    table,
                    to_create,
                    "PartitionValues",
                    {"AlreadyExistsException"},
                    backoff,
                    PartitionInputList=[i.body for i in to_create],
                )
                exists = [i for i in failed if i.error == "AlreadyExistsException"]
                retry_create = [i for i in failed if i.error != "AlreadyExistsException"]
                created += len(to_create) - len(failed)
                to_update += exists
            if to_update:
                failed = self._batch(
                    "BatchUpdatePartition",
                    database,
                    table,
                    to_update,
                    "PartitionValueList",
                    {"EntityNotFoundException"},
                    backoff,
                    Entries=[{"PartitionValueList": i.values, "PartitionInput": i.body} for i in to_update],
                )
                # Deleted by someone else between our create and update: create it again.
                retry_create += [i for i in failed if i.error == "EntityNotFoundException"]
                retry_update = [i for i in failed if i.error != "EntityNotFoundException"]
                updated += len(to_update) - len(failed)
            if not retry_create and not retry_update:
                return created, updated
            if not backoff.wait():
                operation = "BatchCreatePartition" if retry_create else "BatchUpdatePartition"
                self._give_up(operation, database, table, retry_create + retry_update, backoff)
            to_create, to_update = retry_create, retry_update

    def _delete_chunk(self, database: str, table: str, chunk: list[_Item]) -> None:
        backoff = _Backoff(self.retry)
        todo = chunk
        while todo:
            try:
                failed = self._batch(
                    "BatchDeletePartition",
                    database,
                    table,
                    todo,
                    "PartitionValues",
                    {"EntityNotFoundException"},
                    backoff,
                    PartitionsToDelete=[{"Values": i.values} for i in todo],
                )
            except _GlueCallError as e:
                if e.code == "EntityNotFoundException":  # no table (or database): nothing to delete
                    return
                raise
            todo = [i for i in failed if i.error != "EntityNotFoundException"]  # missing ones are fine
            if todo and not backoff.wait():
                self._give_up("BatchDeletePartition", database, table, todo, backoff)

    def _batch(
        self,
        operation: str,
        database: str,
        table: str,
        items: list[_Item],
        values_key: str,
        expected: set[str],
        backoff: _Backoff,
        **kwargs: Any,
    ) -> list[_Item]:
        """One batch call (retried while throttled as a whole); the items Glue reported per-item errors for.

        Throttled items come back with error 'throttled', `expected` codes with their code; any other
        per-item error raises CatalogError naming the partition.
        """
        response = self._call_retrying(
            operation, f"{database}.{table}", backoff, DatabaseName=database, TableName=table, **kwargs
        )
        by_values = {tuple(i.values): i for i in items}
        failed = []
        for err in response.get("Errors", []):
            detail = err.get("ErrorDetail", {})
            code, message = detail.get("ErrorCode", ""), awsutil.one_line(detail.get("ErrorMessage", ""))
            item = by_values.get(tuple(err.get(values_key) or ()))
            if item is None:  # cannot tell which partition failed, so cannot promise it is registered
                raise CatalogError(f"{operation} {database}.{table}: {code}: {message} (for unknown partition)")
            # Throttling and Glue's own transient failures are retried like a throttled call.
            if awsutil.is_throttling(code, message) or code == "InternalServiceException":
                item.error = "throttled"
            elif code in expected:
                item.error = code
            else:
                raise CatalogError(f"{operation} {database}.{table} partition {item.values}: {code}: {message}")
            failed.append(item)
        return failed

    def _give_up(self, operation: str, database: str, table: str, items: list[_Item], backoff: _Backoff) -> None:
        sample = ", ".join(str(i.values) for i in items[:3]) + (", ..." if len(items) > 3 else "")
        raise CatalogError(
            f"{operation} {database}.{table}: {len(items)} partitions still throttled or conflicting after "
            f"{backoff.attempt} attempts ({sample}); retry later or lower the calls in flight"
        )

    def _in_parallel(self, tasks: list[Callable[[], T]]) -> list[T]:
        """Run tasks with at most max_in_flight at once; the first failure cancels those not started."""
        if len(tasks) == 1 or self.max_in_flight == 1:
            return [t() for t in tasks]
        with ThreadPoolExecutor(max_workers=min(self.max_in_flight, len(tasks))) as pool:
            futures = [pool.submit(t) for t in tasks]
            wait(futures, return_when=FIRST_EXCEPTION)
            for f in futures:
                f.cancel()
            failed = [f for f in futures if f.done() and not f.cancelled() and f.exception() is not None]
            if failed:
                raise failed[0].exception()  # type: ignore[misc]
            return [f.result() for f in futures]

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
            raise self._error("GetPartitions", f"{database}.{table}", e) from None

    def _check_request(self, operation: str, **kwargs: Any) -> None:
        """Validate one request against the Glue API model (ParamValidationError: a bug in how it was built)."""
        if self.catalog_id:
            kwargs["CatalogId"] = self.catalog_id
        shape = self._client.meta.service_model.operation_model(operation).input_shape
        report = ParamValidator().validate(kwargs, shape)
        if report.has_errors():
            raise ParamValidationError(report=report.generate_report())

    def _call_retrying(self, operation: str, where: str, backoff: _Backoff, **kwargs: Any) -> dict:
        """`_call`, retried while Glue throttles the whole call (after botocore's own retries gave up)."""
        while True:
            try:
                return self._call(operation, where, checked=True, **kwargs)
            except _GlueCallError as e:
                if not awsutil.is_throttling(e.code, str(e)):
                    raise
                if not backoff.wait():
                    raise CatalogError(
                        f"{operation} {where}: still throttled ({e.code}) after {backoff.attempt} attempts; "
                        "retry later or lower the calls in flight"
                    ) from None

    def _call(self, operation: str, where: str, checked: bool = False, **kwargs: Any) -> dict:
        """Invoke one Glue API operation; _GlueCallError (a one-line CatalogError) on failure.

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
            raise self._error(operation, where, e) from None

    @staticmethod
    def _error(operation: str, where: str, exc: BaseException) -> _GlueCallError:
        code = awsutil.error_code(exc) or type(exc).__name__
        return _GlueCallError(f"{operation} {where}: {code}: {awsutil.error_message(exc)}", code)


def _chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
