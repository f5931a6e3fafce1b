"""GlueCatalog beyond the contract: batching, throttling, per-item errors, give-up bounds, client config."""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from lakeloader import aws
from lakeloader.catalog.glue import GlueCatalog, glue_client
from lakeloader.catalog.tables import partition_input, table_input
from lakeloader.config import AwsConfig, parse_config
from lakeloader.errors import CatalogError, ConfigError
from lakeloader.retry import Backoff

pytestmark = pytest.mark.aws

COLUMNS = [{"Name": "id", "Type": "bigint"}]
KEYS = [{"Name": "dt", "Type": "string"}, {"Name": "country", "Type": "string"}]
FAST = Backoff(initial_s=0.001, max_s=0.01, max_attempts=6, timeout_s=10)

Hook = Callable[[int, dict, Callable[..., dict]], dict]


class FaultyClient:
    """Delegates to a real (moto-backed) Glue client; `hooks[method](n, kwargs, real)` may inject failures.

    `n` counts calls of that method from 1; `calls` counts every method called through the wrapper.
    """

    def __init__(self, real: Any, hooks: dict[str, Hook]) -> None:
        self.real, self.hooks, self.calls = real, hooks, Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if not callable(attr) or name in ("get_paginator", "meta"):
            return attr

        def call(**kwargs: Any) -> Any:
            self.calls[name] += 1
            hook = self.hooks.get(name)
            return hook(self.calls[name], kwargs, attr) if hook else attr(**kwargs)

        return call


def throttle(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, operation)


def item_error(values: list[str], code: str, message: str) -> dict:
    return {"PartitionValues": values, "ErrorDetail": {"ErrorCode": code, "ErrorMessage": message}}


@pytest.fixture
def real(moto_endpoint):
    return glue_client(AwsConfig(endpoint_url=moto_endpoint, region="us-east-1"))  # the client GlueCatalog makes


@pytest.fixture
def db(real) -> str:
    name = f"db_{uuid.uuid4().hex[:12]}"
    real.create_database(DatabaseInput={"Name": name})
    real.create_table(DatabaseName=name, TableInput=table_input("events", COLUMNS, KEYS, "s3://b/events"))
    return name


def glue(real: Any, hooks: dict[str, Hook] = (), **kw: Any) -> tuple[GlueCatalog, FaultyClient]:
    client = FaultyClient(real, dict(hooks))
    kw.setdefault("retry", FAST)
    return GlueCatalog(AwsConfig(), client=client, **kw), client


def parts(n: int, version: str = "v1") -> list[dict]:
    return [
        partition_input([f"d{i // 50}", f"c{i % 50}"], f"s3://b/events/{i}/_v={version}", COLUMNS) for i in range(n)
    ]


def registered(real: Any, db: str) -> Counter:
    """How many times each partition's values are registered, and at which location."""
    pages = real.get_paginator("get_partitions").paginate(DatabaseName=db, TableName="events")
    return Counter((tuple(p["Values"]), p["StorageDescriptor"]["Location"]) for pg in pages for p in pg["Partitions"])


def assert_all_registered_once(real: Any, db: str, expected: list[dict]) -> None:
    got = registered(real, db)
    want = Counter((tuple(p["Values"]), p["StorageDescriptor"]["Location"]) for p in expected)
    assert got == want


# --------------------------------------------------------------------------- batching


@pytest.mark.parametrize("n", [1, 100, 101, 250, 1000])
def test_create_calls_are_ceil_n_over_100(real, db, n):
    catalog, client = glue(real)
    catalog.put_partitions(db, "events", parts(n))
    assert client.calls["batch_create_partition"] == math.ceil(n / 100)
    assert client.calls["batch_update_partition"] == 0
    assert_all_registered_once(real, db, parts(n))


def test_batches_run_concurrently(real, db):
    import threading
    import time

    in_flight, peak, lock = [0], [0], threading.Lock()

    def slow(n, kwargs, call):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.05)
        try:
            return call(**kwargs)
        finally:
            with lock:
                in_flight[0] -= 1

    catalog, _ = glue(real, {"batch_create_partition": slow}, max_in_flight=4)
    catalog.put_partitions(db, "events", parts(1000))
    assert peak[0] == 4
    assert_all_registered_once(real, db, parts(1000))


