"""Partitions into and out of Glue in batches (Glue's size limits), several in flight, throttled items retried.

Each batch has one retry budget (lakeloader.retry) for the items Glue reports failed inside a successful
call; the calls themselves are retried by botocore only (glue_retry.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

from lakeloader import aws as awsutil
from lakeloader.catalog.glue_retry import GlueCallError
from lakeloader.errors import CatalogError
from lakeloader.retry import Backoff, attempts

T = TypeVar("T")


@dataclass
class Item:
    """One partition on its way into Glue, and the last error Glue gave for it."""

    values: list[str]
    body: dict[str, Any]
    error: str = ""


def put_chunk(
    call: Callable[..., dict], database: str, table: str, chunk: list[Item], retry: Backoff
) -> tuple[int, int]:
    """Create the chunk's partitions, update those that exist; (created, updated).

    Updates are a subset of the chunk, so they fit one BatchUpdatePartition call too.
    """
    budget = _Budget(retry)
    to_create, to_update = list(chunk), []
    created = updated = 0
    while True:
        retry_create: list[Item] = []
        retry_update: list[Item] = []
        if to_create:
            failed = _batch(
                call,
                "BatchCreatePartition",
                database,
                table,
                to_create,
                "PartitionValues",
                {"AlreadyExistsException"},
                PartitionInputList=[i.body for i in to_create],
            )
            exists = [i for i in failed if i.error == "AlreadyExistsException"]
            retry_create = [i for i in failed if i.error != "AlreadyExistsException"]
            created += len(to_create) - len(failed)
            to_update += exists
        if to_update:
            failed = _batch(
                call,
                "BatchUpdatePartition",
                database,
                table,
                to_update,
                "PartitionValueList",
                {"EntityNotFoundException"},
                Entries=[{"PartitionValueList": i.values, "PartitionInput": i.body} for i in to_update],
            )
            # Deleted by someone else between our create and update: create it again.
            retry_create += [i for i in failed if i.error == "EntityNotFoundException"]
            retry_update = [i for i in failed if i.error != "EntityNotFoundException"]
            updated += len(to_update) - len(failed)
        if not retry_create and not retry_update:
            return created, updated
        if not budget.next():
            operation = "BatchCreatePartition" if retry_create else "BatchUpdatePartition"
            _give_up(operation, database, table, retry_create + retry_update, budget.attempt)
        to_create, to_update = retry_create, retry_update


def delete_chunk(call: Callable[..., dict], database: str, table: str, chunk: list[Item], retry: Backoff) -> None:
    """Delete the chunk's partitions; those already gone are fine."""
    budget = _Budget(retry)
    todo = chunk
    while todo:
        try:
            failed = _batch(
                call,
                "BatchDeletePartition",
                database,
                table,
                todo,
                "PartitionValues",
                {"EntityNotFoundException"},
                PartitionsToDelete=[{"Values": i.values} for i in todo],
            )
        except GlueCallError as e:
            if e.code == "EntityNotFoundException":  # no table (or database): nothing to delete
                return
            raise
        todo = [i for i in failed if i.error != "EntityNotFoundException"]  # missing ones are fine
        if todo and not budget.next():
            _give_up("BatchDeletePartition", database, table, todo, budget.attempt)


def _batch(
    call: Callable[..., dict],
    operation: str,
    database: str,
    table: str,
    items: list[Item],
    values_key: str,
    expected: set[str],
    **kwargs: Any,
) -> list[Item]:
    """One batch call (botocore retries it while throttled as a whole); the items Glue reported errors for.

    Throttled items come back with error 'throttled', `expected` codes with their code; any other
    per-item error raises CatalogError naming the partition.
    """
    response = call(operation, f"{database}.{table}", checked=True, DatabaseName=database, TableName=table, **kwargs)
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


class _Budget:
    """A batch's retry budget: `next()` pauses and is True while another attempt is allowed."""

    def __init__(self, policy: Backoff) -> None:
        self._attempts: Iterator[int] = attempts(policy)
        self.attempt = next(self._attempts)

    def next(self) -> bool:
        following = next(self._attempts, None)
        if following is None:
            return False
        self.attempt = following
        return True


def _give_up(operation: str, database: str, table: str, items: list[Item], tries: int) -> None:
    sample = ", ".join(str(i.values) for i in items[:3]) + (", ..." if len(items) > 3 else "")
    raise CatalogError(
        f"{operation} {database}.{table}: {len(items)} partitions still throttled or conflicting after "
        f"{tries} attempts ({sample}); retry later or lower the calls in flight"
    )


def in_parallel(tasks: list[Callable[[], T]], max_in_flight: int) -> list[T]:
    """Run tasks with at most max_in_flight at once; the first failure cancels those not started."""
    if len(tasks) == 1 or max_in_flight == 1:
        return [t() for t in tasks]
    with ThreadPoolExecutor(max_workers=min(max_in_flight, len(tasks))) as pool:
        futures = [pool.submit(t) for t in tasks]
        wait(futures, return_when=FIRST_EXCEPTION)
        for f in futures:
            f.cancel()
        failed = [f for f in futures if f.done() and not f.cancelled() and f.exception() is not None]
        if failed:
            raise failed[0].exception()  # type: ignore[misc]
        return [f.result() for f in futures]


def chunks(items: list[T], size: int) -> list[list[T]]:
    """`items` in consecutive lists of at most `size` (Glue's batch limits)."""
    return [items[i : i + size] for i in range(0, len(items), size)]
