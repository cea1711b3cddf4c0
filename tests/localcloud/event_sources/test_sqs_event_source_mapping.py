"""Contract: the SQS poller follows AWS_SEMANTICS.md "SQS -> Lambda event source mapping", one test per rule.

Queues use 1 s visibility timeouts so that redeliveries come quickly; waits are bounded and say what
did not happen.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from localcloud.event_sources.poller import MAX_BATCH_PAYLOAD_BYTES
from localcloud.event_sources.settings import EventSourceMappingSettings, MappingConfigurationError
from localcloud.runtime.invocation import InvokeResult
from tests.localcloud.event_sources.moto_resources import (
    REGION,
    Aws,
    QueueUnderTest,
    drain,
    queue_depth,
    send_messages,
)
from tests.localcloud.event_sources.recording_function import RecordingFunction, hold_still, wait_until

pytestmark = pytest.mark.localcloud

FUNCTION = "WorkerFunction"
REPORT = ("ReportBatchItemFailures",)


def sqs_mapping(queue: QueueUnderTest, **settings: Any) -> EventSourceMappingSettings:
    return EventSourceMappingSettings(function_name=FUNCTION, event_source_arn=queue.arn, **settings)


def report(*message_ids: str) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in message_ids]}


def receive_counts(function: RecordingFunction, body: str) -> list[str]:
    return [record["attributes"]["ApproximateReceiveCount"]
            for batch in function.batches for record in batch if record["body"] == body]


# ------------------------------------------------------------------------------------------------
# Batch size and batching window


def test_batch_size_caps_the_records_of_each_invoke(aws: Aws, make_queue: Any, start_poller: Any) -> None:
    # Given 25 messages and a mapping with BatchSize 10
    queue = make_queue()
    bodies = [f"m{i}" for i in range(25)]
    send_messages(aws, queue, bodies)
    function = RecordingFunction()

    # When the poller runs
    start_poller(sqs_mapping(queue, batch_size=10), function)

    # Then every message is delivered once, in invokes of at most 10 records
    wait_until(lambda: len(function.delivered_bodies()) >= 25, timeout_s=15, what="all 25 messages delivered")
    assert sorted(function.delivered_bodies()) == sorted(bodies)
    assert max(len(batch) for batch in function.batches) <= 10
    wait_until(lambda: queue_depth(aws, queue.url) == 0, timeout_s=5, what="delivered messages deleted")


def test_batch_size_above_ten_is_gathered_from_several_receives_within_the_window(
    aws: Aws, make_queue: Any, start_poller: Any,
) -> None:
    # Given 25 waiting messages and BatchSize 25 (ReceiveMessage returns at most 10) with a 2 s window
    queue = make_queue(visibility_timeout=10)
    bodies = [f"m{i}" for i in range(25)]
    send_messages(aws, queue, bodies)
    function = RecordingFunction()

    # When the poller runs
    start_poller(sqs_mapping(queue, batch_size=25, maximum_batching_window_seconds=2), function)

    # Then they arrive in ONE invoke of 25
    wait_until(lambda: len(function.delivered_bodies()) >= 25, timeout_s=15, what="all 25 messages delivered")
    assert [len(batch) for batch in function.batches] == [25]


def test_batching_window_waits_for_the_batch_to_fill(aws: Aws, make_queue: Any, start_poller: Any) -> None:
    # Given a mapping with BatchSize 5 and a 4 s batching window, and one message already waiting
    queue = make_queue(visibility_timeout=10)
    function = RecordingFunction()
    start_poller(sqs_mapping(queue, batch_size=5, maximum_batching_window_seconds=4), function)
    send_messages(aws, queue, ["first"])
    hold_still(0.5)

    # When four more messages arrive inside the window
    send_messages(aws, queue, ["second", "third", "fourth", "fifth"])

    # Then the function gets one batch of all five instead of an early batch of one
    wait_until(lambda: len(function.delivered_bodies()) >= 5, timeout_s=10, what="five messages delivered")
    assert function.bodies() == [["first", "second", "third", "fourth", "fifth"]]


def test_batch_size_above_ten_without_a_batching_window_is_refused(make_queue: Any) -> None:
    # Given a standard queue / When a mapping asks for BatchSize 11 with no window / Then it is refused
    queue = make_queue()
    with pytest.raises(ValueError, match="MaximumBatchingWindowInSeconds >= 1"):
        sqs_mapping(queue, batch_size=11)


def test_fifo_queue_refuses_batch_size_above_ten_and_a_batching_window(make_queue: Any) -> None:
    # Given a FIFO queue
    queue = make_queue(fifo=True)
    # When / Then BatchSize 11 and any batching window are refused, as Lambda refuses them
    with pytest.raises(ValueError, match="FIFO queue maximum of 10"):
        sqs_mapping(queue, batch_size=11)
    with pytest.raises(ValueError, match="not available on FIFO"):
        sqs_mapping(queue, maximum_batching_window_seconds=1)


def test_function_timeout_above_the_queue_visibility_timeout_is_refused(make_queue: Any, start_poller: Any) -> None:
    # Given a queue whose visibility timeout (5 s) is shorter than the function timeout (30 s)
    queue = make_queue(visibility_timeout=5)
    settings = sqs_mapping(queue, function_timeout_seconds=30)

    # When the poller starts / Then it refuses with the rule in the message
    with pytest.raises(MappingConfigurationError, match=r"function timeout \(30 s\) exceeds the visibility"):
        start_poller(settings, RecordingFunction())


# ------------------------------------------------------------------------------------------------
# The event


def test_records_have_the_lambda_sqs_event_shape(aws: Aws, make_queue: Any, start_poller: Any) -> None:
    # Given a message with a string, a number and a binary attribute
    queue = make_queue(visibility_timeout=10)
    body = json.dumps({"order_id": "o-1"})
    (message_id,) = send_messages(aws, queue, [body], MessageAttributes={
        "trace": {"DataType": "String", "StringValue": "abc"},
        "count": {"DataType": "Number", "StringValue": "42"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
    })
    function = RecordingFunction()

    # When it is delivered
    start_poller(sqs_mapping(queue), function)
    wait_until(lambda: len(function.batches) >= 1, timeout_s=10, what="the message delivered")

    # Then the record is what Lambda sends
    (record,) = function.batches[0]
    assert list(record) == ["messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
                            "md5OfMessageAttributes", "eventSource", "eventSourceARN", "awsRegion"]
    assert record["messageId"] == message_id
    assert record["receiptHandle"]
    assert record["body"] == body
    assert record["md5OfBody"] == hashlib.md5(body.encode()).hexdigest()  # noqa: S324 - SQS's own digest
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queue.arn
    assert record["awsRegion"] == REGION
    attributes = record["attributes"]
    assert {"ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(
        attributes)
    assert attributes["ApproximateReceiveCount"] == "1"
    assert all(isinstance(value, str) for value in attributes.values())
    assert record["messageAttributes"] == {
        "trace": {"stringValue": "abc", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "count": {"stringValue": "42", "stringListValues": [], "binaryListValues": [], "dataType": "Number"},
        "blob": {"binaryValue": "AAH/", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
    }


def test_fifo_records_carry_the_message_group_id(aws: Aws, make_queue: Any, start_poller: Any) -> None:
    # Given a FIFO message of group "g-1"
    queue = make_queue(fifo=True, visibility_timeout=10)
    send_messages(aws, queue, ["hello"], MessageGroupId="g-1")
    function = RecordingFunction()

    # When it is delivered
    start_poller(sqs_mapping(queue), function)
    wait_until(lambda: len(function.batches) >= 1, timeout_s=10, what="the message delivered")

    # Then its attributes hold the group and deduplication ids
    attributes = function.batches[0][0]["attributes"]
    assert attributes["MessageGroupId"] == "g-1"
    assert attributes["MessageDeduplicationId"]


# ------------------------------------------------------------------------------------------------
# Partial batch responses


def test_partial_batch_response_deletes_only_the_messages_not_reported(
    aws: Aws, make_queue: Any, start_poller: Any,
) -> None:
    # Given three messages and a function that reports "b" as failed the first time it sees it
    queue = make_queue(visibility_timeout=1)
    ids = dict(zip("abc", send_messages(aws, queue, ["a", "b", "c"]), strict=True))
    seen_b = threading.Event()

    def fail_b_once(event: dict[str, Any]) -> Any:
        bodies = [record["body"] for record in event["Records"]]
        if "b" in bodies and not seen_b.is_set():
            seen_b.set()
            return report(ids["b"])
        return report()

    function = RecordingFunction(fail_b_once)

    # When the poller runs
    start_poller(sqs_mapping(queue, function_response_types=REPORT), function)

    # Then only "b" comes back (after the visibility timeout), "a" and "c" were deleted after one delivery
    wait_until(lambda: Counter(function.delivered_bodies())["b"] >= 2, timeout_s=10, what="'b' redelivered")
    wait_until(lambda: queue_depth(aws, queue.url) == 0, timeout_s=5, what="queue emptied")
    hold_still(1.5)  # longer than the visibility timeout: anything kept would be back by now
    assert Counter(function.delivered_bodies()) == {"a": 1, "b": 2, "c": 1}
    assert receive_counts(function, "b") == ["1", "2"]


@pytest.mark.parametrize(
    "response",
    [{"batchItemFailures": []}, {"batchItemFailures": None}, None, {}],
    ids=["empty-list", "null-list", "null-response", "empty-response"],
)
def test_empty_or_null_batch_item_failures_mean_the_whole_batch_succeeded(
    aws: Aws, make_queue: Any, start_poller: Any, response: Any,
) -> None:
    # Given two messages and a function answering with an empty/null partial batch response
    queue = make_queue(visibility_timeout=1)
    send_messages(aws, queue, ["a", "b"])
    function = RecordingFunction(lambda _event: response)

    # When the poller runs
    start_poller(sqs_mapping(queue, function_response_types=REPORT), function)

    # Then both are deleted after one delivery
    wait_until(lambda: queue_depth(aws, queue.url) == 0, timeout_s=10, what="queue emptied")
    hold_still(1.5)
    assert Counter(function.delivered_bodies()) == {"a": 1, "b": 1}


INVALID_RESPONSES: dict[str, Callable[[str], Any]] = {
    "empty-identifier": lambda _id: {"batchItemFailures": [{"itemIdentifier": ""}]},
    "null-identifier": lambda _id: {"batchItemFailures": [{"itemIdentifier": None}]},
    "misspelt-key": lambda message_id: {"batchItemFailures": [{"itemIdentifer": message_id}]},
    "unknown-message-id": lambda _id: {"batchItemFailures": [{"itemIdentifier": "not-a-message-of-this-batch"}]},
    "failures-not-a-list": lambda message_id: {"batchItemFailures": {"itemIdentifier": message_id}},
    "response-not-an-object": lambda _id: "done",
}


@pytest.mark.parametrize("case", list(INVALID_RESPONSES))
def test_an_invalid_partial_batch_response_fails_the_whole_batch(
    aws: Aws, make_queue: Any, start_poller: Any, case: str,
) -> None:
    # Given two messages and a function whose first answer is an invalid partial batch response
    queue = make_queue(visibility_timeout=1)
    ids = send_messages(aws, queue, ["a", "b"])
    answered = threading.Event()

    def invalid_once(_event: dict[str, Any]) -> Any:
        if answered.is_set():
            return report()
        answered.set()
        return INVALID_RESPONSES[case](ids[0])

    function = RecordingFunction(invalid_once)

    # When the poller runs
    start_poller(sqs_mapping(queue, function_response_types=REPORT), function)

    # Then NOTHING was deleted after the first answer: both messages come again
    wait_until(lambda: queue_depth(aws, queue.url) == 0, timeout_s=10, what="queue emptied after the retry")
    assert Counter(function.delivered_bodies()) == {"a": 2, "b": 2}
    assert receive_counts(function, "a") == ["1", "2"]


def raise_first_time() -> Callable[[dict[str, Any]], Any]:
    raised = threading.Event()

    def behaviour(_event: dict[str, Any]) -> Any:
        if not raised.is_set():
            raised.set()
            raise RuntimeError("boom")
        return report()

    return behaviour


class TimesOutFirstTime:
    """An invoker whose first invoke ends as the subprocess invoker reports a timeout."""

    def __init__(self) -> None:
        self.recorder = RecordingFunction(lambda _event: report())
        self._timed_out = threading.Event()

    def invoke(self, function_name: str, event: Any) -> InvokeResult:
        result = self.recorder.invoke(function_name, event)
        if self._timed_out.is_set():
            return result
        self._timed_out.set()
        return InvokeResult(error={"errorType": "Sandbox.Timedout",
                                   "errorMessage": "Task timed out after 1.00 seconds"})


@pytest.mark.parametrize("failure", ["raised", "timed-out"])
def test_a_function_error_or_timeout_fails_the_whole_batch(
    aws: Aws, make_queue: Any, start_poller: Any, failure: str,
) -> None:
    # Given two messages and a function whose first invoke raises (or times out)
    queue = make_queue(visibility_timeout=1)
    send_messages(aws, queue, ["a", "b"])
    invoker: Any = RecordingFunction(raise_first_time()) if failure == "raised" else TimesOutFirstTime()
    function: RecordingFunction = invoker if failure == "raised" else invoker.recorder

    # When the poller runs (reporting batch item failures does not matter for errors)
    poller = start_poller(sqs_mapping(queue, function_response_types=REPORT),
                          invoker)

    # Then both messages come again, and the failure is counted
    wait_until(lambda: queue_depth(aws, queue.url) == 0, timeout_s=10, what="queue emptied after the retry")
    assert Counter(function.delivered_bodies()) == {"a": 2, "b": 2}
    assert poller.stats.snapshot()["batches_failed"] == 1


def test_without_report_batch_item_failures_any_return_value_is_success(
    aws: Aws, make_queue: Any, start_poller: Any,
) -> None:
    # Given a mapping WITHOUT ReportBatchItemFailures and a function that returns a failure list anyway
    queue = make_queue(visibility_timeout=1)
    send_messages(aws, queue, ["a", "b"])
    function = RecordingFunction(lambda event: report(event["Records"][0]["messageId"]))

    # When the poller runs
    start_poller(sqs_mapping(queue), function)

    # Then the return value is ignored: both messages are deleted after one delivery
    wait_until(lambda: queue_depth(aws, queue.url) == 0, timeout_s=10, what="queue emptied")
    hold_still(1.5)
    assert Counter(function.delivered_bodies()) == {"a": 1, "b": 1}


# ------------------------------------------------------------------------------------------------
# Redrive


def test_a_poison_message_moves_to_the_dead_letter_queue_after_max_receive_count_receives(
    aws: Aws, make_queue: Any, start_poller: Any,
) -> None:
    # Given a queue with maxReceiveCount 3, a poison message between two good ones,
    # and a function that always reports the poison message as failed
    queue = make_queue(visibility_timeout=1, max_receive_count=3)
    ids = dict(zip(["good-1", "poison", "good-2"],
                   send_messages(aws, queue, ["good-1", "poison", "good-2"]), strict=True))

    def reject_poison(event: dict[str, Any]) -> Any:
        return report(*[r["messageId"] for r in event["Records"] if r["messageId"] == ids["poison"]])

    function = RecordingFunction(reject_poison)

    # When the poller runs
    start_poller(sqs_mapping(queue, function_response_types=REPORT), function)

    # Then the poison message is received exactly maxReceiveCount times and then sits in the DLQ,
    # while its neighbours were processed exactly once
    assert queue.dead_letter_url is not None
    dead_letters: list[dict[str, Any]] = []
    wait_until(lambda: bool(dead_letters.extend(drain(aws, queue.dead_letter_url)) or dead_letters),
               timeout_s=15, what="the poison message reached the dead-letter queue")
    assert [message["Body"] for message in dead_letters] == ["poison"]
    assert receive_counts(function, "poison") == ["1", "2", "3"]
    assert Counter(function.delivered_bodies()) == {"good-1": 1, "poison": 3, "good-2": 1}
    assert queue_depth(aws, queue.url) == 0


# ------------------------------------------------------------------------------------------------
# FIFO


def test_fifo_processes_each_group_in_order_and_retries_from_the_first_failure(
    aws: Aws, make_queue: Any, start_poller: Any,
) -> None:
    # Given two message groups, and a function that behaves like Powertools' SqsFifoPartialProcessor:
    # it processes in order, and at the first failure ("a2", once) reports it and every later message
    queue = make_queue(fifo=True, visibility_timeout=1)
    for body in ["a1", "a2", "a3", "a4"]:
        send_messages(aws, queue, [body], MessageGroupId="A")
    for body in ["b1", "b2", "b3"]:
        send_messages(aws, queue, [body], MessageGroupId="B")
    processed: list[str] = []
    failed_once = threading.Event()

    def fifo_processor(event: dict[str, Any]) -> Any:
        records = event["Records"]
        for index, record in enumerate(records):
            if record["body"] == "a2" and not failed_once.is_set():
                failed_once.set()
                return report(*[r["messageId"] for r in records[index:]])
            processed.append(record["body"])
        return report()

    function = RecordingFunction(fifo_processor)

    # When the poller runs
    start_poller(sqs_mapping(queue, function_response_types=REPORT, maximum_concurrency=2), function)

    # Then every message is processed once, and each group in send order despite the retry
    wait_until(lambda: len(processed) >= 7, timeout_s=15, what="all seven messages processed")
    assert [body for body in processed if body.startswith("a")] == ["a1", "a2", "a3", "a4"]
    assert [body for body in processed if body.startswith("b")] == ["b1", "b2", "b3"]
    assert sorted(processed) == ["a1", "a2", "a3", "a4", "b1", "b2", "b3"]


def test_fifo_keeps_one_batch_in_flight_per_group_while_other_groups_run(
    aws: Aws, make_queue: Any, start_poller: Any,
) -> None:
    # Given group A (three messages) and group B (one), delivered one message per batch,
    # and a function that holds "a1" until "b1" has started
    queue = make_queue(fifo=True, visibility_timeout=10)
    for body in ["a1", "a2", "a3"]:
        send_messages(aws, queue, [body], MessageGroupId="A")
    send_messages(aws, queue, ["b1"], MessageGroupId="B")
    b1_started = threading.Event()
    b1_ran_while_a1_in_flight = threading.Event()

    def behaviour(event: dict[str, Any]) -> Any:
        body = event["Records"][0]["body"]
        if body == "b1":
            b1_started.set()
        if body == "a1" and b1_started.wait(5):
            b1_ran_while_a1_in_flight.set()
        time.sleep(0.05)
        return None

    function = RecordingFunction(behaviour)

    # When the poller runs with room for five concurrent batches
    start_poller(sqs_mapping(queue, batch_size=1, maximum_concurrency=5), function)

    # Then group B ran while A's first batch was in flight, but A's batches never overlapped
    wait_until(lambda: len(function.invokes) >= 4 and all(c.finished for c in function.invokes),
               timeout_s=15, what="all four messages processed")
    assert b1_ran_while_a1_in_flight.is_set(), "group B waited for group A: groups must not block each other"
    group_a = [call for call in function.invokes if call.event["Records"][0]["body"].startswith("a")]
    assert [call.event["Records"][0]["body"] for call in group_a] == ["a1", "a2", "a3"]
    for earlier, later in itertools.pairwise(group_a):
        assert later.started >= earlier.finished, "two batches of one message group were in flight together"


# ------------------------------------------------------------------------------------------------
# Scaling and filtering


def test_maximum_concurrency_bounds_the_concurrent_invokes(aws: Aws, make_queue: Any, start_poller: Any) -> None:
    # Given 12 messages, one per batch, and ScalingConfig.MaximumConcurrency 2
    queue = make_queue(visibility_timeout=10)
    send_messages(aws, queue, [f"m{i}" for i in range(12)])
    two_at_once = threading.Barrier(2)

    def slow(_event: dict[str, Any]) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            two_at_once.wait(timeout=5)  # the first two meet here only if two can run at once
        time.sleep(0.05)
        return None

    function = RecordingFunction(slow)

    # When the poller runs
    start_poller(sqs_mapping(queue, batch_size=1, maximum_concurrency=2), function)

    # Then all are delivered, and never more than 2 invokes ran at once (and 2 did)
    wait_until(lambda: len(function.invokes) >= 12 and all(c.finished for c in function.invokes),
               timeout_s=20, what="all 12 messages processed")
    assert function.max_concurrent == 2


def test_filter_criteria_delete_unmatched_messages_without_invoking(
    aws: Aws, make_queue: Any, start_poller: Any,
) -> None:
    # Given filters for big JSON orders (fields of the body) or plain-string bodies starting "URGENT"
    queue = make_queue(visibility_timeout=1)
    filters = (
        json.dumps({"body": {"kind": ["order"], "amount": [{"numeric": [">", 10]}]}}),
        json.dumps({"body": [{"prefix": "URGENT"}]}),
    )
    bodies = {
        "big-order": json.dumps({"kind": "order", "amount": 50}),
        "small-order": json.dumps({"kind": "order", "amount": 5}),
        "refund": json.dumps({"kind": "refund", "amount": 50}),
        "urgent-text": "URGENT: call back",
        "plain-text": "hello",
        "json-with-urgent-field": json.dumps({"kind": "URGENT"}),
    }
    send_messages(aws, queue, list(bodies.values()))
    function = RecordingFunction()

    # When the poller runs
    poller = start_poller(sqs_mapping(queue, filter_patterns=filters), function)

    # Then only the matching messages reach the function, and the others are deleted all the same
    wait_until(lambda: queue_depth(aws, queue.url) == 0, timeout_s=10, what="queue emptied")
    hold_still(1.5)
    assert sorted(function.delivered_bodies()) == sorted([bodies["big-order"], bodies["urgent-text"]])
    assert poller.stats.snapshot()["records_filtered_out"] == 4


def test_a_batch_stays_within_the_six_megabyte_invoke_payload(
    aws: Aws, make_queue: Any, start_poller: Any,
) -> None:
    # Given seven messages of 1,000,000 bytes each (7 MB: more than one invoke may carry)
    queue = make_queue(visibility_timeout=30)
    bodies = [str(i) * 1_000_000 for i in range(7)]
    send_messages(aws, queue, bodies)
    function = RecordingFunction()

    # When the poller runs with room for all of them in one batch
    start_poller(sqs_mapping(queue, maximum_batching_window_seconds=1), function)

    # Then no invoke payload exceeds 6 MB and every message is delivered once
    wait_until(lambda: len(function.delivered_bodies()) >= 7, timeout_s=20, what="all seven delivered")
    assert all(len(json.dumps(event).encode()) <= MAX_BATCH_PAYLOAD_BYTES for event in function.events)
    assert sorted(function.delivered_bodies()) == sorted(bodies)
    assert len(function.batches) >= 2


# ------------------------------------------------------------------------------------------------
# Batch payload in bytes (services-sqs-parameters / with-sqs: a batch is invoked when the payload
# reaches 6 MB), and receiving only what can be invoked at once


def test_a_batch_closes_at_six_megabytes_and_no_message_is_received_that_it_cannot_carry(
    aws: Aws, make_queue: Any, start_poller: Any,
) -> None:
    # Given 30 messages of 500 kB (15 MB), BatchSize 50 and a redrive policy of maxReceiveCount 2
    queue = make_queue(visibility_timeout=30, max_receive_count=2)
    bodies = [f"{i:02d}" + "x" * 500_000 for i in range(30)]
    send_messages(aws, queue, bodies)
    function = RecordingFunction()

    # When the poller gathers batches within a 1 s window
    poller = start_poller(sqs_mapping(queue, batch_size=50, maximum_batching_window_seconds=1), function)

    # Then every message reaches the function once, received once, in invokes of at most 6 MB
    wait_until(lambda: len(function.delivered_bodies()) >= 30, timeout_s=60, what="all 30 messages delivered")
    wait_until(lambda: queue_depth(aws, queue.url) == 0, timeout_s=10, what="the queue emptied")
    assert sorted(function.delivered_bodies()) == sorted(bodies)
    assert {record["attributes"]["ApproximateReceiveCount"] for batch in function.batches for record in batch} == {"1"}
    assert all(len(json.dumps(event).encode()) <= MAX_BATCH_PAYLOAD_BYTES for event in function.events)
    assert len(function.batches) >= 3  # 15 MB cannot go in fewer
    # And none went to the dead-letter queue: no receive was spent on a message no invoke carried
    assert queue.dead_letter_url is not None
    assert drain(aws, queue.dead_letter_url) == []
    assert poller.stats.snapshot()["records_carried_over"] == 0


class LimitedFunction(RecordingFunction):
    """A function with ``capacity`` execution environments, as the subprocess invoker's pool has: a
    plain invoke waits for a free one; try_lease (LeasingInvoker) hands one out only if it is free."""

    def __init__(self, capacity: int, hold_s: float) -> None:
        super().__init__(lambda _event: time.sleep(hold_s))
        self._environments = threading.BoundedSemaphore(capacity)

    def invoke(self, function_name: str, event: Any) -> InvokeResult:
        with self._environments:
            return super().invoke(function_name, event)

    def try_lease(self, function_name: str) -> Any:
        if not self._environments.acquire(blocking=False):
            return None
        run, free = super().invoke, self._environments.release

        class Lease:
            def invoke(self, event: Any) -> InvokeResult:
                try:
                    return run(function_name, event)
                finally:
                    free()

            def release(self) -> None:
                free()

        return Lease()


def test_nothing_is_received_while_every_environment_of_the_function_is_busy(
    aws: Aws, make_queue: Any, start_poller: Any,
) -> None:
    # Given a function with 2 environments under a mapping that may run 5 batches, a 1 s visibility
    # timeout, and batches that take 0.6 s: a received batch that waited for a worker would turn
    # visible again before it ran
    queue = make_queue(visibility_timeout=1)
    bodies = [f"m{i}" for i in range(8)]
    send_messages(aws, queue, bodies)
    function = LimitedFunction(capacity=2, hold_s=0.6)

    # When the poller runs
    start_poller(sqs_mapping(queue, batch_size=1), function)

    # Then every message was received once and delivered once, two at a time
    wait_until(lambda: len(function.invokes) >= 8 and all(c.finished for c in function.invokes),
               timeout_s=20, what="all eight messages processed")
    wait_until(lambda: queue_depth(aws, queue.url) == 0, timeout_s=5, what="the queue emptied")
    hold_still(1.2)
    assert Counter(function.delivered_bodies()) == dict.fromkeys(bodies, 1)
    assert {record["attributes"]["ApproximateReceiveCount"] for batch in function.batches for record in batch} == {"1"}
    assert function.max_concurrent == 2


# ------------------------------------------------------------------------------------------------
# Scaling (services-sqs-scaling): 5 concurrent batches at first, +300 per minute while messages wait


def hold(seconds: float) -> Callable[[dict[str, Any]], Any]:
    def behaviour(_event: dict[str, Any]) -> Any:
        time.sleep(seconds)

    return behaviour


def test_without_scaling_config_a_mapping_starts_with_five_concurrent_batches(
    aws: Aws, make_queue: Any, start_poller: Any,
) -> None:
    # Given 15 messages, one per batch, and no ScalingConfig, at the real time scale
    queue = make_queue(visibility_timeout=10)
    send_messages(aws, queue, [f"m{i}" for i in range(15)])
    function = RecordingFunction(hold(0.4))

    # When the poller runs for less than the minute after which Lambda adds pollers
    poller = start_poller(sqs_mapping(queue, batch_size=1), function)

    # Then it ran exactly five batches at a time
    wait_until(lambda: len(function.invokes) >= 15 and all(c.finished for c in function.invokes),
               timeout_s=20, what="all 15 messages processed")
    assert function.max_concurrent == 5
    assert poller.concurrency_limit == 5


def test_while_messages_wait_the_concurrency_grows_by_300_batches_each_minute(
    aws: Aws, make_queue: Any, start_poller: Any,
) -> None:
    # Given 40 messages, one per batch, batches of 1.5 s, no ScalingConfig, and a minute scaled to 0.6 s
    queue = make_queue(visibility_timeout=30)
    send_messages(aws, queue, [f"m{i}" for i in range(40)])
    function = RecordingFunction(hold(1.5))

    # When the poller has a backlog for more than a (scaled) minute
    poller = start_poller(sqs_mapping(queue, batch_size=1), function, time_scale=0.01)

    # Then the first batches ran five at a time, and after the step (to 305) all the rest ran together
    wait_until(lambda: poller.concurrency_limit == 305, timeout_s=10, what="the step to 305 batches")
    wait_until(lambda: len(function.invokes) >= 40 and all(c.finished for c in function.invokes),
               timeout_s=30, what="all 40 messages processed")
    first = min(call.started for call in function.invokes)
    assert sum(call.started < first + 0.4 for call in function.invokes) <= 5
    assert function.max_concurrent > 5
    # And once the queue stays empty for a (scaled) minute it is back to five
    wait_until(lambda: poller.concurrency_limit == 5, timeout_s=10, what="the scale back to 5")


def test_maximum_concurrency_caps_the_scaling(aws: Aws, make_queue: Any, start_poller: Any) -> None:
    # Given ScalingConfig.MaximumConcurrency 8 and a backlog lasting several scaled minutes
    queue = make_queue(visibility_timeout=30)
    send_messages(aws, queue, [f"m{i}" for i in range(24)])
    function = RecordingFunction(hold(1.0))

    # When the poller runs
    poller = start_poller(sqs_mapping(queue, batch_size=1, maximum_concurrency=8), function, time_scale=0.01)

    # Then it scaled from 5 to the cap, never past it
    wait_until(lambda: poller.concurrency_limit == 8, timeout_s=10, what="the step to the cap")
    wait_until(lambda: len(function.invokes) >= 24 and all(c.finished for c in function.invokes),
               timeout_s=30, what="all 24 messages processed")
    assert function.max_concurrent == 8
