"""Failures a user can cause. Each carries the exit code the CLI maps it to."""

from __future__ import annotations


class LakeloaderError(Exception):
    """Base for user-caused failures: the message is one line saying what, where and what to do."""

    exit_code = 2
    kind = "error"

    def __str__(self) -> str:
        return f"{self.kind}: {super().__str__()}"


class ConfigError(LakeloaderError):
    """The config file or a command-line argument is wrong."""

    kind = "config error"


class UsageError(LakeloaderError):
    """The command line is wrong."""

    kind = "usage error"


class InputError(LakeloaderError):
    """The input is missing, unreadable, or does not fit the config (columns, format, bad rows)."""

    kind = "input error"


class SchemaError(LakeloaderError):
    """The data's schema cannot be registered (unsupported type, refused evolution)."""

    kind = "schema error"


class CatalogError(LakeloaderError):
    """The catalog refused or failed a request."""

    kind = "catalog error"


class TableExistsError(CatalogError):
    """create_table found the table already there (the atomic step locks are built on)."""


class StorageError(LakeloaderError):
    """The object store (S3) or a filesystem failed a request after every retry its client makes.

    `reason` is the store's own answer, without the operation and URI the message leads with.
    """

    kind = "storage error"

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


class PartitionExistsError(CatalogError):
    """create_partition found the partition already there (the atomic step a lock's lease moves by)."""


class LockedError(LakeloaderError):
    """Another run holds the table's lock; retrying later is the fix."""

    exit_code = 3
    kind = "busy"


class FencedError(LockedError):
    """This run's lease on the table's lock ran out or was taken over: it must change nothing more."""

    kind = "lock lost"


class QueryError(LakeloaderError):
    """A query failed in the query engine."""

    kind = "query error"


class UnexpectedAnswer(QueryError):
    """The engine answered a query with rows of another shape than asked for (none where one was expected)."""

    exit_code = 1  # like a failed check: the data could not be shown to be right, so nothing is published


class ChecksFailed(LakeloaderError):
    """Validation ran and at least one error-severity check failed."""

    exit_code = 1
    kind = "validation failed"


class DeployError(LakeloaderError):
    """Packaging, uploading or running an EMR step failed (EMR/S3 refused a call, the step failed or timed out)."""

    kind = "deploy error"

    def __init__(self, message: str, detail: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__(message)
        # Lines worth showing above the one-line message, e.g. the tail of the step's stderr.
        self.detail = list(detail)
