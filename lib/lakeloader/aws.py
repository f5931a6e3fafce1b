"""The one place boto3 clients are made (region, endpoint, profile, retries), and error-code helpers.

Endpoints come from config (`aws.endpoint_url`) so the code that runs on EMR is the code the tests run
against a moto server.
"""

from __future__ import annotations

from typing import Any, Optional

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError, ProfileNotFound

from lakeloader.config import AwsConfig
from lakeloader.errors import ConfigError

# Codes AWS services use for "slow down"; Glue reports them at call level and per batch item.
THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "ProvisionedThroughputExceededException",
    }
)


def client(service: str, aws: AwsConfig, pool_size: int = 10, validate: bool = True) -> Any:
    """A boto3 client for `service` with the configured region, endpoint, profile and retry policy.

    `pool_size` bounds the HTTP connections; callers with N calls in flight pass at least N. `validate=False`
    skips botocore's per-call parameter validation, for callers that validate a batch's shape themselves.
    """
    try:
        # A fresh Session per client: boto3's default session is not thread-safe to create clients from.
        session = boto3.session.Session(profile_name=aws.profile, region_name=aws.region)
    except ProfileNotFound:
        raise ConfigError(f"aws.profile: profile {aws.profile!r} is not in the AWS config files") from None
    config = BotoConfig(
        retries={"mode": aws.retry_mode, "total_max_attempts": aws.max_attempts},
        max_pool_connections=max(pool_size, 10),
        parameter_validation=validate,
    )
    return session.client(service, region_name=aws.region, endpoint_url=aws.endpoint_url or None, config=config)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError (e.g. 'EntityNotFoundException'); '' otherwise."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def error_message(exc: BaseException) -> str:
    """The service's error message, on one line."""
    if isinstance(exc, ClientError):
        msg = str(exc.response.get("Error", {}).get("Message", "")) or str(exc)
    else:
        msg = str(exc)
    return one_line(msg)


def is_throttling(code: str, message: str = "") -> bool:
    """True when an error code (or, for services without a code, its message) means 'slow down'."""
    return code in THROTTLING_CODES or "too many requests" in message.lower() or "rate exceeded" in message.lower()


def one_line(text: str) -> str:
    """Collapse whitespace and newlines so a message fits the one-line error rule."""
    return " ".join(str(text).split())


def frozen_credentials(aws: AwsConfig) -> Optional[tuple[str, str, Optional[str]]]:
    """(key id, secret, session token) from boto3's credential chain, for engines that take them raw."""
    try:
        session = boto3.session.Session(profile_name=aws.profile, region_name=aws.region)
    except ProfileNotFound:
        raise ConfigError(f"aws.profile: profile {aws.profile!r} is not in the AWS config files") from None
    creds = session.get_credentials()
    if creds is None:
        return None
    frozen = creds.get_frozen_credentials()
    return frozen.access_key, frozen.secret_key, frozen.token
