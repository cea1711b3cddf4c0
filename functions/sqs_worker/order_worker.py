"""One WorkQueue message -> one order written once to ItemsTable, or dead-lettered with its reason.

Policy for bad messages (why it is not "retry until the redrive moves it"): a body that fails to parse
or validate fails identically on every delivery, so retrying it maxReceiveCount times only burns
invocations, delays its neighbours and hides the reason. Such a message is sent to
WorkDeadLetterQueue AT ONCE with its reason as message attributes, logged with its messageId, and
reported as handled. If that send fails, the record is reported as failed instead, so SQS delivers it
again and the redrive policy still catches it: nothing is lost either way. Everything else (throttling,
timeouts, bugs) is reported in batchItemFailures and retried; after maxReceiveCount receives the
queue's redrive policy moves it to the same DLQ. An event that is not a WorkQueue batch at all (no
Records, a record without messageId or eventSourceARN, a DynamoDB stream batch) fails the invocation
with InvalidSqsEventError before any record is touched (see sqs_worker_event).

Writing once, with ONE write per new order: a put on ItemsTable conditioned on
attribute_not_exists(order_id). It refuses every second write, whenever it comes (a redelivery, a
concurrent copy of the same message, a DLQ redrive days later), and on refusal DynamoDB hands back the
stored item (ReturnValuesOnConditionCheckFailure=ALL_OLD), whose content hash tells a redelivery
("duplicate", success) from the same order id reused with other content ("conflicting_duplicate", to
the DLQ). An idempotency table in front of it (Powertools idempotency, as before) bought nothing this
does not: the worker returns no result a replay would need, and its in-progress lock only turned a
concurrent copy into a retry 181 s later. It cost two more writes per order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import ClientError
from order_model import Order, parse_order
from sqs_worker_event import InvalidSqsEventError, read_sqs_records

from lambda_toolkit.batch import BatchOutcome, RemainingTime, process_batch, remaining_time_of
from lambda_toolkit.errors import PermanentError, TransientError
from lambda_toolkit.fault_injection import FaultInjectionConfig, FaultInjector
from lambda_toolkit.observability import MetricUnit, logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_sqs import SQSClient

WriteOutcome = Literal["written", "duplicate"]
Clock = Callable[[], datetime]

# SQS message attribute values are capped; the full reason is also in the structured log line.
MAX_ATTRIBUTE_TEXT = 1024


def utc_now() -> datetime:
    return datetime.now(UTC)


class OrderStore:
    """ItemsTable access: each order is written at most once, and never changed afterwards."""

    def __init__(self, table: Table, clock: Clock = utc_now) -> None:
        self._table = table
        self._clock = clock

    def write_once(self, order: Order, source_message_id: str) -> WriteOutcome:
        item = {
            **order.model_dump(mode="python"),
            "total": order.total,
            "line_count": len(order.lines),
            "content_hash": order.content_hash(),
            "source_message_id": source_message_id,
            "written_at": self._clock().isoformat(),
        }
        try:
            self._table.put_item(
                Item=item,
                ConditionExpression="attribute_not_exists(order_id)",
                # The refusal carries the stored item, so the duplicate path needs no second read.
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise TransientError(f"ItemsTable put_item failed: {error}") from error
            stored: Mapping[str, Any] | None = error.response.get("Item")  # type: ignore[assignment]
            return self._compare_with_stored(order, stored)
        return "written"

    def _compare_with_stored(self, order: Order, stored_image: Mapping[str, Any] | None) -> WriteOutcome:
        if stored_image is None:
            # The condition fails only when the item exists, and DynamoDB then returns it; without it
            # nothing can be decided, so the record is retried rather than called a conflict.
            raise TransientError(f"ItemsTable refused order {order.order_id} without returning the stored item")
        if _stored_hash(stored_image) == order.content_hash():
            return "duplicate"
        raise PermanentError(
            "conflicting_duplicate",
            f"order {order.order_id} of customer {order.customer_id} was already written with other content",
        )


def _stored_hash(item: Mapping[str, Any] | None) -> str | None:
    """The stored content hash, from a resource item or from the wire form an error response carries."""
    value = None if item is None else item.get("content_hash")
    if isinstance(value, Mapping):
        value = value.get("S")
    return value if isinstance(value, str) else None


class DeadLetterPublisher:
    """Sends a permanently bad message to the DLQ at once, with its reason as message attributes."""

    def __init__(self, sqs_client: SQSClient, queue_url: str, clock: Clock = utc_now) -> None:
        self._sqs = sqs_client
        self._queue_url = queue_url
        self._clock = clock

    def publish(self, record: SQSRecord, error: PermanentError) -> None:
        attributes = {
            "failure_reason": error.reason,
            "failure_message": error.message[:MAX_ATTRIBUTE_TEXT],
            "source_message_id": record.message_id,
            "source_queue_arn": record.event_source_arn or "unknown",
            "receive_count": str(record.attributes.approximate_receive_count or "unknown"),
            "dead_lettered_at": self._clock().isoformat(),
            "dead_lettered_by": "sqs-worker",
        }
        # SQS refuses an empty body; such a message can only come from a hand-made event.
        body = record.body if record.body else "(empty body)"
        self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=body,
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
            },
        )


@dataclass(frozen=True)
class OrderWorkerDependencies:
    store: OrderStore
    dead_letters: DeadLetterPublisher
    safety_margin_ms: int
    faults: FaultInjector = field(default_factory=lambda: FaultInjector(FaultInjectionConfig()))


class OrderWorker:
    def __init__(self, deps: OrderWorkerDependencies) -> None:
        self._deps = deps
        self._remaining_ms = remaining_time_of(None)

    def handle_batch(self, event: Any, context: RemainingTime | None) -> dict[str, Any]:
        """A WorkQueue batch -> its partial batch response; any other event -> InvalidSqsEventError."""
        try:
            records = read_sqs_records(event)
        except InvalidSqsEventError as error:
            # Before any record is touched: the source keeps the whole batch (see sqs_worker_event).
            logger.error("Event is not an SQS batch; failing the invocation", extra={"failure": error.to_dict()})
            metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)
            raise
        self._remaining_ms = remaining_time_of(context)
        outcome = process_batch(
            records,
            item_id=lambda record: record.message_id,
            process_record=self.process_record,
            remaining_ms=self._remaining_ms,
            safety_margin_ms=self._deps.safety_margin_ms,
            # A FIFO queue's order must hold: after a failure, the rest of the batch comes again.
            stop_on_first_failure=bool(records) and (records[0].event_source_arn or "").endswith(".fifo"),
        )
        _record_batch_metrics(outcome)
        return outcome.partial_batch_response()

    def process_record(self, record: SQSRecord) -> WriteOutcome | Literal["dead_lettered"]:
        self._deps.faults.before_record(record.message_id, self._remaining_ms)
        try:
            order = parse_order(record.body)
            outcome = self._deps.store.write_once(order, record.message_id)
        except PermanentError as error:
            return self._dead_letter(record, error, cause=error)
        metrics.add_metric(
            name="OrdersWritten" if outcome == "written" else "DuplicatesSuppressed", unit=MetricUnit.Count, value=1
        )
        logger.info(
            "Order processed",
            extra={"messageId": record.message_id, "order_id": order.order_id, "outcome": outcome,
                   "total": str(order.total), "currency": order.currency},
        )
        return outcome

    def _dead_letter(self, record: SQSRecord, error: PermanentError, cause: Exception) -> Literal["dead_lettered"]:
        # Logged before the send, so the reason is on record under the messageId even if the send fails
        # (the record is then reported as failed, comes again, and the redrive policy catches it).
        logger.warning(
            "Dead-lettering message",
            extra={"messageId": record.message_id, "failure": error.to_dict(), "cause": repr(cause)},
        )
        self._deps.dead_letters.publish(record, error)
        metrics.add_metric(name="OrdersDeadLettered", unit=MetricUnit.Count, value=1)
        return "dead_lettered"


def _record_batch_metrics(outcome: BatchOutcome) -> None:
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=len(outcome.failures))
    if outcome.stopped_early:
        metrics.add_metric(name="RecordsUnreached", unit=MetricUnit.Count, value=outcome.unreached)
