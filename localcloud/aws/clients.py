"""boto3 clients for the local endpoint, with moto's fake credentials (never real ones)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

# Fake credentials: a stray call can never reach a real account with them.
FAKE_CREDENTIALS = {"aws_access_key_id": "localcloud", "aws_secret_access_key": "localcloud"}
FAKE_CREDENTIAL_ENV = {"AWS_ACCESS_KEY_ID": "localcloud", "AWS_SECRET_ACCESS_KEY": "localcloud",
                       "AWS_SESSION_TOKEN": "localcloud"}
CLIENT_CONFIG = Config(
    connect_timeout=3,
    read_timeout=60,
    max_pool_connections=32,
    retries={"mode": "standard", "max_attempts": 4},
)


@dataclass
class LocalAws:
    """Clients for one local endpoint; each made on first use and then shared (they are thread-safe)."""

    endpoint_url: str
    region: str
    config: Config = field(default=CLIENT_CONFIG)

    @cached_property
    def session(self) -> boto3.session.Session:
        return boto3.session.Session(region_name=self.region, aws_access_key_id=FAKE_CREDENTIALS["aws_access_key_id"],
                                     aws_secret_access_key=FAKE_CREDENTIALS["aws_secret_access_key"])

    def client(self, service: str, config: Config | None = None) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url,  # type: ignore[call-overload]
                                   config=config or self.config)

    def resource(self, service: str) -> Any:
        return self.session.resource(service, endpoint_url=self.endpoint_url,  # type: ignore[call-overload]
                                     config=self.config)

    @cached_property
    def cloudformation(self) -> CloudFormationClient:
        return self.client("cloudformation")  # type: ignore[no-any-return]

    @cached_property
    def sqs(self) -> SQSClient:
        return self.client("sqs")  # type: ignore[no-any-return]

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        return self.client("dynamodb")  # type: ignore[no-any-return]

    @cached_property
    def lambda_client(self) -> LambdaClient:
        return self.client("lambda")  # type: ignore[no-any-return]

    @cached_property
    def s3(self) -> S3Client:
        return self.client("s3")  # type: ignore[no-any-return]

    @cached_property
    def stepfunctions(self) -> SFNClient:
        return self.client("stepfunctions")  # type: ignore[no-any-return]

    @cached_property
    def cloudwatch(self) -> CloudWatchClient:
        return self.client("cloudwatch")  # type: ignore[no-any-return]
