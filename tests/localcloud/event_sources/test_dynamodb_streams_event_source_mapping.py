"""Contract: the stream poller follows AWS_SEMANTICS.md "DynamoDB Streams -> Lambda", one test per rule.

Records are items with a string key `pk`; test functions fail on the key "poison". OnFailure
destinations are SQS queues read back with drain().
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest

from localcloud.event_sources.pollers import build_poller
from localcloud.event_sources.settings import EventSourceMappingSettings, MappingConfigurationError
from tests.localcloud.event_sources.moto_resources import REGION, Aws, QueueUnderTest, TableUnderTest, drain, put_items
from tests.localcloud.event_sources.recording_function import PoisonError, RecordingFunction, hold_still, wait_until

pytestmark = pytest.mark.localcloud

FUNCTION = "StreamConsumerFunction"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:{FUNCTION}"
REPORT = ("ReportBatchItemFailures",)
ISO_MILLIS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ISO_SECONDS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def stream_mapping(table: TableUnderTest, **settings: Any) -> EventSourceMappingSettings:
    settings.setdefault("starting_position", "TRIM_HORIZON")
    return EventSourceMappingSettings(function_name=FUNCTION, event_source_arn=table.stream_arn, **settings)


def keys_of(event: dict[str, Any]) -> list[str]:
    return [record["dynamodb"]["Keys"]["pk"]["S"] for record in event["Records"]]


def fail_on_poison(event: dict[str, Any]) -> Any:
    if "poison" in keys_of(event):
        raise PoisonError("cannot process the poison record")
    return None


def succeeded_keys(function: RecordingFunction) -> list[str]:
    return [key for call in function.invokes if call.finished and not call.failed for key in keys_of(call.event)]


def on_failure_records(aws: Aws, queue: QueueUnderTest, into: list[dict[str, Any]]) -> bool:
    into.extend(json.loads(message["Body"]) for message in drain(aws, queue.url))
    return bool(into)


class AdjustableClock:
    """Wall-clock time plus an offset a test moves, to age records without waiting a minute."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset_s


# ------------------------------------------------------------------------------------------------
# Starting position, batches, the event


def test_trim_horizon_delivers_records_written_before_the_mapping_started(
    aws: Aws, make_stream_table: Any, start_poller: Any,
) -> None:
    # Given three records already in the stream
    table = make_stream_table()
    put_items(aws, table, ["k1", "k2", "k3"])
    function = RecordingFunction()

    # When a TRIM_HORIZON mapping starts
    start_poller(stream_mapping(table, starting_position="TRIM_HORIZON"), function)

    # Then all three are delivered, in stream order
    wait_until(lambda: len(succeeded_keys(function)) >= 3, timeout_s=10, what="three records delivered")
    assert succeeded_keys(function) == ["k1", "k2", "k3"]


def test_latest_delivers_only_records_written_after_the_mapping_started(
    aws: Aws, make_stream_table: Any, start_poller: Any,
) -> None:
    # Given two records written before the mapping exists
    table = make_stream_table()
    put_items(aws, table, ["old-1", "old-2"])
    function = RecordingFunction()

    # When a LATEST mapping starts and a record is written afterwards
    start_poller(stream_mapping(table, starting_position="LATEST"), function)
    put_items(aws, table, ["new-1"])

    # Then only the new record is delivered
    wait_until(lambda: len(succeeded_keys(function)) >= 1, timeout_s=10, what="the new record delivered")
    hold_still(0.6)
    assert succeeded_keys(function) == ["new-1"]


