"""The AWS calls of a deploy: the clients, one-line errors for refusals, S3 URI helpers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from lakeloader.config import AwsConfig
from lakeloader.errors import DeployError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Clients:
    """The boto3 clients a deploy uses (tests pass wrapped ones)."""

    emr: Any
    s3: Any

    @classmethod
    def from_config(cls, aws: AwsConfig) -> Clients:
        """Clients with the config's region, endpoint, profile and retries."""
        from lakeloader.aws import client

        return cls(emr=client("emr", aws), s3=client("s3", aws))


def aws_call(fn: Callable[..., Any], what: str, **kwargs: Any) -> Any:
    """Call one AWS API; any refusal becomes a one-line DeployError saying what was attempted."""
    from botocore.exceptions import BotoCoreError, ClientError

    from lakeloader.aws import error_code, error_message

    try:
        return fn(**kwargs)
    except ClientError as e:
        code, msg = error_code(e), error_message(e)
        hint = ""
        if code in ("AccessDenied", "AccessDeniedException", "403"):
            hint = " (the deploying identity's permissions: conf/iam/deployer.json)"
        elif code == "NoSuchBucket":
            hint = " (create the bucket or fix emr.code_location / emr.log_uri)"
        raise DeployError(f"{what}: {code}: {msg}{hint}") from None
    except BotoCoreError as e:
        raise DeployError(f"{what}: {' '.join(str(e).split())}") from None


def split_s3(uri: str) -> tuple[str, str]:
    """('bucket', 'key') of an s3:// URI."""
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def object_exists(s3: Any, uri: str) -> bool:
    """HEAD the key: True when it exists, False when S3 says it does not (404, or 403 without s3:ListBucket)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from lakeloader.aws import error_code, error_message

    bucket, key = split_s3(uri)
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as e:
        code = error_code(e)
        if code in ("404", "NoSuchKey", "NotFound"):
            return False
        if code in ("403", "AccessDenied"):
            # Without s3:ListBucket (conf/iam/deployer.json grants none on the code prefix) S3 answers 403 for
            # a missing key: with s3:GetObject granted, 403 means missing. Were it a real refusal, the PUT says so.
            log.debug("HEAD %s: 403, taken as missing", uri)
            return False
        raise DeployError(f"HEAD {uri}: {code}: {error_message(e)}") from None
    except BotoCoreError as e:
        raise DeployError(f"HEAD {uri}: {' '.join(str(e).split())}") from None


def s3_uri(uri: Optional[str]) -> Optional[str]:
    """EMR reports LogUri as s3n://; the log objects are at the same s3:// key."""
    if not uri:
        return None
    for scheme in ("s3n://", "s3a://"):
        if uri.startswith(scheme):
            return "s3://" + uri[len(scheme) :]
    return uri