# --------------------------------------------------------------------------- throttling


class HttpThrottle:
    """Answers the first `n` HTTP sends of one Glue operation with 400 ThrottlingException, below botocore's
    retry handler (as Glue would), and counts every send of it: what one request really costs."""

    def __init__(self, client: Any, operation: str, n: int = 10**9) -> None:
        self.n, self.sends = n, 0
        client.meta.events.register(f"before-send.glue.{operation}", self)

    def __call__(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        self.sends += 1
        if self.sends > self.n:
            return None  # on to the moto server

        class Raw:
            def stream(self, **_: Any) -> Any:
                yield b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'

        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "throttled"}
        return AWSResponse(request.url, 400, headers, Raw())


def throttled_client(moto_endpoint: str, operation: str, n: int = 10**9, max_attempts: int = 10) -> tuple:
    aws = AwsConfig(endpoint_url=moto_endpoint, region="us-east-1", max_attempts=max_attempts)
    client = glue_client(aws)
    return client, HttpThrottle(client, operation, n)


def test_call_level_throttling_is_retried_by_botocore(moto_endpoint, real, db):
    client, throttle_ = throttled_client(moto_endpoint, "BatchCreatePartition", n=3)
    catalog = GlueCatalog(AwsConfig(), client=client, retry=FAST)
    catalog.put_partitions(db, "events", parts(250))
    assert throttle_.sends == 3 + 3
    assert_all_registered_once(real, db, parts(250))


@pytest.mark.parametrize("max_attempts", [1, 4])
def test_one_throttled_request_makes_at_most_max_attempts_calls(moto_endpoint, real, db, max_attempts):
    """botocore's attempts are the only ones for a call: GlueCatalog does not repeat what botocore gave up on
    (before: 8 of its own x 10 of botocore's = 80 calls for one request)."""
    client, throttle_ = throttled_client(moto_endpoint, "BatchCreatePartition", max_attempts=max_attempts)
    catalog = GlueCatalog(AwsConfig(), client=client, retry=FAST)
    with pytest.raises(CatalogError) as e:
        catalog.put_partitions(db, "events", parts(50))
    assert throttle_.sends == max_attempts
    assert str(e.value) == (
        f"catalog error: BatchCreatePartition {db}.events: still throttled (ThrottlingException) after "
        f"{max_attempts} attempts; retry later, lower the calls in flight or raise aws.max_attempts"
    )
    assert registered(real, db) == Counter()


def test_per_item_throttling_is_retried(real, db):
    def half_throttled(n, kwargs, call):
        batch = kwargs["PartitionInputList"]
        if n > 3:  # the first three calls (all for the first batch: one in flight) throttle every other item
            return call(**kwargs)
        done, skipped = batch[::2], batch[1::2]
        call(**{**kwargs, "PartitionInputList": done})
        return {"Errors": [item_error(p["Values"], "ThrottlingException", "Rate exceeded") for p in skipped]}

    catalog, client = glue(real, {"batch_create_partition": half_throttled}, max_in_flight=1)
    catalog.put_partitions(db, "events", parts(250))
    assert client.calls["batch_create_partition"] == 6
    assert_all_registered_once(real, db, parts(250))


def test_per_item_throttling_gives_up_naming_partitions(real, db):
    def items_always_throttled(n, kwargs, call):
        return {"Errors": [item_error(p["Values"], "ThrottlingException", "x") for p in kwargs["PartitionInputList"]]}

    policy = Backoff(initial_s=0.001, max_attempts=4)
    catalog, client = glue(real, {"batch_create_partition": items_always_throttled}, retry=policy)
    with pytest.raises(CatalogError) as e:
        catalog.put_partitions(db, "events", parts(5))
    assert client.calls["batch_create_partition"] == 4
    assert "['d0', 'c0']" in str(e.value) and "\n" not in str(e.value)


