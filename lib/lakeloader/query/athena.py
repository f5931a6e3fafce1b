"""AthenaEngine: the QueryEngine interface on Amazon Athena (boto3), for validation and `lakeloader query` on AWS.

A query is started, polled with exponential backoff until it ends or `query.timeout_s` passes (then it is
stopped), and its result pages are read back with every value converted from Athena's text to the Python
type its column declares (athena_values.py); a failure is one line with what it means (athena_errors.py).
`?` parameters travel as Athena ExecutionParameters, rendered as SQL literals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Optional

from botocore import xform_name
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from lakeloader import aws as awsutil
from lakeloader.config import AwsConfig, QueryConfig
from lakeloader.errors import QueryError
from lakeloader.query.athena_errors import client_error_hint, failure_message, shorten
from lakeloader.query.athena_values import convert_row, converter, is_header
from lakeloader.query.base import QueryEngine, QueryResult
from lakeloader.query.sql import sql_literal
from lakeloader.retry import Backoff, attempts

log = logging.getLogger(__name__)

CATALOG = "AwsDataCatalog"
MAX_PAGE_SIZE = 1000  # GetQueryResults: MaxResults max 1000
TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})


# How to wait for a query: from 0.2 s doubling to 5 s, each pause jittered down by up to half (spreads the
# polls of many drivers); the deadline is `query.timeout_s`, set for each wait. Tests inject sleep and clock.
DEFAULT_POLL = Backoff(initial_s=0.2, max_s=5.0, jitter=0.5, timeout_s=0)


@dataclass(frozen=True)
class AthenaExecution:
    """What Athena reported about the last query: id, final state, cost and where its result CSV is."""

    query_id: str
    state: str
    reason: Optional[str] = None
    statement_type: Optional[str] = None
    data_scanned_bytes: int = 0
    engine_execution_ms: int = 0
    total_execution_ms: int = 0
    output_location: Optional[str] = None  # s3://.../<query id>.csv, Athena's own CSV of the result

    @classmethod
    def from_response(cls, execution: dict[str, Any]) -> AthenaExecution:
        """Build from a GetQueryExecution `QueryExecution`."""
        status = execution.get("Status") or {}
        stats = execution.get("Statistics") or {}
        reason = status.get("StateChangeReason") or (status.get("AthenaError") or {}).get("ErrorMessage")
        return cls(
            query_id=execution["QueryExecutionId"],
            state=status.get("State", "UNKNOWN"),
            reason=shorten(awsutil.one_line(reason)) if reason else None,
            statement_type=execution.get("StatementType"),
            data_scanned_bytes=int(stats.get("DataScannedInBytes") or 0),
            engine_execution_ms=int(stats.get("EngineExecutionTimeInMillis") or 0),
            total_execution_ms=int(stats.get("TotalExecutionTimeInMillis") or 0),
            output_location=(execution.get("ResultConfiguration") or {}).get("OutputLocation"),
        )


class _Timeout(Exception):
    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state


class AthenaEngine(QueryEngine):
    """Athena SQL run by Amazon Athena (or a moto server seeded with results) against the Glue catalog."""

    name = "athena"

    def __init__(
        self,
        aws: AwsConfig,
        query: QueryConfig,
        database: Optional[str] = None,
        client: Any = None,
        poll: Backoff = DEFAULT_POLL,
        page_size: int = MAX_PAGE_SIZE,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        self.config = query
        self.database = database
        self.poll = poll
        self.page_size = page_size
        self.queries_issued = 0
        self.last_execution: Optional[AthenaExecution] = None
        self._client = client if client is not None else awsutil.client("athena", aws)

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> QueryResult:
        """Run one statement and return its typed rows; QueryError (one line) when Athena refuses or fails it."""
        info = self.execute(sql, parameters)
        result = self._results(info.query_id)
        log.info(
            "athena query %s: %d rows, %d bytes scanned, %d ms in engine",
            info.query_id,
            len(result.rows),
            info.data_scanned_bytes,
            info.engine_execution_ms,
        )
        return result

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> AthenaExecution:
        """Run one statement to completion without reading its rows back (they stay in Athena's result CSV).

        For callers that want the result file itself (`lakeloader query --output`): paging a large result
        through GetQueryResults, 1,000 rows a call, is slower than copying the CSV.
        """
        request: dict[str, Any] = {
            "QueryString": sql,
            "WorkGroup": self.config.workgroup,
            "QueryExecutionContext": {"Catalog": CATALOG, **({"Database": self.database} if self.database else {})},
        }
        if self.config.output_location:
            request["ResultConfiguration"] = {"OutputLocation": self.config.output_location}
        if parameters:
            request["ExecutionParameters"] = [sql_literal(v, i) for i, v in enumerate(parameters, 1)]
        self.last_execution = None
        query_id = self._call("StartQueryExecution", **request)["QueryExecutionId"]
        self.queries_issued += 1
        log.debug("athena query %s started in workgroup %s", query_id, self.config.workgroup)
        try:
            info = self._wait(query_id)
        except _Timeout as t:
            problem = self._stop(query_id)
            outcome = f"could not stop it ({problem}); stop it in the Athena console" if problem else "stopped it"
            raise QueryError(
                f"Athena query {query_id} did not finish within {self.config.timeout_s:g} s (state {t.state}); "
                f"{outcome}. Raise query.timeout_s or scan less (filter on partition columns)"
            ) from None
        except BaseException:
            # Ctrl-C or a failed poll: do not leave a query running (and billing) behind us.
            self._stop(query_id)
            raise
        if info.state != "SUCCEEDED":
            raise QueryError(failure_message(info))
        return info

    def fetch(self, query_id: str) -> QueryResult:
        """The typed rows of a query that succeeded (see execute)."""
        return self._results(query_id)

    # ------------------------------------------------------------------ steps

    def _wait(self, query_id: str) -> AthenaExecution:
        """Poll until the query ends; what Athena then reports. Raises _Timeout after `timeout_s`."""
        # The last pause ends at the deadline, for one final look before giving up.
        for _ in attempts(replace(self.poll, timeout_s=self.config.timeout_s)):
            execution = self._call("GetQueryExecution", QueryExecutionId=query_id)["QueryExecution"]
            # Kept current while polling, so a caller sees the id and state after a timeout or Ctrl-C too.
            info = self.last_execution = AthenaExecution.from_response(execution)
            if info.state in TERMINAL_STATES:
                return info
        raise _Timeout(info.state)

    def _stop(self, query_id: str) -> Optional[str]:
        """Best-effort StopQueryExecution; the problem as text when it failed, else None."""
        try:
            self._client.stop_query_execution(QueryExecutionId=query_id)
        except (ClientError, BotoCoreError) as e:
            problem = f"{awsutil.error_code(e) or type(e).__name__}: {awsutil.error_message(e)}"
            log.warning("could not stop athena query %s: %s", query_id, problem)
            return problem
        log.info("stopped athena query %s", query_id)
        return None

    def _results(self, query_id: str) -> QueryResult:
        """Every result page, typed by the columns' declared types, without Athena's header row."""
        columns: list[dict[str, Any]] = []
        converters: list[Callable[[Optional[str]], Any]] = []
        rows: list[tuple[Any, ...]] = []
        token: Optional[str] = None
        first = True
        while True:
            kwargs: dict[str, Any] = {"QueryExecutionId": query_id, "MaxResults": self.page_size}
            if token:
                kwargs["NextToken"] = token
            page = self._call("GetQueryResults", **kwargs)
            result_set = page.get("ResultSet", {})
            raw = [[d.get("VarCharValue") for d in r.get("Data", [])] for r in result_set.get("Rows", [])]
            if first:
                columns = list(result_set.get("ResultSetMetadata", {}).get("ColumnInfo", []))
                converters = [converter(c.get("Type", "varchar")) for c in columns]
                # Athena puts the column labels in the first row of a SELECT's first page (only there);
                # a moto server returns exactly the rows it was seeded with, header or not.
                if raw and is_header(raw[0], columns):
                    raw = raw[1:]
                first = False
            for values in raw:
                rows.append(convert_row(query_id, columns, converters, values))
            token = page.get("NextToken")
            if not token:
                break
        return QueryResult(columns=[c.get("Name", f"_col{i}") for i, c in enumerate(columns)], rows=rows)

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """Invoke one Athena API operation; a one-line QueryError on failure."""
        try:
            return getattr(self._client, xform_name(operation))(**kwargs)
        except ParamValidationError:
            raise  # a request we built wrongly is a bug: keep the traceback
        except (ClientError, BotoCoreError) as e:
            code = awsutil.error_code(e) or type(e).__name__
            message = awsutil.error_message(e)
            hint = client_error_hint(code, message, self.config)
            raise QueryError(f"Athena {operation}: {code}: {message}{'; ' + hint if hint else ''}") from None
