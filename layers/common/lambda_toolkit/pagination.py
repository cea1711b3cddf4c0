"""The two read loops every tool repeats: all items of a DynamoDB table, all messages of an SQS queue.

Both APIs answer in pages, and both are easy to get subtly wrong by hand: a scan that stops at the
first page (1 MB), or a receive loop that counts a message twice because a short visibility timeout
expired while the loop ran. Typed with the boto3 stubs, so strict mypy checks the calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

SQS_MAX_MESSAGES_PER_RECEIVE = 10


def scan_table(table: Table, **request: Any) -> Iterator[dict[str, Any]]:
    """Every item of ``table`` (a boto3 Table resource), page after page; ``request`` adds Scan arguments."""
    while True:
        page = table.scan(**request)
        yield from page["Items"]
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def receive_all(
    sqs: SQSClient,
    queue_url: str,
    *,
    visibility_timeout_s: int,
    limit: int | None = None,
    **request: Any,
) -> Iterator[MessageTypeDef]:
    """Each message of the queue once, until a receive brings nothing new (or ``limit`` messages).

    A received message stays invisible for ``visibility_timeout_s``; the caller deletes it, or leaves
    it to come back after that timeout. The loop ends at the first receive with nothing new: on AWS
    short polling (WaitTimeSeconds 0) samples only some of the queue's servers, so a run can miss a
    few messages of a large queue, and running the tool again finds them.
    """
    seen: set[str] = set()
    while limit is None or len(seen) < limit:
        wanted = SQS_MAX_MESSAGES_PER_RECEIVE if limit is None else min(SQS_MAX_MESSAGES_PER_RECEIVE, limit - len(seen))
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=wanted, VisibilityTimeout=visibility_timeout_s,
            WaitTimeSeconds=0, **request,
        ).get("Messages", [])
        fresh = [message for message in batch if message["MessageId"] not in seen]
        if not fresh:
            return
        for message in fresh:
            seen.add(message["MessageId"])
            yield message