def test_per_item_throttling_gives_up_at_the_time_limit(real, db):
    import time

    def items_always_throttled(n, kwargs, call):
        return {"Errors": [item_error(p["Values"], "ThrottlingException", "x") for p in kwargs["PartitionInputList"]]}

    policy = Backoff(initial_s=0.02, max_s=0.02, jitter=0, max_attempts=1000, timeout_s=0.3)
    catalog, client = glue(real, {"batch_create_partition": items_always_throttled}, retry=policy)
    start = time.monotonic()
    with pytest.raises(CatalogError, match="still throttled"):
        catalog.put_partitions(db, "events", parts(5))
    assert time.monotonic() - start < 1.0
    assert 2 < client.calls["batch_create_partition"] < 1000


# --------------------------------------------------------------------------- per-item errors


def test_existing_partitions_are_updated(real, db):
    catalog, client = glue(real)
    catalog.put_partitions(db, "events", parts(150, "v1")[:120])
    catalog.put_partitions(db, "events", parts(150, "v2"))
    assert client.calls["batch_create_partition"] == 2 + 2
    assert client.calls["batch_update_partition"] == 2  # one per create batch that met existing partitions
    assert_all_registered_once(real, db, parts(150, "v2"))


def test_injected_already_exists_goes_to_update(real, db):
    catalog, _ = glue(real)
    catalog.put_partitions(db, "events", parts(10, "v1"))

    def claims_exists(n, kwargs, call):
        return {
            "Errors": [
                item_error(p["Values"], "AlreadyExistsException", "exists") for p in kwargs["PartitionInputList"]
            ]
        }

    catalog, client = glue(real, {"batch_create_partition": claims_exists})
    catalog.put_partitions(db, "events", parts(10, "v2"))
    assert client.calls["batch_update_partition"] == 1
    assert_all_registered_once(real, db, parts(10, "v2"))


def test_persistent_invalid_input_names_the_partition(real, db):
    bad = ["d1", "c7"]

    def rejects_one(n, kwargs, call):
        batch = kwargs["PartitionInputList"]
        ok = [p for p in batch if p["Values"] != bad]
        call(**{**kwargs, "PartitionInputList": ok})
        if len(ok) == len(batch):
            return {}
        return {"Errors": [item_error(bad, "InvalidInputException", "Location is not valid:\n s3://nope")]}

    catalog, _ = glue(real, {"batch_create_partition": rejects_one})
    with pytest.raises(CatalogError) as e:
        catalog.put_partitions(db, "events", parts(100))
    msg = str(e.value)
    assert "\n" not in msg
    assert f"{db}.events" in msg and "['d1', 'c7']" in msg and "InvalidInputException" in msg
    assert "Location is not valid: s3://nope" in msg


def test_update_error_is_raised(real, db):
    catalog, _ = glue(real)
    catalog.put_partitions(db, "events", parts(3))

    def fails(n, kwargs, call):
        v = kwargs["Entries"][0]["PartitionValueList"]
        return {"Errors": [{"PartitionValueList": v, "ErrorDetail": {"ErrorCode": "AccessDeniedException"}}]}

    catalog, _ = glue(real, {"batch_update_partition": fails})
    with pytest.raises(CatalogError, match=r"BatchUpdatePartition .*events partition \['d0', 'c0'\]: AccessDenied"):
        catalog.put_partitions(db, "events", parts(3, "v2"))


def test_call_level_error_is_one_line(real, db):
    def denied(n, kwargs, call):
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "not\nallowed"}}, "BatchCreatePartition"
        )

    catalog, _ = glue(real, {"batch_create_partition": denied})
    with pytest.raises(CatalogError) as e:
        catalog.put_partitions(db, "events", parts(3))
    assert str(e.value) == f"catalog error: BatchCreatePartition {db}.events: AccessDeniedException: not allowed"


