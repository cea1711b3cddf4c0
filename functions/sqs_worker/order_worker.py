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

Writing once: Powertools idempotency (IdempotencyTable, keyed by customer and order id, payload
validated) returns the stored result for a redelivery and locks an order while it is in flight; the
conditional put on ItemsTable is the durable guarantee once the idempotency record has expired (a
DLQ redrive may come days later).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from botocore.exceptions import ClientError
from order_model import Order, parse_order
from sqs_worker_event import InvalidSqsEventError, read_sqs_records

from lambda_toolkit.batch import BatchOutcome, RemainingTime, process_batch, remaining_time_of
from lambda_toolkit.errors import PermanentError, TransientError
from lambda_toolkit.fault_injection import FaultInjectionConfig, FaultInjector
from lambda_toolkit.observability import MetricUnit, logger, metrics

WriteOutcome = Literal["written", "duplicate"]
Clock = Callable[[], datetime]

# SQS message attribute values are capped; the full reason is also in the structured log line.
MAX_ATTRIBUTE_TEXT = 1024


def utc_now() -> datetime:
    return datetime.now(UTC)


class OrderStore:
    """ItemsTable access: each order is written at most once, and never changed afterwards."""

    def __init__(self, table: Any, clock: Clock = utc_now) -> None:
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
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(order_id)")
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise TransientError(f"ItemsTable put_item failed: {error}") from error
            return self._compare_with_stored(order)
        return "written"

    def _compare_with_stored(self, order: Order) -> WriteOutcome:
        stored = self._table.get_item(
            Key={"customer_id": order.customer_id, "order_id": order.order_id}, ConsistentRead=True
        ).get("Item")
        if stored is not None and stored.get("content_hash") == order.content_hash():
            return "duplicate"
        raise PermanentError(
            "conflicting_duplicate",
            f"order {order.order_id} of customer {order.customer_id} was already written with other content",
        )


class DeadLetterPublisher:
    """Sends a permanently bad message to the DLQ at once, with its reason as message attributes."""

    def __init__(self, sqs_client: Any, queue_url: str, clock: Clock = utc_now) -> None:
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
    idempotency_store: BasePersistenceLayer
    idempotency_ttl_seconds: int
    safety_margin_ms: int
    faults: FaultInjector = field(default_factory=lambda: FaultInjector(FaultInjectionConfig()))


class OrderWorker:
    def __init__(self, deps: OrderWorkerDependencies) -> None:
        self._deps = deps
        self._remaining_ms = remaining_time_of(None)
        self.idempotency_config = IdempotencyConfig(
            event_key_jmespath="[customer_id, order_id]",
            payload_validation_jmespath="[currency, lines]",
            expires_after_seconds=deps.idempotency_ttl_seconds,
            raise_on_no_idempotency_key=True,
            response_hook=_mark_replayed,
        )
        self._write_idempotently = idempotent_function(
            data_keyword_argument="order",
            persistence_store=deps.idempotency_store,
            config=self.idempotency_config,
            key_prefix="order",
        )(self._write)

    def handle_batch(self, event: Any, context: RemainingTime | None) -> dict[str, Any]:
        """A WorkQueue batch -> its partial batch response; any other event -> InvalidSqsEventError."""
        try:
            records = read_sqs_records(event)
        except InvalidSqsEventError as error:
            # Before any record is touched: the source keeps the whole batch (see sqs_worker_event).
            logger.error("Event is not an SQS batch; failing the invocation", extra={"failure": error.to_dict()})
            metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)
            raise
        if context is not None:
            # The in-progress lock then expires with this invocation, not after the full TTL.
            self.idempotency_config.register_lambda_context(context)  # type: ignore[arg-type]
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
            result = self._write_idempotently(order=order, source_message_id=record.message_id)
        except IdempotencyValidationError as error:
            permanent = PermanentError(
                "conflicting_duplicate", "an order with this customer and order id has other content"
            )
            return self._dead_letter(record, permanent, cause=error)
        except PermanentError as error:
            return self._dead_letter(record, error, cause=error)
        outcome: WriteOutcome = result["outcome"]
        metrics.add_metric(
            name="OrdersWritten" if outcome == "written" else "DuplicatesSuppressed", unit=MetricUnit.Count, value=1
        )
        logger.info(
            "Order processed",
            extra={"messageId": record.message_id, "order_id": order.order_id, "outcome": outcome,
                   "total": result["total"], "currency": order.currency},
        )
        return outcome

    def _write(self, order: Order, source_message_id: str) -> dict[str, str]:
        outcome = self._deps.store.write_once(order, source_message_id)
        return {"outcome": outcome, "total": str(order.total)}

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


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    # Called only when Powertools answers from IdempotencyTable, i.e. this order was already done.
    return {**response, "outcome": "duplicate"}


def _record_batch_metrics(outcome: BatchOutcome) -> None:
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=len(outcome.failures))
    if outcome.stopped_early:
        metrics.add_metric(name="RecordsUnreached", unit=MetricUnit.Count, value=outcome.unreached)