def test_records_have_the_lambda_dynamodb_event_shape(aws: Aws, make_stream_table: Any, start_poller: Any) -> None:
    # Given an insert (with a binary attribute), a modify and a remove of one item
    table = make_stream_table(view_type="NEW_AND_OLD_IMAGES")
    aws.dynamodb.put_item(TableName=table.name, Item={"pk": {"S": "k1"}, "v": {"S": "1"}, "blob": {"B": b"\x00\x01"}})
    aws.dynamodb.put_item(TableName=table.name, Item={"pk": {"S": "k1"}, "v": {"S": "2"}})
    aws.dynamodb.delete_item(TableName=table.name, Key={"pk": {"S": "k1"}})
    function = RecordingFunction()

    # When they are delivered
    start_poller(stream_mapping(table), function)
    wait_until(lambda: len(succeeded_keys(function)) >= 3, timeout_s=10, what="three records delivered")

    # Then each record is what Lambda sends
    records = [record for batch in function.batches for record in batch]
    assert [record["eventName"] for record in records] == ["INSERT", "MODIFY", "REMOVE"]
    for record in records:
        assert list(record) == ["eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb",
                                "eventSourceARN"]
        assert record["eventID"]
        assert record["eventVersion"] == "1.1"
        assert record["eventSource"] == "aws:dynamodb"
        assert record["awsRegion"] == REGION
        assert record["eventSourceARN"] == table.stream_arn
        stream_data = record["dynamodb"]
        assert isinstance(stream_data["ApproximateCreationDateTime"], int)
        assert abs(stream_data["ApproximateCreationDateTime"] - time.time()) < 600
        assert stream_data["Keys"] == {"pk": {"S": "k1"}}
        assert stream_data["SequenceNumber"].isdigit()
        assert isinstance(stream_data["SizeBytes"], int)
        assert stream_data["SizeBytes"] > 0
        assert stream_data["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    insert, modify, remove = (record["dynamodb"] for record in records)
    assert insert["NewImage"] == {"pk": {"S": "k1"}, "v": {"S": "1"}, "blob": {"B": "AAE="}}
    assert "OldImage" not in insert
    assert modify["OldImage"]["v"] == {"S": "1"}
    assert modify["NewImage"] == {"pk": {"S": "k1"}, "v": {"S": "2"}}
    assert remove["OldImage"] == {"pk": {"S": "k1"}, "v": {"S": "2"}}
    assert "NewImage" not in remove
    sequence_numbers = [int(record["dynamodb"]["SequenceNumber"]) for record in records]
    assert sequence_numbers == sorted(sequence_numbers)


def test_batch_size_caps_the_records_of_each_invoke(aws: Aws, make_stream_table: Any, start_poller: Any) -> None:
    # Given seven records and BatchSize 3
    table = make_stream_table()
    keys = [f"k{i}" for i in range(7)]
    put_items(aws, table, keys)
    function = RecordingFunction()

    # When they are delivered
    start_poller(stream_mapping(table, batch_size=3), function)

    # Then in order, in invokes of at most three records
    wait_until(lambda: len(succeeded_keys(function)) >= 7, timeout_s=10, what="seven records delivered")
    assert succeeded_keys(function) == keys
    assert max(len(batch) for batch in function.batches) <= 3


def test_one_batch_at_a_time_per_shard(aws: Aws, make_stream_table: Any, start_poller: Any) -> None:
    # Given a slow function and records arriving while it runs
    table = make_stream_table()
    function = RecordingFunction(lambda _event: time.sleep(0.1))
    start_poller(stream_mapping(table, batch_size=2), function)

    # When ten records are written one by one
    keys = [f"k{i}" for i in range(10)]
    put_items(aws, table, keys)

    # Then invokes never overlap and the records keep their order
    wait_until(lambda: len(succeeded_keys(function)) >= 10, timeout_s=15, what="ten records delivered")
    assert function.max_concurrent == 1
    assert succeeded_keys(function) == keys


def test_filter_criteria_skip_unmatched_records_as_processed(
    aws: Aws, make_stream_table: Any, start_poller: Any,
) -> None:
    # Given a filter for INSERTs whose new image has status "new"
    table = make_stream_table()
    pattern = json.dumps({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"status": {"S": ["new"]}}}})
    put_items(aws, table, ["k1"], status="new")   # INSERT, matches
    put_items(aws, table, ["k1"], status="old")   # MODIFY
    put_items(aws, table, ["k2"], status="old")   # INSERT of another status
    put_items(aws, table, ["k3"], status="new")   # INSERT, matches
    aws.dynamodb.delete_item(TableName=table.name, Key={"pk": {"S": "k3"}})  # REMOVE
    function = RecordingFunction()

    # When the mapping runs, and one more matching record comes later
    poller = start_poller(stream_mapping(table, filter_patterns=(pattern,)), function)
    wait_until(lambda: len(succeeded_keys(function)) >= 2, timeout_s=10, what="two matching records delivered")
    put_items(aws, table, ["k4"], status="new")

    # Then only matching records reach the function, and the shard moves past the others
    wait_until(lambda: len(succeeded_keys(function)) >= 3, timeout_s=10, what="the later record delivered")
    assert succeeded_keys(function) == ["k1", "k3", "k4"]
    assert poller.stats.snapshot()["records_filtered_out"] == 3


