"""Inspect and redrive WorkDeadLetterQueue.

    python -m tools.dlq list    [--stack-name lambda-suite-dev | --queue-url URL] [--json]
    python -m tools.dlq redrive [--stack-name ... | --queue-url URL --source-queue-url URL]
                                [--method auto|move-task|copy] [--max N]

Listing receives the messages with a short visibility timeout, so they become visible again on their
own; the console's "poll for messages" does the same. A message dead-lettered by SqsWorkerFunction
carries its reason as message attributes; one moved by the queue's redrive policy (maxReceiveCount
receives without success) has none, and its reason is in the function's logs under its messageId.

Redrive: `move-task` is SQS StartMessageMoveTask (AWS moves the messages server-side, attributes and
all). `copy` sends each message to the source queue and deletes it from the DLQ only after the send
succeeded: at-least-once, never lost; a copy that lands twice is absorbed by the worker's conditional write.
`auto` uses the move task against AWS and copy against any other endpoint (moto, hence the local
cloud, does not implement StartMessageMoveTask).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from lambda_toolkit import aws_clients
from lambda_toolkit.pagination import receive_all
from tools.stack_outputs import stack_outputs

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

LIST_VISIBILITY_TIMEOUT_S = 30
BODY_PREVIEW = 160


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    sent_at: str
    reason: str
    detail: str
    source_message_id: str | None
    receive_count: int
    body_preview: str


def message_attribute(message: MessageTypeDef, name: str) -> str | None:
    """A String message attribute's value (failure_reason, source_message_id, ...), or None."""
    attribute = message.get("MessageAttributes", {}).get(name)
    return attribute.get("StringValue") if attribute is not None else None


def describe(message: MessageTypeDef) -> DeadLetter:
    reason = message_attribute(message, "failure_reason")
    sent_ms = int(message.get("Attributes", {}).get("SentTimestamp", "0"))
    body = message.get("Body", "")
    return DeadLetter(
        message_id=message["MessageId"],
        sent_at=datetime.fromtimestamp(sent_ms / 1000, UTC).isoformat(timespec="seconds"),
        reason=reason or "max_receive_count_exceeded",
        detail=message_attribute(message, "failure_message")
        or "retried maxReceiveCount times without success; see the worker's logs for this messageId",
        source_message_id=message_attribute(message, "source_message_id"),
        receive_count=int(message.get("Attributes", {}).get("ApproximateReceiveCount", "0")),
        body_preview=body if len(body) <= BODY_PREVIEW else body[:BODY_PREVIEW] + "...",
    )


def list_dead_letters(sqs: SQSClient, dlq_url: str, limit: int = 1000) -> list[DeadLetter]:
    return [describe(message) for message in receive_all(
        sqs, dlq_url, visibility_timeout_s=LIST_VISIBILITY_TIMEOUT_S, limit=limit,
        AttributeNames=["All"], MessageAttributeNames=["All"])]


@dataclass(frozen=True)
class RedriveResult:
    method: str
    moved: int
    task_handle: str | None = None


def redrive(
    sqs: SQSClient, dlq_url: str, source_url: str, method: str = "auto", max_messages: int | None = None
) -> RedriveResult:
    if method == "move-task" or (method == "auto" and is_aws_endpoint(sqs) and max_messages is None):
        return _start_move_task(sqs, dlq_url, source_url)
    return _copy_then_delete(sqs, dlq_url, source_url, max_messages)


def is_aws_endpoint(client: SQSClient) -> bool:
    host = urlparse(client.meta.endpoint_url).hostname or ""
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn"))


def _queue_arn(sqs: SQSClient, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def _start_move_task(sqs: SQSClient, dlq_url: str, source_url: str) -> RedriveResult:
    visible = int(sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
                  ["Attributes"]["ApproximateNumberOfMessages"])
    task = sqs.start_message_move_task(SourceArn=_queue_arn(sqs, dlq_url), DestinationArn=_queue_arn(sqs, source_url))
    return RedriveResult(method="move-task", moved=visible, task_handle=task["TaskHandle"])


def _copy_then_delete(sqs: SQSClient, dlq_url: str, source_url: str, max_messages: int | None) -> RedriveResult:
    fifo = source_url.endswith(".fifo")
    moved = 0
    # Messages received but not copied (a failed send) become visible again after this timeout.
    for message in receive_all(sqs, dlq_url, visibility_timeout_s=5, limit=max_messages,
                               AttributeNames=["All"], MessageAttributeNames=["All"]):
        send: dict[str, Any] = {"QueueUrl": source_url, "MessageBody": message["Body"]}
        if message.get("MessageAttributes"):
            send["MessageAttributes"] = message["MessageAttributes"]
        if fifo:
            send["MessageGroupId"] = message["Attributes"].get("MessageGroupId", "redrive")
            send["MessageDeduplicationId"] = message["MessageId"]
        sqs.send_message(**send)
        # Deleted only once the copy is safely in the source queue.
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
        moved += 1
    return RedriveResult(method="copy", moved=moved)


def _resolve_queues(args: argparse.Namespace) -> tuple[str, str | None]:
    if args.queue_url:
        return args.queue_url, args.source_queue_url
    outputs = stack_outputs(aws_clients.client("cloudformation"), args.stack_name)
    return outputs["WorkDeadLetterQueueUrl"], outputs.get("WorkQueueUrl")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.dlq", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["list", "redrive"])
    parser.add_argument("--stack-name", default="lambda-suite-dev")
    parser.add_argument("--queue-url", help="the DLQ's URL (instead of reading the stack's outputs)")
    parser.add_argument("--source-queue-url", help="where redrive sends messages (default: WorkQueue)")
    parser.add_argument("--method", choices=["auto", "move-task", "copy"], default="auto")
    parser.add_argument("--max", type=int, default=None, help="redrive at most this many (copy method)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)

    dlq_url, source_url = _resolve_queues(args)
    sqs = aws_clients.sqs()
    if args.command == "list":
        letters = list_dead_letters(sqs, dlq_url)
        if args.json:
            print(json.dumps([asdict(letter) for letter in letters], indent=2))
        else:
            print(f"{len(letters)} message(s) in {dlq_url}")
            for letter in letters:
                print(f"- {letter.message_id}  {letter.sent_at}  {letter.reason}: {letter.detail}")
                print(f"    source message {letter.source_message_id or '?'}  body: {letter.body_preview!r}")
        return 0
    if source_url is None:
        parser.error("redrive needs --source-queue-url (or --stack-name with a WorkQueueUrl output)")
    result = redrive(sqs, dlq_url, source_url, method=args.method, max_messages=args.max)
    print(json.dumps(asdict(result)) if args.json else f"redrive ({result.method}): {result.moved} message(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
