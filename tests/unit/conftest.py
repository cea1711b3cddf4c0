"""Unit-test fixtures: an in-process moto account with the template's tables, and no sockets to AWS."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambda_toolkit import aws_clients
from tests.support.template import create_table


@dataclass
class MotoAccount:
    dynamodb: Any
    sqs: Any

    def table(self, logical_id: str) -> Any:
        return self.dynamodb.Table(logical_id)

    def queue(self, name: str) -> str:
        url: str = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        return url

    def drain(self, queue_url: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                AttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                return messages
            messages.extend(batch)
            for message in batch:
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def moto_account(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoAccount]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    aws_clients.reset()
    with mock_aws():
        yield MotoAccount(
            dynamodb=boto3.resource("dynamodb", region_name="us-east-1"),
            sqs=boto3.client("sqs", region_name="us-east-1"),
        )
    aws_clients.reset()


@pytest.fixture
def template_table(moto_account: MotoAccount) -> Any:
    """Create a table from template.yaml by logical id (the moto table is named after it)."""

    def create(logical_id: str) -> Any:
        return create_table(moto_account.dynamodb, logical_id)

    return create
