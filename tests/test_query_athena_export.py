"""The Athena side of `lakeloader export` on a moto server: the UNLOAD statements and request parameters."""

from __future__ import annotations

import pytest

from lakeloader.config import QueryConfig
from lakeloader.query.athena_export import unload_channels
from lakeloader.query.export_sql import BUCKETS, bucket_expr, select_sql
from test_query_athena import athena_client, col, engine, real, result, seed  # noqa: F401 (fixtures)

pytestmark = pytest.mark.aws

COLUMNS = [{"Name": "amount", "Type": "decimal(12,2)"}, {"Name": "user_id", "Type": "string"}]


@pytest.mark.parametrize(
    "fmt, props",
    [
        ("csv", "WITH (format = 'TEXTFILE', field_delimiter = ',')"),
        ("parquet", "WITH (format = 'PARQUET')"),
    ],
)
def test_one_count_then_one_unload_per_channel(moto_endpoint, real, fmt, props):  # noqa: F811
    seed(moto_endpoint, result([col("__channel", "varchar"), col("_col1", "bigint")], [["train", "8"], ["test", "2"]]))
    query = QueryConfig(engine="athena", workgroup="primary", output_location="s3://results/athena/")
    eng, client = engine(real, query=query)
    select = select_sql(
        "demo", "events", COLUMNS, "user_id", [("train", 8000), ("test", BUCKETS)], "dt >= DATE '2024-01-01'"
    )
    rows = unload_channels(eng, select, COLUMNS, "s3://ml/events/", ["train", "test"], fmt)

    assert rows == {"train": 8, "test": 2}
    requests = client.requests["start_query_execution"]
    assert [r["WorkGroup"] for r in requests] == ["primary"] * 3
    assert all(r["ResultConfiguration"] == {"OutputLocation": "s3://results/athena/"} for r in requests)
    assert requests[0]["QueryString"] == f'SELECT "__channel", count(*) FROM ({select}) GROUP BY 1'
    polled = list(dict.fromkeys(r["QueryExecutionId"] for r in client.requests["get_query_execution"]))
    assert len(polled) == len(requests) == 3
    for request, qid, channel in zip(requests[1:], polled[1:], ["train", "test"], strict=False):
        expected = (
            f'UNLOAD (SELECT "amount", "user_id" FROM ({select}) WHERE "__channel" = \'{channel}\') '
            f"TO 's3://ml/events/{channel}/' {props}"
        )
        assert request["QueryString"] == expected
        # What Athena received, as moto recorded it.
        assert real.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Query"] == expected
    assert 'FROM "demo"."events" WHERE (dt >= CAST(\'2024-01-01\' AS DATE))' in select
    assert bucket_expr("user_id", "athena") in select