# ------------------------------------------------------------------------------------------------
# Failures and retries


def test_partial_batch_response_checkpoints_at_the_lowest_reported_sequence_number(
    aws: Aws, make_stream_table: Any, start_poller: Any,
) -> None:
    # Given five records in one batch, and a function that first reports k4 and k2 as failed
    table = make_stream_table()
    put_items(aws, table, ["k1", "k2", "k3", "k4", "k5"])
    answered = threading.Event()

    def report_k4_and_k2_once(event: dict[str, Any]) -> Any:
        if answered.is_set():
            return {"batchItemFailures": []}
        answered.set()
        sequence = {r["dynamodb"]["Keys"]["pk"]["S"]: r["dynamodb"]["SequenceNumber"] for r in event["Records"]}
        return {"batchItemFailures": [{"itemIdentifier": sequence["k4"]}, {"itemIdentifier": sequence["k2"]}]}

    function = RecordingFunction(report_k4_and_k2_once)

    # When the mapping runs
    start_poller(stream_mapping(table, batch_size=5, function_response_types=REPORT), function)

    # Then the retry starts at k2 (the lowest reported) and includes k3 and k5, which had succeeded
    wait_until(lambda: len(function.invokes) >= 2, timeout_s=10, what="the retry invoke")
    hold_still(0.6)
    assert [keys_of(event) for event in function.events] == [["k1", "k2", "k3", "k4", "k5"],
                                                             ["k2", "k3", "k4", "k5"]]


@pytest.mark.parametrize(
    "failures",
    [[{"itemIdentifier": "123"}], [{"itemIdentifier": ""}], [{"itemIdentifier": None}], [{"sequenceNumber": "1"}]],
    ids=["not-a-sequence-number-of-the-batch", "empty", "null", "misspelt-key"],
)
def test_an_invalid_sequence_number_identifier_fails_the_whole_batch(
    aws: Aws, make_stream_table: Any, start_poller: Any, failures: list[dict[str, Any]],
) -> None:
    # Given three records and a function whose first answer names no valid sequence number
    table = make_stream_table()
    put_items(aws, table, ["k1", "k2", "k3"])
    answered = threading.Event()

    def invalid_once(_event: dict[str, Any]) -> Any:
        if answered.is_set():
            return None
        answered.set()
        return {"batchItemFailures": failures}

    function = RecordingFunction(invalid_once)

    # When the mapping runs
    poller = start_poller(stream_mapping(table, function_response_types=REPORT), function)

    # Then the whole batch is retried
    wait_until(lambda: len(function.invokes) >= 2, timeout_s=10, what="the retry invoke")
    hold_still(0.6)
    assert [keys_of(event) for event in function.events] == [["k1", "k2", "k3"], ["k1", "k2", "k3"]]
    assert poller.stats.snapshot()["batches_failed"] == 1