def test_delete_partitions_uses_batches_of_25_and_retries_throttled_items(real, db):
    catalog, _ = glue(real)
    catalog.put_partitions(db, "events", parts(60))

    def first_throttles_one(n, kwargs, call):
        batch = kwargs["PartitionsToDelete"]
        if n == 1:
            call(**{**kwargs, "PartitionsToDelete": batch[1:]})
            return {"Errors": [item_error(batch[0]["Values"], "ThrottlingException", "slow down")]}
        return call(**kwargs)

    catalog, client = glue(real, {"batch_delete_partition": first_throttles_one}, max_in_flight=1)
    catalog.delete_partitions(db, "events", [p["Values"] for p in parts(60)])
    assert client.calls["batch_delete_partition"] == 3 + 1
    assert registered(real, db) == Counter()


# --------------------------------------------------------------------------- tables and config


def test_get_table_returns_only_table_input_keys(real, db):
    catalog, _ = glue(real)
    got = catalog.get_table(db, "events")
    assert set(got) <= set(real.meta.service_model.shape_for("TableInput").members)
    assert not {"DatabaseName", "CreateTime", "CatalogId", "VersionId"} & set(got)
    catalog.update_table(db, got)  # what get_table returns is a valid TableInput


def test_a_wrongly_built_partition_input_is_refused_before_any_call(real, db):
    # GlueCatalog's client (`real` here) skips botocore's per-call validation; the first request of a put is checked.
    catalog, client = glue(real)
    bad = parts(3)
    bad[0] = {**bad[0], "Values": ["d0", 7]}  # a non-string value
    with pytest.raises(ParamValidationError, match="PartitionInputList"):
        catalog.put_partitions(db, "events", bad)
    assert sum(client.calls.values()) == 0 and registered(real, db) == Counter()
    with pytest.raises(ParamValidationError, match="TableInput"):  # single calls are checked one by one
        catalog.create_table(db, {**table_input("t2", COLUMNS, KEYS, "s3://b/t2"), "Retention": "forever"})
    with pytest.raises(ParamValidationError, match="PartitionsToDelete"):
        catalog.delete_partitions(db, "events", [["d0", 7]])
    assert sum(client.calls.values()) == 0


def test_aws_client_config(moto_endpoint):
    cfg = AwsConfig(region="eu-west-1", endpoint_url=moto_endpoint, retry_mode="adaptive", max_attempts=4)
    c = aws.client("glue", cfg)
    assert c.meta.region_name == "eu-west-1"
    assert c.meta.endpoint_url == moto_endpoint
    # aws.max_attempts is the total number of attempts, first try included.
    assert c.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 4}


def test_aws_client_profile(tmp_path, monkeypatch):
    conf = tmp_path / "config"
    conf.write_text("[profile lake]\nregion = ap-south-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(conf))
    assert aws.client("glue", AwsConfig(region="us-east-2", profile="lake")).meta.region_name == "us-east-2"
    with pytest.raises(ConfigError, match="aws.profile: profile 'nope'"):
        aws.client("glue", AwsConfig(profile="nope"))


def test_error_code_classification():
    assert aws.error_code(throttle("X")) == "ThrottlingException"
    assert aws.error_code(ValueError("x")) == ""
    assert aws.is_throttling("Throttling") and aws.is_throttling("", "Too Many Requests")
    assert not aws.is_throttling("InvalidInputException", "bad location")


def test_open_catalog_glue(moto_endpoint):
    from lakeloader.catalog import open_catalog
    from lakeloader.catalog.symlinks import SymlinkCatalog

    cfg = parse_config(
        {
            "warehouse": "s3://b/w",
            "aws": {"endpoint_url": moto_endpoint},
            "catalog": {"kind": "glue", "catalog_id": "123456789012"},
            "tables": {"t": {"database": "d", "source": {"path": "p", "format": "csv"}, "partitions": [{"name": "x"}]}},
        }
    )
    catalog = open_catalog(cfg)
    # Wrapped so projected tables keep their partitions as manifests; everything else is Glue's.
    assert isinstance(catalog, SymlinkCatalog) and isinstance(catalog.inner, GlueCatalog)
    assert catalog.catalog_id == "123456789012"
