"""The moto resources contract tests make, and the SQS/DynamoDB calls they check results with."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from localcloud.event_sources.pollers import PollerClients

REGION = "us-east-1"


@dataclass(frozen=True)
class Aws:
    endpoint_url: str
    clients: PollerClients
    sqs: Any
    dynamodb: Any
    cloudformation: Any
    lambda_client: Any
    iam: Any


@dataclass(frozen=True)
class QueueUnderTest:
    url: str
    arn: str
    dead_letter_url: str | None = None


@dataclass(frozen=True)
class TableUnderTest:
    name: str
    stream_arn: str


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def queue_arn(aws: Aws, url: str) -> str:
    return str(aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def send_messages(aws: Aws, queue: QueueUnderTest, bodies: list[str], **extra: Any) -> list[str]:
    """Send bodies in order; returns their message ids."""
    return [aws.sqs.send_message(QueueUrl=queue.url, MessageBody=body, **extra)["MessageId"] for body in bodies]


def queue_depth(aws: Aws, url: str) -> int:
    """Visible + in-flight messages: what is still in the queue at all."""
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def drain(aws: Aws, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while batch := aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                           MessageSystemAttributeNames=["All"]).get("Messages", []):
        messages.extend(batch)
        for message in batch:
            aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return messages


def put_items(aws: Aws, table: TableUnderTest, keys: list[str], **attributes: str) -> None:
    for key in keys:
        item = {"pk": {"S": key}, **{name: {"S": value} for name, value in attributes.items()}}
        aws.dynamodb.put_item(TableName=table.name, Item=item)