def test_a_function_error_retries_the_whole_batch(aws: Aws, make_stream_table: Any, start_poller: Any) -> None:
    # Given three records and a function that raises on its first invoke
    table = make_stream_table()
    put_items(aws, table, ["k1", "k2", "k3"])
    raised = threading.Event()

    def raise_once(_event: dict[str, Any]) -> Any:
        if not raised.is_set():
            raised.set()
            raise RuntimeError("boom")

    function = RecordingFunction(raise_once)

    # When the mapping runs
    poller = start_poller(stream_mapping(table), function)

    # Then the same batch comes again and then succeeds
    wait_until(lambda: len(succeeded_keys(function)) >= 3, timeout_s=10, what="the batch succeeded on retry")
    assert [keys_of(event) for event in function.events] == [["k1", "k2", "k3"], ["k1", "k2", "k3"]]
    assert poller.stats.snapshot()["retries"] == 1


def test_bisect_on_function_error_isolates_a_poison_record(
    aws: Aws, make_stream_table: Any, make_queue: Any, start_poller: Any,
) -> None:
    # Given eight records, the sixth of them poison, with bisect on and one retry allowed
    table = make_stream_table()
    keys = ["k0", "k1", "k2", "k3", "k4", "poison", "k6", "k7"]
    put_items(aws, table, keys)
    destination = make_queue()
    function = RecordingFunction(fail_on_poison)

    # When the mapping runs
    poller = start_poller(stream_mapping(table, batch_size=8, bisect_batch_on_function_error=True,
                                         maximum_retry_attempts=1, on_failure_destination=destination.arn),
                          function)

    # Then halving narrowed the failure down to the poison record alone: it alone goes to OnFailure,
    # and every other record was processed successfully exactly once, in order
    sent: list[dict[str, Any]] = []
    wait_until(lambda: on_failure_records(aws, destination, sent), timeout_s=15, what="an OnFailure record")
    wait_until(lambda: len(succeeded_keys(function)) >= 7, timeout_s=10, what="the good records processed")
    poison_sequence = next(r["dynamodb"]["SequenceNumber"] for batch in function.batches for r in batch
                           if r["dynamodb"]["Keys"]["pk"]["S"] == "poison")
    (record,) = sent
    batch_info = record["DDBStreamBatchInfo"]
    assert (batch_info["batchSize"], batch_info["startSequenceNumber"], batch_info["endSequenceNumber"]) == (
        1, poison_sequence, poison_sequence)
    assert succeeded_keys(function) == [key for key in keys if key != "poison"]
    stats = poller.stats.snapshot()
    assert stats["bisections"] >= 3  # 8 -> 4 -> 2 -> 1
    assert stats["records_sent_to_on_failure"] == 1


def test_maximum_retry_attempts_bounds_the_invokes_of_a_failing_batch(
    aws: Aws, make_stream_table: Any, make_queue: Any, start_poller: Any,
) -> None:
    # Given a poison record and MaximumRetryAttempts 2
    table = make_stream_table()
    put_items(aws, table, ["poison"])
    destination = make_queue()
    function = RecordingFunction(fail_on_poison)

    # When the mapping runs
    start_poller(stream_mapping(table, maximum_retry_attempts=2, on_failure_destination=destination.arn), function)

    # Then it is invoked 1 + 2 times, then given up with condition RetryAttemptsExhausted
    sent: list[dict[str, Any]] = []
    wait_until(lambda: on_failure_records(aws, destination, sent), timeout_s=15, what="an OnFailure record")
    hold_still(0.6)
    assert [keys_of(event) for event in function.events] == [["poison"]] * 3
    (record,) = sent
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3


