"""SQS -> Lambda event source mapping, following AWS_SEMANTICS.md "SQS -> Lambda event source mapping".

One receiver thread per mapping gathers batches (ReceiveMessage 10 at a time up to BatchSize, waiting
up to MaximumBatchingWindowInSeconds from the first message), drops the messages no filter matches
(deleted without an invoke), and hands each batch to an invoker thread. A single receiver (instead of
one per slot) keeps moto's ReceiveMessage, which is not thread-safe, from running concurrently with
itself. Three rules decide what it may receive, so that nothing is received that cannot be invoked
at once (every receive counts against the queue's maxReceiveCount):

- Concurrency (localcloud.event_sources.scaling): 5 concurrent batches at first, +300 per minute of
  backlog, up to 1,000 or ScalingConfig.MaximumConcurrency; a slot is taken BEFORE receiving.
- A free execution environment: from an invoker that counts them (LeasingInvoker, e.g. the subprocess
  invoker's pool of at most ReservedConcurrentExecutions workers) a lease is taken before receiving,
  so a batch never waits invisible behind a busy function; without a free one nothing is received.
- Payload: a batch closes when the next message might not fit Lambda's 6 MB invoke payload. Each
  ReceiveMessage asks for no more messages than the room left can hold at the queue's
  MaximumMessageSize (plus the record's own fields), so a message is never received only to be handed
  back. A message that still does not fit (JSON escaping can grow a body past that bound) is kept for
  the next batch rather than returned to the queue.

After the invoke: success deletes the batch; a valid partial batch response deletes all but the
listed messages; an error, timeout or invalid response deletes nothing. What is not deleted becomes
visible after the queue's visibility timeout, and moto applies the queue's RedrivePolicy on receive
(a message received maxReceiveCount times goes to the DLQ at its next receive), as SQS does.

FIFO queues: moto keeps one batch in flight per message group, but when several messages of one group
become visible again together it delivers the LAST of them first (it frees a message from "in flight"
one by one while scanning, and the group stays blocked until the scan reaches the last one). So for
FIFO the poller returns failed messages itself: it stretches their visibility a little past the
timeout, then at the timeout makes all of them visible in one ChangeMessageVisibilityBatch, which
frees the group at once and keeps the group's order.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from localcloud.aws.arns import queue_url_for_arn
from localcloud.event_sources.batch_response import judge_batch
from localcloud.event_sources.errors import MappingConfigurationError
from localcloud.event_sources.filter_criteria import FilterCriteria, sqs_filter_document
from localcloud.event_sources.poller import (
    MAX_BATCH_PAYLOAD_BYTES,
    FailureBackoff,
    PollerStats,
    invoke_batch,
    lease_for,
    logger,
)
from localcloud.event_sources.scaling import MAXIMUM_CONCURRENCY, ConcurrencyScaler, Slots
from localcloud.event_sources.settings import EventSourceMappingSettings, SourceKind
from localcloud.runtime.invocation import InvokeLease, Invoker

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueOutputTypeDef, MessageTypeDef

SQS_RECEIVE_MAX = 10
# What a Lambda SQS record adds to its body and attributes (ids, receipt handle, system attributes,
# ARN, JSON punctuation): with the queue's MaximumMessageSize, the most one record can weigh.
RECORD_OVERHEAD_BYTES = 4096
EMPTY_EVENT_BYTES = len('{"Records": []}')
# How long to wait before asking again for a free execution environment of the function.
LEASE_RETRY_S = 0.05
# The system attributes Lambda puts in a record, in Lambda's order; absent ones are left out.
LAMBDA_RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "AWSTraceHeader",
    "SentTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "SenderId",
    "MessageDeduplicationId",
    "ApproximateFirstReceiveTimestamp",
)
WINDOW_POLL_INTERVAL_S = 0.05
# An idle queue is polled with short receives this often rather than long-polled: a long poll would
# hold stop() and due FIFO returns for its length, and against a local endpoint polling is cheap.
IDLE_POLL_INTERVAL_S = 0.2
# How far past its visibility timeout a failed FIFO message is kept invisible by SQS itself, so that
# it can only reappear through the poller's batch release (see the module docstring).
FIFO_RETURN_SLACK_S = 2


@dataclass(frozen=True)
class ReceivedMessage:
    message_id: str
    receipt_handle: str
    record: dict[str, Any]
    received_at: float  # time.monotonic() of the ReceiveMessage that returned it


@dataclass
class _FifoReturn:
    due: float  # monotonic time at which the visibility timeout ends
    receipt_handles: list[str] = field(default_factory=list)


def lambda_sqs_record(message: MessageTypeDef, *, queue_arn: str, region: str) -> dict[str, Any]:
    """A ReceiveMessage message -> the record Lambda puts in an SQS event."""
    system = message.get("Attributes", {})
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {name: system[name] for name in LAMBDA_RECORD_ATTRIBUTES if name in system},
        "messageAttributes": {
            name: lambda_message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update({"eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region})
    return record


def lambda_message_attribute(value: MessageAttributeValueOutputTypeDef) -> dict[str, Any]:
    """SQS API attribute {StringValue|BinaryValue, DataType} -> Lambda's camelCase shape (binary base64)."""
    attribute: dict[str, Any] = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    attribute["stringListValues"] = list(value.get("StringListValues", []))
    attribute["binaryListValues"] = [
        base64.b64encode(item).decode("ascii") for item in value.get("BinaryListValues", [])
    ]
    attribute["dataType"] = value["DataType"]
    return attribute


