"""Destinations: the invocation records Lambda sends for stream mappings (OnFailure) and for
asynchronous invokes (OnSuccess / OnFailure, and the dead-letter queue's event), and where they go.

The record holds METADATA about the discarded batch (shard, sequence range, arrival times), never
the records themselves: whoever handles it must re-read them from the stream before they expire.
Shape and formats as in the Lambda developer guide (with-ddb, "Configuring destinations for failed
invocations"): `timestamp` ISO-8601 UTC with milliseconds and Z; the approximate arrival times are the
records' ApproximateCreationDateTime, which DynamoDB Streams keeps to the second, so they are written
to the second with Z as in AWS's own example ("2019-11-14T00:13:19Z"); statusCode 200 whenever the
function ran (a raised error is still an HTTP 200 invoke with functionError "Unhandled").
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from localcloud.aws.arns import Arn, function_name_of, queue_url_for_arn
from localcloud.event_sources.errors import MappingConfigurationError
from localcloud.event_sources.poller import Invocation
from localcloud.runtime.invocation import InvokeResult

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

INVOCATION_RECORD_VERSION = "1.0"
EXECUTED_VERSION = "$LATEST"
FUNCTION_ERROR_UNHANDLED = "Unhandled"


class FailureCondition(StrEnum):
    RETRY_ATTEMPTS_EXHAUSTED = "RetryAttemptsExhausted"
    RECORD_AGE_EXCEEDED = "RecordAgeExceeded"


@dataclass(frozen=True)
class DiscardedBatch:
    """The stream records a batch gave up on: its sequence range and arrival times."""

    shard_id: str
    stream_arn: str
    start_sequence_number: str
    end_sequence_number: str
    first_arrival_epoch_s: float
    last_arrival_epoch_s: float
    size: int


def stream_invocation_record(
    *,
    condition: FailureCondition,
    function_arn: str,
    batch: DiscardedBatch,
    last_invocation: Invocation | None,
    approximate_invoke_count: int,
    now_epoch_s: float,
) -> dict[str, Any]:
    """The OnFailure invocation record of a DynamoDB stream mapping, exactly as Lambda shapes it.

    ``last_invocation`` None means the records aged out before any invoke: there is no response, so
    responseContext holds nulls rather than an invented status. requestId is that of the last invoke.
    """
    request_id = last_invocation.request_id if last_invocation is not None else str(uuid.uuid4())
    if last_invocation is None:
        response_context: dict[str, Any] = {"statusCode": None, "executedVersion": None, "functionError": None}
    else:
        response_context = {
            "statusCode": 200,
            "executedVersion": EXECUTED_VERSION,
            "functionError": FUNCTION_ERROR_UNHANDLED if last_invocation.result.failed else None,
        }
    return {
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition.value,
            "approximateInvokeCount": approximate_invoke_count,
        },
        "responseContext": response_context,
        "version": INVOCATION_RECORD_VERSION,
        "timestamp": iso_millis(now_epoch_s),
        "DDBStreamBatchInfo": {
            "shardId": batch.shard_id,
            "startSequenceNumber": batch.start_sequence_number,
            "endSequenceNumber": batch.end_sequence_number,
            "approximateArrivalOfFirstRecord": iso_seconds(batch.first_arrival_epoch_s),
            "approximateArrivalOfLastRecord": iso_seconds(batch.last_arrival_epoch_s),
            "batchSize": batch.size,
            "streamArn": batch.stream_arn,
        },
    }


def iso_millis(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_seconds(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SqsOnFailureDestination:
    """An SQS queue as OnFailure destination (the local cloud does not emulate SNS or S3 ones)."""

    def __init__(self, destination_arn: str, sqs: SQSClient) -> None:
        if Arn.parse(destination_arn).service != "sqs":
            raise MappingConfigurationError(
                f"OnFailure destination {destination_arn!r}: the local cloud supports SQS queues only"
            )
        self.destination_arn = destination_arn
        self._sqs = sqs
        self._queue_url: str | None = None

    def resolve(self) -> None:
        """Find the queue now, so a missing destination stops the mapping at start, not at a failure."""
        self._queue_url = queue_url_for_arn(self._sqs, self.destination_arn)

    def send(self, invocation_record: dict[str, Any]) -> None:
        if self._queue_url is None:
            self.resolve()
        assert self._queue_url is not None
        self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(invocation_record))


def discarded_batch(
    *, shard_id: str, stream_arn: str, sequence_numbers: Sequence[str], arrivals_epoch_s: Sequence[float]
) -> DiscardedBatch:
    return DiscardedBatch(
        shard_id=shard_id,
        stream_arn=stream_arn,
        start_sequence_number=sequence_numbers[0],
        end_sequence_number=sequence_numbers[-1],
        first_arrival_epoch_s=arrivals_epoch_s[0],
        last_arrival_epoch_s=arrivals_epoch_s[-1],
        size=len(sequence_numbers),
    )


# -------------------------------------------------------------------------------------------------
# Asynchronous invocation: the invocation record, and where it (or the event, for a dead-letter
# queue) goes. Lambda developer guide, invocation-async-retain-records.html.


class AsyncCondition(StrEnum):
    SUCCESS = "Success"
    RETRIES_EXHAUSTED = "RetriesExhausted"
    EVENT_AGE_EXCEEDED = "EventAgeExceeded"


THROTTLE_ERROR_TYPES = frozenset({"TooManyRequestsException"})
# SQS and SNS message attribute values must not be empty; the page keeps the first 1 KB of the message.
DEAD_LETTER_MESSAGE_LIMIT = 1024


class DestinationDeliveryError(RuntimeError):
    """A record could not be delivered (Lambda counts it in its DestinationDeliveryFailures metric)."""


def async_invocation_record(
    *,
    request_id: str,
    function_arn: str,
    condition: AsyncCondition,
    approximate_invoke_count: int,
    request_payload: Any,
    last_result: InvokeResult | None,
    now_epoch_s: float,
) -> dict[str, Any]:
    """The record an asynchronous invoke sends to its OnSuccess or OnFailure destination.

    Field order and formats as the page's example: version, timestamp, requestContext (the function
    ARN qualified with the version that ran, $LATEST here), requestPayload (the event), responseContext
    and responsePayload (the function's answer, or its error object). ``last_result`` None means no
    invoke ever ran (the event aged out first): the response fields are then null.
    """
    response_context: dict[str, Any]
    if last_result is None:
        response_context = {"statusCode": None, "executedVersion": None, "functionError": None}
        response_payload: Any = None
    elif last_result.error is None:
        response_context = {"statusCode": 200, "executedVersion": EXECUTED_VERSION}
        response_payload = last_result.payload
    elif last_result.error.get("errorType") in THROTTLE_ERROR_TYPES:
        # Throttled (reserved concurrency 0): the function never ran, so no version executed.
        response_context = {"statusCode": 429, "executedVersion": None, "functionError": None}
        response_payload = last_result.error
    else:
        response_context = {"statusCode": 200, "executedVersion": EXECUTED_VERSION,
                            "functionError": FUNCTION_ERROR_UNHANDLED}
        response_payload = last_result.error
    return {
        "version": INVOCATION_RECORD_VERSION,
        "timestamp": iso_millis(now_epoch_s),
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{function_arn}:{EXECUTED_VERSION}",
            "condition": condition.value,
            "approximateInvokeCount": approximate_invoke_count,
        },
        "requestPayload": request_payload,
        "responseContext": response_context,
        "responsePayload": response_payload,
    }


class AsyncDestinations:
    """Delivers invocation records to SQS queues, SNS topics and Lambda functions, and events to a DLQ.

    SQS FIFO queues and SNS FIFO topics are not destinations Lambda supports: delivering to one fails,
    as on AWS (DestinationDeliveryFailures), instead of silently working here.
    """

    def __init__(self, *, sqs: SQSClient, sns: Any, invoke_async: Callable[[str, Any], str]) -> None:
        self._sqs = sqs
        self._sns = sns
        self._invoke_async = invoke_async

    def send_record(self, destination_arn: str, record: dict[str, Any]) -> None:
        arn = self._parse(destination_arn)
        body = json.dumps(record)
        try:
            if arn.service == "sqs":
                self._sqs.send_message(QueueUrl=self._queue_url(destination_arn), MessageBody=body)
            elif arn.service == "sns":
                self._sns.publish(TopicArn=self._topic(destination_arn), Message=body)
            elif arn.service == "lambda":
                self._invoke_async(function_name_of(destination_arn), record)
            else:
                raise DestinationDeliveryError(f"{destination_arn}: {arn.service} destinations are not emulated")
        except (ClientError, BotoCoreError, ValueError) as error:
            raise DestinationDeliveryError(f"{destination_arn}: {error}") from error

    def send_dead_letter(self, target_arn: str, event: Any, *, request_id: str, error_code: int,
                         error_message: str) -> None:
        """The event as it was, with RequestID, ErrorCode and ErrorMessage attributes (no response)."""
        arn = self._parse(target_arn)
        message = (error_message or "unknown error")[:DEAD_LETTER_MESSAGE_LIMIT]
        attributes = {"RequestID": {"DataType": "String", "StringValue": request_id},
                      "ErrorCode": {"DataType": "Number", "StringValue": str(error_code)},
                      "ErrorMessage": {"DataType": "String", "StringValue": message}}
        body = json.dumps(event)
        try:
            if arn.service == "sqs":
                self._sqs.send_message(QueueUrl=self._queue_url(target_arn), MessageBody=body,
                                       MessageAttributes=attributes)  # type: ignore[arg-type]
            elif arn.service == "sns":
                self._sns.publish(TopicArn=self._topic(target_arn), Message=body, MessageAttributes=attributes)
            else:
                raise DestinationDeliveryError(f"{target_arn}: a dead-letter queue is an SQS queue or SNS topic")
        except (ClientError, BotoCoreError, ValueError) as error:
            raise DestinationDeliveryError(f"{target_arn}: {error}") from error

    @staticmethod
    def _parse(arn_text: str) -> Arn:
        try:
            return Arn.parse(arn_text)
        except ValueError as error:
            raise DestinationDeliveryError(str(error)) from error

    def _queue_url(self, queue_arn: str) -> str:
        if queue_arn.endswith(".fifo"):
            raise DestinationDeliveryError(f"{queue_arn}: an SQS FIFO queue is not a supported destination")
        return queue_url_for_arn(self._sqs, queue_arn)

    @staticmethod
    def _topic(topic_arn: str) -> str:
        if topic_arn.endswith(".fifo"):
            raise DestinationDeliveryError(f"{topic_arn}: an SNS FIFO topic is not a supported destination")
        return topic_arn