def test_records_after_a_poison_record_are_not_blocked_beyond_the_retry_bound(
    aws: Aws, make_stream_table: Any, make_queue: Any, start_poller: Any,
) -> None:
    # Given a poison record followed by good ones, one record per batch and one retry
    table = make_stream_table()
    put_items(aws, table, ["poison", "g1", "g2"])
    destination = make_queue()
    function = RecordingFunction(fail_on_poison)

    # When the mapping runs, and another record arrives later
    start_poller(stream_mapping(table, batch_size=1, maximum_retry_attempts=1,
                                on_failure_destination=destination.arn), function)
    wait_until(lambda: len(succeeded_keys(function)) >= 2, timeout_s=10, what="the records after the poison one")
    put_items(aws, table, ["g3"])

    # Then the shard moved on after two attempts at the poison record, in order, and keeps up
    wait_until(lambda: len(succeeded_keys(function)) >= 3, timeout_s=10, what="the later record delivered")
    assert [keys_of(event) for event in function.events] == [["poison"], ["poison"], ["g1"], ["g2"], ["g3"]]


def test_maximum_record_age_ends_the_retries_of_records_that_grew_too_old(
    aws: Aws, make_stream_table: Any, make_queue: Any, start_poller: Any,
) -> None:
    # Given a poison record, infinite retries (-1) and MaximumRecordAgeInSeconds 60
    table = make_stream_table()
    put_items(aws, table, ["poison"])
    destination = make_queue()
    function = RecordingFunction(fail_on_poison)
    clock = AdjustableClock()
    start_poller(stream_mapping(table, maximum_retry_attempts=-1, maximum_record_age_seconds=60,
                                on_failure_destination=destination.arn), function, clock=clock)
    wait_until(lambda: len(function.invokes) >= 2, timeout_s=10, what="the poison record retried")

    # When the record becomes older than 60 s
    clock.offset_s = 120

    # Then it is given up with condition RecordAgeExceeded, and the shard moves on
    sent: list[dict[str, Any]] = []
    wait_until(lambda: on_failure_records(aws, destination, sent), timeout_s=10, what="an OnFailure record")
    (record,) = sent
    assert record["requestContext"]["condition"] == "RecordAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] >= 2
    assert record["responseContext"]["functionError"] == "Unhandled"
    clock.offset_s = 0
    put_items(aws, table, ["fresh"])
    wait_until(lambda: succeeded_keys(function) == ["fresh"], timeout_s=10, what="the next record delivered")


def test_records_older_than_the_maximum_age_are_given_up_without_an_invoke(
    aws: Aws, make_stream_table: Any, make_queue: Any, start_poller: Any,
) -> None:
    # Given a record that is already 2 minutes old when read, and MaximumRecordAgeInSeconds 60
    table = make_stream_table()
    put_items(aws, table, ["stale"])
    destination = make_queue()
    clock = AdjustableClock()
    clock.offset_s = 120
    function = RecordingFunction()

    # When the mapping runs
    start_poller(stream_mapping(table, maximum_record_age_seconds=60, on_failure_destination=destination.arn),
                 function, clock=clock)

    # Then the function never sees it and OnFailure says no invoke happened
    sent: list[dict[str, Any]] = []
    wait_until(lambda: on_failure_records(aws, destination, sent), timeout_s=10, what="an OnFailure record")
    (record,) = sent
    assert function.invokes == []
    assert record["requestContext"]["condition"] == "RecordAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["responseContext"] == {"statusCode": None, "executedVersion": None, "functionError": None}


# ------------------------------------------------------------------------------------------------
# The OnFailure invocation record


