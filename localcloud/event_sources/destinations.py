"""OnFailure destinations of stream mappings: the invocation record Lambda sends, and where it goes.

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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from localcloud.aws.arns import Arn, queue_url_for_arn
from localcloud.event_sources.errors import MappingConfigurationError
from localcloud.event_sources.poller import Invocation

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
