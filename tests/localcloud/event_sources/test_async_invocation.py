"""Contract: asynchronous invocation follows lambda/latest/dg/invocation-async-error-handling.html and
invocation-async-retain-records.html, one test per rule.

The event queue (localcloud.event_sources.async_invoke) runs in-process against the in-process moto
server; the destinations are SQS queues read back with drain(). A minute is scaled to 0.6 s
(time_scale 0.01) except where the real delay itself is the rule under test.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from localcloud.event_sources.async_invoke import RETRY_DELAYS_S, AsyncInvoker, AsyncInvokeSettings
from localcloud.event_sources.destinations import AsyncDestinations
from localcloud.runtime.invocation import InvokeResult
from tests.localcloud.event_sources.moto_resources import REGION, Aws, QueueUnderTest, drain
from tests.localcloud.event_sources.recording_function import PoisonError, RecordingFunction, hold_still, wait_until

pytestmark = pytest.mark.localcloud

FUNCTION = "AsyncFunction"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:{FUNCTION}"
ISO_MILLIS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
EVENT = {"order_id": "o-1", "lines": [1, 2]}


def always_fail(_event: dict[str, Any]) -> Any:
    raise PoisonError("cannot process this event")


class Throttled:
    """What the subprocess invoker answers for a function whose reserved concurrency is 0."""

    def __init__(self) -> None:
        self.invokes = 0

    def invoke(self, function_name: str, event: Any) -> InvokeResult:
        self.invokes += 1
        return InvokeResult(error={"errorType": "TooManyRequestsException", "errorMessage": "Rate Exceeded.",
                                   "stackTrace": []})


@pytest.fixture
def start_async(aws: Aws) -> Iterator[Any]:
    started: list[AsyncInvoker] = []
    sns = boto3.client("sns", endpoint_url=aws.endpoint_url, region_name=REGION)

    def start(function: Any, settings: AsyncInvokeSettings, *, time_scale: float = 0.01) -> AsyncInvoker:
        invoker: AsyncInvoker

        def submit(function_name: str, event: Any) -> str:
            return invoker.submit(function_name, event)

        destinations = AsyncDestinations(sqs=aws.sqs, sns=sns, invoke_async=submit)
        invoker = AsyncInvoker(function, settings_of=lambda _name: settings,
                               function_arn_of=lambda name: f"arn:aws:lambda:{REGION}:123456789012:function:{name}",
                               destinations=destinations, time_scale=time_scale)
        started.append(invoker)
        return invoker

    yield start
    for invoker in started:
        invoker.stop()


def records(aws: Aws, queue: QueueUnderTest, into: list[dict[str, Any]]) -> bool:
    into.extend(json.loads(message["Body"]) for message in drain(aws, queue.url))
    return bool(into)


def test_a_failed_event_is_retried_twice_one_then_two_minutes_apart(start_async: Any) -> None:
    # Given a function that always fails, with the default settings (2 retries), a minute scaled to 0.6 s
    function = RecordingFunction(always_fail)
    invoker = start_async(function, AsyncInvokeSettings())

    # When an event is queued
    invoker.submit(FUNCTION, EVENT)

    # Then it runs three times: the second attempt a minute after the first, the third two after that
    wait_until(lambda: len(function.invokes) >= 3, timeout_s=10, what="three attempts")
    hold_still(2.0)
    assert len(function.invokes) == 3
    first, second, third = (call.started for call in function.invokes)
    assert RETRY_DELAYS_S == (60.0, 120.0)
    assert 0.6 <= second - first < 0.9
    assert 1.2 <= third - second < 1.5
    assert [call.event for call in function.invokes] == [EVENT] * 3


def test_the_real_retry_delay_is_the_default(start_async: Any) -> None:
    # Given a failing function at the real time scale
    function = RecordingFunction(always_fail)
    invoker = start_async(function, AsyncInvokeSettings(), time_scale=1.0)
    # When an event fails / Then no retry comes within the first seconds of the minute
    invoker.submit(FUNCTION, EVENT)
    wait_until(lambda: len(function.invokes) >= 1, timeout_s=5, what="the first attempt")
    hold_still(1.5)
    assert len(function.invokes) == 1


@pytest.mark.parametrize(("retries", "attempts"), [(0, 1), (1, 2)])
def test_maximum_retry_attempts_bounds_the_attempts(
        start_async: Any, make_queue: Any, aws: Aws, retries: int, attempts: int) -> None:
    # Given MaximumRetryAttempts 0 (or 1) and an OnFailure queue
    destination = make_queue()
    function = RecordingFunction(always_fail)
    invoker = start_async(function, AsyncInvokeSettings(maximum_retry_attempts=retries,
                                                        on_failure=destination.arn))

    # When the event fails every time
    invoker.submit(FUNCTION, EVENT)

    # Then it ran 1 + MaximumRetryAttempts times, and the record says so
    sent: list[dict[str, Any]] = []
    wait_until(lambda: records(aws, destination, sent), timeout_s=10, what="an OnFailure record")
    hold_still(1.5)
    assert len(function.invokes) == attempts
    assert sent[0]["requestContext"]["approximateInvokeCount"] == attempts


def test_the_on_failure_destination_gets_the_invocation_record_in_its_documented_shape(
        start_async: Any, make_queue: Any, aws: Aws) -> None:
    # Given an OnFailure queue and a function that always fails
    destination = make_queue()
    function = RecordingFunction(always_fail)
    invoker = start_async(function, AsyncInvokeSettings(on_failure=destination.arn))

    # When an event exhausts its retries
    request_id = invoker.submit(FUNCTION, EVENT)

    # Then the queue gets Lambda's record: request, response and the failure condition
    sent: list[dict[str, Any]] = []
    wait_until(lambda: records(aws, destination, sent), timeout_s=10, what="an OnFailure record")
    (record,) = sent
    assert list(record) == ["version", "timestamp", "requestContext", "requestPayload", "responseContext",
                            "responsePayload"]
    assert record["version"] == "1.0"
    assert ISO_MILLIS_Z.match(record["timestamp"]), record["timestamp"]
    assert record["requestContext"] == {"requestId": request_id, "functionArn": f"{FUNCTION_ARN}:$LATEST",
                                        "condition": "RetriesExhausted", "approximateInvokeCount": 3}
    assert str(uuid.UUID(request_id)) == request_id
    assert record["requestPayload"] == EVENT
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST",
                                         "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "PoisonError"
    assert record["responsePayload"]["errorMessage"] == "cannot process this event"


def test_the_on_success_destination_gets_the_record_of_a_successful_invoke(
        start_async: Any, make_queue: Any, aws: Aws) -> None:
    # Given an OnSuccess queue and a function that answers
    destination = make_queue()
    function = RecordingFunction(lambda event: {"total": sum(event["lines"])})
    invoker = start_async(function, AsyncInvokeSettings(on_success=destination.arn))

    # When an event is invoked
    request_id = invoker.submit(FUNCTION, EVENT)

    # Then the record carries the condition Success and the function's answer
    sent: list[dict[str, Any]] = []
    wait_until(lambda: records(aws, destination, sent), timeout_s=10, what="an OnSuccess record")
    (record,) = sent
    assert record["requestContext"] == {"requestId": request_id, "functionArn": f"{FUNCTION_ARN}:$LATEST",
                                        "condition": "Success", "approximateInvokeCount": 1}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"total": 3}
    assert len(function.invokes) == 1


def test_the_dead_letter_queue_gets_the_event_only_besides_the_on_failure_record(
        start_async: Any, make_queue: Any, aws: Aws) -> None:
    # Given a DeadLetterConfig queue AND an OnFailure destination (both apply)
    dead_letters, destination = make_queue(), make_queue()
    function = RecordingFunction(always_fail)
    invoker = start_async(function, AsyncInvokeSettings(maximum_retry_attempts=0, on_failure=destination.arn,
                                                        dead_letter_target=dead_letters.arn))

    # When the event fails for good
    request_id = invoker.submit(FUNCTION, EVENT)

    # Then the dead-letter queue holds the event as it was, with RequestID, ErrorCode and ErrorMessage
    received: list[dict[str, Any]] = []

    def dead_lettered() -> bool:
        received.extend(aws.sqs.receive_message(QueueUrl=dead_letters.url, MessageAttributeNames=["All"],
                                                MaxNumberOfMessages=10).get("Messages", []))
        return bool(received)

    wait_until(dead_lettered, timeout_s=10, what="the event in the dead-letter queue")
    (message,) = received
    assert json.loads(message["Body"]) == EVENT
    assert {name: value["StringValue"] for name, value in message["MessageAttributes"].items()} == {
        "RequestID": request_id, "ErrorCode": "200", "ErrorMessage": "cannot process this event"}
    # And the OnFailure destination its record as well
    sent: list[dict[str, Any]] = []
    wait_until(lambda: records(aws, destination, sent), timeout_s=5, what="the OnFailure record")
    assert sent[0]["requestContext"]["requestId"] == request_id


def test_an_event_older_than_its_maximum_age_is_discarded_as_event_age_exceeded(
        start_async: Any, make_queue: Any, aws: Aws) -> None:
    # Given MaximumEventAgeInSeconds 90: the second attempt (at 60 s) is within it, the third (at 180 s) not
    destination = make_queue()
    function = RecordingFunction(always_fail)
    invoker = start_async(function, AsyncInvokeSettings(maximum_event_age_s=90, on_failure=destination.arn))

    # When the event keeps failing
    invoker.submit(FUNCTION, EVENT)

    # Then it is discarded when the third attempt is due, without it
    sent: list[dict[str, Any]] = []
    wait_until(lambda: records(aws, destination, sent), timeout_s=10, what="an OnFailure record")
    assert len(function.invokes) == 2
    assert sent[0]["requestContext"]["condition"] == "EventAgeExceeded"
    assert sent[0]["requestContext"]["approximateInvokeCount"] == 2
    assert invoker.stats.snapshot()["events_expired"] == 1


def test_with_reserved_concurrency_zero_events_go_to_on_failure_without_retries(
        start_async: Any, make_queue: Any, aws: Aws) -> None:
    # Given a function throttled on every invoke (reserved concurrency 0)
    destination = make_queue()
    function = Throttled()
    invoker = start_async(function, AsyncInvokeSettings(on_failure=destination.arn))

    # When an event is queued
    invoker.submit(FUNCTION, EVENT)

    # Then it goes to the OnFailure destination at once, never retried
    sent: list[dict[str, Any]] = []
    wait_until(lambda: records(aws, destination, sent), timeout_s=5, what="an OnFailure record")
    hold_still(1.0)
    assert function.invokes == 1
    assert sent[0]["responseContext"]["statusCode"] == 429
    assert sent[0]["responsePayload"]["errorType"] == "TooManyRequestsException"


def test_a_lambda_destination_is_invoked_asynchronously_with_the_record(start_async: Any) -> None:
    # Given an OnSuccess destination that is another function
    recorder_arn = f"arn:aws:lambda:{REGION}:123456789012:function:RecorderFunction"
    function = RecordingFunction(lambda _event: "done")
    invoker = start_async(function, AsyncInvokeSettings(on_success=recorder_arn))

    # When the event succeeds
    request_id = invoker.submit(FUNCTION, EVENT)

    # Then that function is invoked with the invocation record as its event
    wait_until(lambda: any(call.function_name == "RecorderFunction" for call in function.invokes), timeout_s=5,
               what="the destination function invoked")
    record = next(call.event for call in function.invokes if call.function_name == "RecorderFunction")
    assert record["requestContext"]["requestId"] == request_id
    assert record["responsePayload"] == "done"


def test_a_record_that_cannot_be_delivered_is_counted_as_a_destination_delivery_failure(
        start_async: Any, aws: Aws) -> None:
    # Given an OnFailure destination that is an SQS FIFO queue (not a destination Lambda supports)
    fifo = aws.sqs.create_queue(QueueName=f"fifo-{uuid.uuid4().hex[:8]}.fifo", Attributes={"FifoQueue": "true"})
    fifo_arn = aws.sqs.get_queue_attributes(QueueUrl=fifo["QueueUrl"], AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    invoker = start_async(RecordingFunction(always_fail), AsyncInvokeSettings(maximum_retry_attempts=0,
                                                                              on_failure=fifo_arn))
    # When the event fails / Then nothing lands there and the failure is counted
    invoker.submit(FUNCTION, EVENT)
    wait_until(lambda: invoker.stats.snapshot()["destination_delivery_failures"] == 1, timeout_s=5,
               what="the delivery failure counted")
    assert drain(aws, fifo["QueueUrl"]) == []
