"""The one place boto3 clients and resources are made.

No endpoint is ever passed here: boto3 reads AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> by itself,
which is how `sam local invoke --env-vars` and the local cloud point a function at a local endpoint.
Clients are cached per process (module scope in Lambda = once per cold start). A forked child starts
with none: a client's connections are sockets, and a child sharing its parent's would read answers meant
for the parent (os.register_at_fork below).
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient, DynamoDBServiceResource
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

# Bounded timeouts so that one slow call cannot eat the whole invocation: the deadline-aware batch
# helper stops before the function's timeout only if each call returns in a bounded time.
CLIENT_CONFIG = Config(
    connect_timeout=3,
    read_timeout=10,
    retries={"mode": "standard", "max_attempts": 3},
)


@cache
def client(service: str) -> Any:
    return boto3.session.Session().client(service, config=CLIENT_CONFIG)  # type: ignore[call-overload]


@cache
def resource(service: str) -> Any:
    return boto3.session.Session().resource(service, config=CLIENT_CONFIG)  # type: ignore[call-overload]


def sqs() -> SQSClient:
    return client("sqs")  # type: ignore[no-any-return]


def dynamodb() -> DynamoDBServiceResource:
    return resource("dynamodb")  # type: ignore[no-any-return]


def dynamodb_client() -> DynamoDBClient:
    return client("dynamodb")  # type: ignore[no-any-return]


def dynamodb_streams() -> DynamoDBStreamsClient:
    return client("dynamodbstreams")  # type: ignore[no-any-return]


def s3() -> S3Client:
    return client("s3")  # type: ignore[no-any-return]


def reset() -> None:
    """Forget cached clients (tests that switch endpoints or credentials)."""
    client.cache_clear()
    resource.cache_clear()


os.register_at_fork(after_in_child=reset)
