"""Orders for WorkQueue: valid ones, malformed ones and exact duplicates, and sending them.

The bodies follow SqsWorkerFunction's order model (functions/sqs_worker/order_model.py): customer_id,
order_id, currency and lines of sku / quantity / unit_price. Generation is seeded, so a run can be
repeated; the run id keeps one run's order ids apart from another's in the same tables.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

SEND_BATCH = 10  # SendMessageBatch's maximum
CURRENCIES = ("EUR", "USD", "GBP", "CHF")
CUSTOMERS = 40


class MessageKind(StrEnum):
    VALID = "valid"
    MALFORMED = "malformed"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class OrderMessage:
    body: str
    kind: MessageKind
    # (customer_id, order_id) of the order the body holds; None for a malformed body.
    order_key: tuple[str, str] | None = None


@dataclass(frozen=True)
class SentMessage:
    message_id: str
    kind: MessageKind
    order_key: tuple[str, str] | None
    sent_at: float  # time.time() when SendMessageBatch returned


def valid_order(rng: random.Random, run_id: str, index: int) -> dict[str, Any]:
    return {
        "customer_id": f"cust-{rng.randrange(CUSTOMERS):03d}",
        "order_id": f"ord-{run_id}-{index:05d}",
        "currency": rng.choice(CURRENCIES),
        "lines": [
            {"sku": f"sku-{rng.randrange(500):04d}", "quantity": rng.randint(1, 5),
             # Whole cents, sent as a JSON number: the worker parses money exactly (Decimal).
             "unit_price": rng.randrange(50, 50_000) / 100}
            for _ in range(rng.randint(1, 3))
        ],
    }


# Each is a different way a body is permanently wrong (the worker dead-letters each with its reason).
MALFORMED_BODIES: tuple[Callable[[random.Random, str, int], str], ...] = (
    lambda rng, run_id, i: '{"customer_id": "cust-001", "order_id": "broken-' + f'{run_id}-{i}", "lines": [',
    lambda rng, run_id, i: json.dumps([f"not-an-object-{run_id}-{i}"]),
    lambda rng, run_id, i: json.dumps({**valid_order(rng, run_id, 90_000 + i), "currency": "euro"}),
    lambda rng, run_id, i: json.dumps({**valid_order(rng, run_id, 95_000 + i), "lines": []}),
    lambda rng, run_id, i: "   ",  # SQS refuses an empty body; blanks are the closest (empty_body)
)


def generate_orders(
    valid: int, *, malformed: int = 0, duplicates: int = 0, seed: int = 7, run_id: str | None = None,
) -> list[OrderMessage]:
    """``valid`` distinct orders and ``malformed`` bad bodies shuffled, then ``duplicates`` exact resends.

    The resends come last so that a caller can send them as a second wave (see waves()).
    """
    if duplicates > valid:
        raise ValueError(f"cannot duplicate {duplicates} of only {valid} valid orders")
    rng = random.Random(seed)  # noqa: S311 - test data, reproducible on purpose
    run = run_id or uuid.uuid4().hex[:8]
    messages = []
    for index in range(valid):
        order = valid_order(rng, run, index)
        messages.append(OrderMessage(json.dumps(order), MessageKind.VALID, (order["customer_id"], order["order_id"])))
    originals = rng.sample(messages, duplicates)
    messages += [OrderMessage(MALFORMED_BODIES[index % len(MALFORMED_BODIES)](rng, run, index), MessageKind.MALFORMED)
                 for index in range(malformed)]
    rng.shuffle(messages)
    return messages + [OrderMessage(original.body, MessageKind.DUPLICATE, original.order_key)
                       for original in originals]


def waves(messages: Sequence[OrderMessage]) -> tuple[list[OrderMessage], list[OrderMessage]]:
    """(first the orders and malformed bodies, then the duplicates), to send once the first wave drained.

    A redelivery after the original was written is the common case (a late redelivery, a DLQ
    redrive): the worker's conditional put refuses it and hands back the stored item, whose content
    hash makes it a duplicate. Copies that race their original (same batch, concurrent batches) are
    resolved the same way, and the generated traffic has those too whenever SQS delivers twice.
    """
    return ([message for message in messages if message.kind is not MessageKind.DUPLICATE],
            [message for message in messages if message.kind is MessageKind.DUPLICATE])


def send_orders(sqs: SQSClient, queue_url: str, messages: Sequence[OrderMessage],
                on_sent: Callable[[int], None] | None = None) -> list[SentMessage]:
    """SendMessageBatch in tens; raises if SQS refuses any message (nothing is silently dropped)."""
    sent: list[SentMessage] = []
    for start in range(0, len(messages), SEND_BATCH):
        chunk = messages[start:start + SEND_BATCH]
        response = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(index), "MessageBody": message.body} for index, message in enumerate(chunk)],
        )
        if response.get("Failed"):
            raise RuntimeError(f"SQS refused messages: {response['Failed']}")
        sent_at = time.time()
        for entry in response["Successful"]:
            message = chunk[int(entry["Id"])]
            sent.append(SentMessage(entry["MessageId"], message.kind, message.order_key, sent_at))
        if on_sent is not None:
            on_sent(len(chunk))
    return sent