@pytest.mark.parametrize("failure", ["raised", "reported"])
def test_on_failure_record_has_the_exact_lambda_shape(
    aws: Aws, make_stream_table: Any, make_queue: Any, start_poller: Any, failure: str,
) -> None:
    # Given two records where the second is poison, a function that raises for it (or reports it),
    # and no retries
    table = make_stream_table()
    put_items(aws, table, ["good", "poison"])
    destination = make_queue()

    def report_poison(event: dict[str, Any]) -> Any:
        return {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in event["Records"]
                                      if r["dynamodb"]["Keys"]["pk"]["S"] == "poison"]}

    function = RecordingFunction(fail_on_poison if failure == "raised" else report_poison)
    shard_id = aws.clients.dynamodbstreams.describe_stream(
        StreamArn=table.stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]

    # When the mapping gives up on the batch
    start_poller(stream_mapping(table, maximum_retry_attempts=0, on_failure_destination=destination.arn,
                                function_response_types=REPORT), function)
    sent: list[dict[str, Any]] = []
    wait_until(lambda: on_failure_records(aws, destination, sent), timeout_s=10, what="an OnFailure record")

    # Then the destination gets Lambda's invocation record: metadata about the batch, not the records
    (record,) = sent
    sequence = {r["dynamodb"]["Keys"]["pk"]["S"]: r["dynamodb"]["SequenceNumber"] for r in function.batches[0]}
    first_key = "good" if failure == "raised" else "poison"  # a partial response checkpoints at the poison
    assert list(record) == ["requestContext", "responseContext", "version", "timestamp", "DDBStreamBatchInfo"]
    assert list(record["requestContext"]) == ["requestId", "functionArn", "condition", "approximateInvokeCount"]
    assert str(uuid.UUID(record["requestContext"]["requestId"])) == record["requestContext"]["requestId"]
    assert record["requestContext"]["functionArn"] == FUNCTION_ARN
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled" if failure == "raised" else None,
    }
    assert record["version"] == "1.0"
    assert ISO_MILLIS_Z.match(record["timestamp"]), record["timestamp"]
    batch_info = record["DDBStreamBatchInfo"]
    assert list(batch_info) == ["shardId", "startSequenceNumber", "endSequenceNumber",
                                "approximateArrivalOfFirstRecord", "approximateArrivalOfLastRecord", "batchSize",
                                "streamArn"]
    assert batch_info["shardId"] == shard_id
    assert batch_info["startSequenceNumber"] == sequence[first_key]
    assert batch_info["endSequenceNumber"] == sequence["poison"]
    assert ISO_SECONDS_Z.match(batch_info["approximateArrivalOfFirstRecord"])
    assert ISO_SECONDS_Z.match(batch_info["approximateArrivalOfLastRecord"])
    assert batch_info["batchSize"] == (2 if failure == "raised" else 1)
    assert batch_info["streamArn"] == table.stream_arn


# ------------------------------------------------------------------------------------------------
# Settings Lambda refuses


def test_a_stream_mapping_needs_a_starting_position(make_stream_table: Any) -> None:
    table = make_stream_table()
    with pytest.raises(ValueError, match="StartingPosition"):
        EventSourceMappingSettings(function_name=FUNCTION, event_source_arn=table.stream_arn)


def test_maximum_record_age_below_sixty_seconds_is_refused(make_stream_table: Any) -> None:
    table = make_stream_table()
    with pytest.raises(ValueError, match="MaximumRecordAgeInSeconds must be -1 or 60"):
        stream_mapping(table, maximum_record_age_seconds=30)


def test_tumbling_windows_and_non_sqs_destinations_are_refused_locally(aws: Aws, make_stream_table: Any) -> None:
    # Given settings the local cloud cannot honour / When the mapping is read or its poller built / Then it says so
    table = make_stream_table()
    with pytest.raises(ValueError, match=r"TumblingWindowInSeconds: tumbling windows .* are not emulated"):
        stream_mapping(table, tumbling_window_seconds=60)
    sns_topic = f"arn:aws:sns:{REGION}:123456789012:failures"
    with pytest.raises(MappingConfigurationError, match="SQS queues only"):
        build_poller(stream_mapping(table, on_failure_destination=sns_topic), aws.clients, RecordingFunction())


def test_successful_records_are_not_delivered_again(aws: Aws, make_stream_table: Any, start_poller: Any) -> None:
    # Given records that all succeed
    table = make_stream_table()
    put_items(aws, table, ["k1", "k2"])
    function = RecordingFunction()

    # When the mapping has delivered them and keeps polling
    start_poller(stream_mapping(table), function)
    wait_until(lambda: len(succeeded_keys(function)) >= 2, timeout_s=10, what="two records delivered")
    hold_still(0.8)

    # Then the checkpoint moved past them: each was delivered once
    assert Counter(succeeded_keys(function)) == {"k1": 1, "k2": 1}