class SqsPoller:
    """Polls one SQS queue for one mapping and invokes its function with Lambda's SQS events."""

    def __init__(
        self,
        settings: EventSourceMappingSettings,
        *,
        sqs: SQSClient,
        invoker: Invoker,
        stats: PollerStats | None = None,
        backoff: FailureBackoff | None = None,
        time_scale: float = 1.0,
    ) -> None:
        if settings.kind not in (SourceKind.SQS, SourceKind.SQS_FIFO):
            raise MappingConfigurationError(f"{settings.display_name} is not an SQS mapping")
        self.settings = settings
        self.stats = stats or PollerStats()
        self._sqs = sqs
        self._invoker = invoker
        self._backoff = backoff or FailureBackoff()
        self._filters = FilterCriteria(settings.filter_patterns, sqs=True)
        self.maximum_concurrency = settings.maximum_concurrency or MAXIMUM_CONCURRENCY
        self._scaler = ConcurrencyScaler(settings.maximum_concurrency, time_scale=time_scale)
        self._slots = Slots(self._scaler.limit)
        self._carried: list[ReceivedMessage] = []  # received, did not fit the last batch: the next one's start
        self._record_bound = RECORD_OVERHEAD_BYTES
        self._stopping = threading.Event()
        self._resume_at = 0.0  # monotonic; receiving pauses until then after function errors
        self._fifo_returns: list[_FifoReturn] = []
        self._fifo_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._receiver: threading.Thread | None = None
        self._queue_url = ""
        self._visibility_timeout_s = 0
        self.error: BaseException | None = None

    @property
    def name(self) -> str:
        return self.settings.display_name

    @property
    def is_fifo(self) -> bool:
        return self.settings.kind is SourceKind.SQS_FIFO

    def start(self) -> None:
        """Check the queue against the mapping (as CreateEventSourceMapping does) and start polling."""
        self._queue_url = queue_url_for_arn(self._sqs, self.settings.event_source_arn)
        attributes = self._sqs.get_queue_attributes(QueueUrl=self._queue_url,
                                                    AttributeNames=["VisibilityTimeout", "MaximumMessageSize"])
        self._visibility_timeout_s = int(attributes["Attributes"]["VisibilityTimeout"])
        self._record_bound = int(attributes["Attributes"].get("MaximumMessageSize", 1_048_576)) + RECORD_OVERHEAD_BYTES
        timeout = self.settings.function_timeout_seconds
        if timeout is not None and timeout > self._visibility_timeout_s:
            raise MappingConfigurationError(
                f"{self.name}: function timeout ({timeout} s) exceeds the visibility timeout of queue "
                f"{self.settings.source_name} ({self._visibility_timeout_s} s); Lambda refuses such a mapping. "
                f"Set the queue's VisibilityTimeout to at least 6 x the function timeout."
            )
        if self.settings.maximum_batching_window_seconds >= self._visibility_timeout_s:
            logger.warning(
                "%s: batching window (%d s) >= visibility timeout (%d s): messages turn visible again while "
                "the batch is still being gathered and may be delivered twice; AWS advises a visibility "
                "timeout of 6 x the function timeout plus the window", self.name,
                self.settings.maximum_batching_window_seconds, self._visibility_timeout_s)
        # Threads are started as batches need them, never more than the scaler's limit at once.
        self._executor = ThreadPoolExecutor(max_workers=self.maximum_concurrency,
                                            thread_name_prefix=f"sqs-invoke-{self.name}")
        self._receiver = threading.Thread(target=self._receive_loop, name=f"sqs-poller-{self.name}", daemon=True)
        self._receiver.start()

    def wait_until_ready(self, timeout_s: float = 10.0) -> bool:
        # Ready as soon as start() returned: the queue was found and its settings checked.
        return self._receiver is not None

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop receiving and let in-flight invokes finish (their messages are then deleted or kept)."""
        self._stopping.set()
        if self._receiver is not None:
            self._receiver.join(timeout_s)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        if self._carried:  # received but never invoked: back to the queue now rather than after the timeout
            self._make_visible([message.receipt_handle for message in self._carried])
            self._carried = []

    @property
    def concurrency_limit(self) -> int:
        """The number of batches this mapping may run at once now (it scales; see scaling.py)."""
        return self._scaler.limit

    # ---------------------------------------------------------------------------------------------
    # receiver thread

    def _receive_loop(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    self._poll_once()
                except (ClientError, BotoCoreError) as error:
                    # Lambda's poller retries a failed receive; so does this one, without spinning.
                    logger.warning("%s: SQS call failed, retrying: %s", self.name, error)
                    self._stopping.wait(1.0)
        except BaseException as error:
            self.error = error
            logger.exception("%s: SQS poller stopped by an unexpected error", self.name)
            raise

    def _poll_once(self) -> None:
        pause = self._resume_at - time.monotonic()
        if pause > 0:
            self._stopping.wait(pause)
            return
        self._return_due_fifo_messages()
        if not self._slots.acquire(timeout=0.2):
            self._observe_saturation()
            return
        lease = lease_for(self._invoker, self.settings.function_name)
        if lease is None:  # every environment of the function is busy: receive nothing for now
            self._slots.release()
            self._stopping.wait(LEASE_RETRY_S)
            return
        dispatched = received = False
        try:
            collected = self._collect_batch()
            received = bool(collected)
            batch = self._deliverable(collected)
            if batch and not self._stopping.is_set():
                assert self._executor is not None
                self._executor.submit(self._process_batch, batch, lease)
                dispatched = True
            elif batch:
                self._make_visible([message.receipt_handle for message in batch])
        finally:
            if not dispatched:
                lease.release()
                self._slots.release()
        if not received:
            # An idle queue: wait with the worker released, so other callers of the function get it.
            # Come back sooner when failed FIFO messages are due to be returned.
            self._stopping.wait(WINDOW_POLL_INTERVAL_S if self._fifo_returns_pending() else IDLE_POLL_INTERVAL_S)

    def _observe_saturation(self) -> None:
        # Asking the queue costs a call, so only when scaling could follow from the answer.
        if self._scaler.limit < self._scaler.cap:
            self._slots.set_limit(self._scaler.observe_saturated(messages_waiting=self._messages_waiting()))

    def _messages_waiting(self) -> bool:
        attributes = self._sqs.get_queue_attributes(QueueUrl=self._queue_url,
                                                    AttributeNames=["ApproximateNumberOfMessages"])
        return int(attributes["Attributes"].get("ApproximateNumberOfMessages", "0")) > 0

    def _collect_batch(self) -> list[ReceivedMessage]:
        """Receive up to BatchSize messages, never more than the 6 MB payload has room for."""
        batch_size = self.settings.batch_size
        batch, self._carried = self._carried[:batch_size], self._carried[batch_size:]
        size = EMPTY_EVENT_BYTES + sum(_record_bytes(message) for message in batch)
        window_ends = time.monotonic() + self.settings.maximum_batching_window_seconds if batch else None
        while len(batch) < batch_size and not self._stopping.is_set():
            count = min(SQS_RECEIVE_MAX, batch_size - len(batch),
                        (MAX_BATCH_PAYLOAD_BYTES - size) // self._record_bound)
            if count <= 0:
                break  # the next message might not fit: the batch closes on its payload
            received = self._receive(count)
            batch.extend(received)
            size += sum(_record_bytes(message) for message in received)
            if window_ends is None:
                if not received:
                    self._slots.set_limit(self._scaler.observe_idle())
                    return []
                window_ends = time.monotonic() + self.settings.maximum_batching_window_seconds
            if len(received) == count:
                continue  # the queue may hold more: keep gathering at once
            left = window_ends - time.monotonic()
            if left <= 0:
                break
            self._stopping.wait(min(left, WINDOW_POLL_INTERVAL_S))
        return batch

    def _receive(self, count: int) -> list[ReceivedMessage]:
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        received_at = time.monotonic()
        return [
            ReceivedMessage(
                message_id=message["MessageId"],
                receipt_handle=message["ReceiptHandle"],
                record=lambda_sqs_record(message, queue_arn=self.settings.event_source_arn,
                                         region=self.settings.region),
                received_at=received_at,
            )
            for message in response.get("Messages", [])
        ]

    def _deliverable(self, batch: list[ReceivedMessage]) -> list[ReceivedMessage]:
        """Delete what no filter matches, and keep the event under Lambda's 6 MB payload limit."""
        if not batch:
            return []
        if not self._filters.is_empty:
            filtered_out = [m for m in batch if not self._filters.matches(sqs_filter_document(m.record))]
            if filtered_out:
                self._delete(filtered_out)
                self.stats.add("records_filtered_out", len(filtered_out))
                batch = [m for m in batch if m not in filtered_out]
        kept, overflow = _split_at_payload_limit(batch)
        if overflow:
            # Received, but larger than the bound promised: the start of the next batch (returning
            # them would count a receive that no invoke used).
            self._carried = overflow + self._carried
            self.stats.add("records_carried_over", len(overflow))
        return kept

    # ---------------------------------------------------------------------------------------------
    # invoker threads

    def _process_batch(self, batch: list[ReceivedMessage], lease: InvokeLease) -> None:
        try:
            self._invoke_and_settle(batch, lease)
        except Exception:
            logger.exception("%s: settling a batch failed; its messages come back after the visibility timeout",
                             self.name)
            raise
        finally:
            self._slots.release()

    def _invoke_and_settle(self, batch: list[ReceivedMessage], lease: InvokeLease) -> None:
        self.stats.add("batches_invoked")
        self.stats.add("records_delivered", len(batch))
        invocation = invoke_batch(self._invoker, self.settings.function_name,
                                  {"Records": [message.record for message in batch]}, lease=lease)
        verdict = judge_batch(invocation.result, {m.message_id for m in batch},
                              reports_batch_item_failures=self.settings.reports_batch_item_failures)
        if verdict.whole_batch_failed:
            self.stats.add("batches_failed")
            delay = self._backoff.failed()
            self._resume_at = max(self._resume_at, time.monotonic() + delay)
            logger.warning("%s: batch of %d failed (%s); nothing deleted, backing off %.1f s",
                           self.name, len(batch), verdict.reason, delay)
            failed = batch
        else:
            self._backoff.succeeded()
            failed = [m for m in batch if m.message_id in verdict.failed_item_ids]
            self.stats.add("records_reported_failed", len(failed))
        succeeded = [m for m in batch if m not in failed]
        if succeeded:
            self._delete(succeeded)
            self.stats.add("records_completed", len(succeeded))
        if failed and self.is_fifo:
            self._hold_fifo_returns(failed)

    # ---------------------------------------------------------------------------------------------
    # SQS calls

    def _delete(self, messages: Sequence[ReceivedMessage]) -> None:
        for chunk in _chunks(list(messages), SQS_RECEIVE_MAX):
            response = self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(chunk)],
            )
            for failure in response.get("Failed", []):
                # The message will be delivered again: at-least-once, as in AWS.
                logger.warning("%s: could not delete %s: %s", self.name,
                               chunk[int(failure["Id"])].message_id, failure.get("Message"))

    def _make_visible(self, receipt_handles: Sequence[str]) -> None:
        self._change_visibility(receipt_handles, 0)

    def _change_visibility(self, receipt_handles: Sequence[str], visibility_timeout_s: int) -> None:
        for chunk in _chunks(list(receipt_handles), SQS_RECEIVE_MAX):
            response = self._sqs.change_message_visibility_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": visibility_timeout_s}
                         for i, handle in enumerate(chunk)],
            )
            for failure in response.get("Failed", []):
                logger.debug("%s: visibility change refused: %s", self.name, failure.get("Message"))

    def _hold_fifo_returns(self, failed: Sequence[ReceivedMessage]) -> None:
        due = min(m.received_at for m in failed) + self._visibility_timeout_s
        stretch = math.ceil(max(0.0, due - time.monotonic())) + FIFO_RETURN_SLACK_S
        self._change_visibility([m.receipt_handle for m in failed], stretch)
        with self._fifo_lock:
            self._fifo_returns.append(_FifoReturn(due=due, receipt_handles=[m.receipt_handle for m in failed]))

    def _fifo_returns_pending(self) -> bool:
        with self._fifo_lock:
            return bool(self._fifo_returns)

    def _return_due_fifo_messages(self) -> None:
        now = time.monotonic()
        with self._fifo_lock:
            due = [entry for entry in self._fifo_returns if entry.due <= now]
            self._fifo_returns = [entry for entry in self._fifo_returns if entry.due > now]
        for entry in due:
            self._make_visible(entry.receipt_handles)


def _record_bytes(message: ReceivedMessage) -> int:
    return len(json.dumps(message.record).encode("utf-8")) + 2  # and the ", " that joins it


def _split_at_payload_limit(batch: list[ReceivedMessage]) -> tuple[list[ReceivedMessage], list[ReceivedMessage]]:
    size = EMPTY_EVENT_BYTES
    for index, message in enumerate(batch):
        size += _record_bytes(message)
        if size > MAX_BATCH_PAYLOAD_BYTES and index > 0:
            return batch[:index], batch[index:]
    return batch, []


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]
