"""Did every message sent to WorkQueue end somewhere? Accounted for by message id, not by totals.

Each sent message must be exactly one of:
- written:   an ItemsTable item names it as its source_message_id;
- dead-lettered: a WorkDeadLetterQueue message carries it (the worker's source_message_id attribute,
  or the same MessageId when the queue's redrive policy moved it);
- suppressed: a duplicate whose order ItemsTable holds, written by another message with the same body;
- still queued: WorkQueue has not delivered it yet (the run has not drained);
and nothing may be lost: a message in none of these is reported as such.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lambda_toolkit.pagination import receive_all
from localcloud.aws.clients import LocalAws
from localcloud.deploy.deployed_stack import DeployedStack
from localcloud.scenarios.order_traffic import MessageKind, SentMessage
from tools.dlq import message_attribute

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

DLQ_PEEK_VISIBILITY_S = 5


@dataclass
class OrderReconciliation:
    sent: Counter[MessageKind] = field(default_factory=Counter)
    written: int = 0
    dead_lettered: int = 0
    suppressed: int = 0
    still_queued: int = 0
    lost: list[str] = field(default_factory=list)  # message ids
    # Valid or duplicate messages that were dead-lettered, malformed ones that were written: wrong path.
    misrouted: list[str] = field(default_factory=list)
    dead_letter_reasons: Counter[str] = field(default_factory=Counter)

    @property
    def total_sent(self) -> int:
        return sum(self.sent.values())

    @property
    def accounted(self) -> int:
        return self.written + self.dead_lettered + self.suppressed + self.still_queued

    @property
    def ok(self) -> bool:
        return (not self.lost and not self.misrouted and self.still_queued == 0
                and self.accounted == self.total_sent)

    def to_document(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "sent": dict(self.sent), "total_sent": self.total_sent, "written": self.written,
            "dead_lettered": self.dead_lettered, "suppressed_duplicates": self.suppressed,
            "still_queued": self.still_queued, "lost": self.lost, "misrouted": self.misrouted,
            "dead_letter_reasons": dict(self.dead_letter_reasons),
        }


def scan_items(aws: LocalAws, table_name: str) -> Iterator[dict[str, Any]]:
    pages = aws.dynamodb.get_paginator("scan").paginate(
        TableName=table_name, ConsistentRead=True,
        ProjectionExpression="customer_id, order_id, source_message_id, written_at")
    for page in pages:
        yield from page["Items"]


def peek_dead_letters(aws: LocalAws, queue_url: str) -> list[MessageTypeDef]:
    """Every DLQ message, left visible again afterwards (a later `dlq list` or redrive sees them all).

    They stay invisible while the peek runs, so that each is received once; then their visibility
    timeout is set back to 0. Each peek adds one to their ApproximateReceiveCount, as any receive does.
    """
    messages = list(receive_all(aws.sqs, queue_url, visibility_timeout_s=DLQ_PEEK_VISIBILITY_S,
                                MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]))
    for start in range(0, len(messages), 10):
        aws.sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
            for index, message in enumerate(messages[start:start + 10])])
    return messages


def queue_depth(aws: LocalAws, queue_url: str) -> int:
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def reconcile_orders(aws: LocalAws, stack: DeployedStack, messages: Iterable[SentMessage]) -> OrderReconciliation:
    sent = list(messages)
    items = list(scan_items(aws, stack.tables["ItemsTable"].name))
    written_by = {item["source_message_id"]["S"] for item in items if "source_message_id" in item}
    stored_orders = {(item["customer_id"]["S"], item["order_id"]["S"]) for item in items}
    dead_letters = peek_dead_letters(aws, stack.queues["WorkDeadLetterQueue"].url)
    dead_letter_reason: dict[str, str] = {}
    for dead_letter in dead_letters:
        source = message_attribute(dead_letter, "source_message_id") or dead_letter["MessageId"]
        reason = message_attribute(dead_letter, "failure_reason") or "max_receive_count_exceeded"
        dead_letter_reason[source] = reason
    in_queue = queue_depth(aws, stack.queues["WorkQueue"].url)

    report = OrderReconciliation(sent=Counter(message.kind for message in sent))
    unaccounted: list[SentMessage] = []
    for message in sent:
        if message.message_id in written_by:
            report.written += 1
            if message.kind is MessageKind.MALFORMED:
                report.misrouted.append(message.message_id)
        elif message.message_id in dead_letter_reason:
            report.dead_lettered += 1
            report.dead_letter_reasons[dead_letter_reason[message.message_id]] += 1
            if message.kind is not MessageKind.MALFORMED:
                report.misrouted.append(message.message_id)
        elif message.order_key is not None and message.order_key in stored_orders:
            report.suppressed += 1
        else:
            unaccounted.append(message)
    # WorkQueue's count is all that can be said of messages not delivered yet: they are not lost (yet).
    report.still_queued = min(in_queue, len(unaccounted))
    if in_queue == 0:
        report.lost = [message.message_id for message in unaccounted]
    return report