# ------------------------------------------------------------------------------------------------
# Retries re-read from the checkpoint; ParallelizationFactor (lambda/latest/dg/with-ddb.html,
# services-ddb-params.html)


def test_a_retry_re_reads_from_the_checkpoint_so_records_that_arrived_since_join_the_batch(
    aws: Aws, make_stream_table: Any, start_poller: Any,
) -> None:
    # Given one record, and a function whose first invoke fails only after two more records were written
    table = make_stream_table()
    put_items(aws, table, ["a"])
    first_started, more_written = threading.Event(), threading.Event()

    def fail_first(_event: dict[str, Any]) -> Any:
        if not first_started.is_set():
            first_started.set()
            more_written.wait(5)
            time.sleep(0.6)  # the reader reads the new records meanwhile
            raise PoisonError("first attempt fails")
        return None

    function = RecordingFunction(fail_first)
    start_poller(stream_mapping(table, batch_size=10), function)
    assert first_started.wait(10)

    # When records arrive while the failing invoke runs
    put_items(aws, table, ["b", "c"])
    more_written.set()

    # Then the retry reads from the checkpoint: the failed record and the new ones, in one batch
    wait_until(lambda: len(succeeded_keys(function)) >= 3, timeout_s=10, what="the retry succeeded")
    assert [keys_of(event) for event in function.events] == [["a"], ["a", "b", "c"]]


def test_parallelization_factor_runs_up_to_that_many_batches_of_a_shard_at_once(
    aws: Aws, make_stream_table: Any, start_poller: Any,
) -> None:
    # Given 16 items with distinct keys, one record per batch, and ParallelizationFactor 4
    table = make_stream_table()
    keys = [f"k{i}" for i in range(16)]
    put_items(aws, table, keys)
    function = RecordingFunction(lambda _event: time.sleep(0.3))

    # When the mapping runs
    start_poller(stream_mapping(table, batch_size=1, parallelization_factor=4), function)

    # Then the shard's batches ran concurrently, never more than four at once, each record once
    wait_until(lambda: len(succeeded_keys(function)) >= 16, timeout_s=20, what="sixteen records delivered")
    assert 2 <= function.max_concurrent <= 4
    assert sorted(succeeded_keys(function)) == sorted(keys)


def test_parallelization_keeps_the_order_of_each_partition_key(aws: Aws, start_poller: Any) -> None:
    # Given a table keyed by pk + sk, and changes to three partition keys interleaved, several per key
    name = f"ordered-{uuid.uuid4().hex[:10]}"
    stream_arn = aws.dynamodb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]["LatestStreamArn"]
    written = []
    for version in range(6):
        for pk in ("p1", "p2", "p3"):
            aws.dynamodb.put_item(TableName=name, Item={"pk": {"S": pk}, "sk": {"S": f"s{version % 2}"},
                                                        "v": {"N": str(version)}})
            written.append((pk, version))
    seen: list[tuple[str, int]] = []
    lock = threading.Lock()

    def record_order(event: dict[str, Any]) -> Any:
        time.sleep(0.05)
        with lock:
            seen.extend((r["dynamodb"]["Keys"]["pk"]["S"], int(r["dynamodb"]["NewImage"]["v"]["N"]))
                        for r in event["Records"])

    function = RecordingFunction(record_order)

    # When a mapping with ParallelizationFactor 5 runs
    settings = EventSourceMappingSettings(function_name=FUNCTION, event_source_arn=stream_arn,
                                          starting_position="TRIM_HORIZON", batch_size=2, parallelization_factor=5)
    start_poller(settings, function)

    # Then every change arrives once, and each partition key's changes (across its sort keys) in order
    wait_until(lambda: len(seen) >= 18, timeout_s=20, what="eighteen changes delivered")
    assert sorted(seen) == sorted(written)
    for pk in ("p1", "p2", "p3"):
        assert [version for key, version in seen if key == pk] == list(range(6))
