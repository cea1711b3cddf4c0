"""Contract: start_pollers runs every enabled mapping, exposes counters, and stops cleanly."""

from __future__ import annotations

from typing import Any

import pytest

from localcloud.event_sources.pollers import start_pollers
from localcloud.event_sources.settings import EventSourceMappingSettings, MappingConfigurationError
from tests.localcloud.event_sources.moto_resources import Aws, put_items, send_messages
from tests.localcloud.event_sources.recording_function import RecordingFunction, hold_still, wait_until

pytestmark = pytest.mark.localcloud


def test_start_pollers_runs_enabled_mappings_and_counts_what_they_do(
    aws: Aws, make_queue: Any, make_stream_table: Any,
) -> None:
    # Given an SQS mapping, a stream mapping, and a disabled mapping of another queue
    queue = make_queue(visibility_timeout=10)
    idle_queue = make_queue(visibility_timeout=10)
    table = make_stream_table()
    mappings = [
        EventSourceMappingSettings(function_name="SqsWorkerFunction", event_source_arn=queue.arn,
                                   mapping_logical_id="SqsWorkerFunctionWorkQueueEvent"),
        EventSourceMappingSettings(function_name="StreamConsumerFunction", event_source_arn=table.stream_arn,
                                   starting_position="LATEST", mapping_logical_id="StreamConsumerFunctionStream"),
        EventSourceMappingSettings(function_name="SqsWorkerFunction", event_source_arn=idle_queue.arn,
                                   enabled=False, mapping_logical_id="DisabledMapping"),
    ]
    function = RecordingFunction()

    # When the pollers start and work arrives on every source
    pollers = start_pollers(mappings, aws.clients, function)
    try:
        send_messages(aws, queue, ["m1", "m2"])
        send_messages(aws, idle_queue, ["ignored"])
        put_items(aws, table, ["k1"])
        wait_until(lambda: sum(len(batch) for batch in function.batches) >= 3, timeout_s=10,
                   what="two messages and one stream record delivered")
        hold_still(0.5)
    finally:
        pollers.stop()

    # Then the disabled mapping polled nothing, each function got its own source, and the counters say so
    assert {call.function_name for call in function.invokes} == {"SqsWorkerFunction", "StreamConsumerFunction"}
    assert "ignored" not in [r.get("body") for batch in function.batches for r in batch]
    stats = pollers.stats()
    assert set(stats) == {"SqsWorkerFunctionWorkQueueEvent", "StreamConsumerFunctionStream"}
    assert stats["SqsWorkerFunctionWorkQueueEvent"]["records_delivered"] == 2
    assert stats["SqsWorkerFunctionWorkQueueEvent"]["records_completed"] == 2
    assert stats["StreamConsumerFunctionStream"]["records_delivered"] == 1
    assert pollers.errors() == {}


def test_a_refused_mapping_stops_the_pollers_already_started(aws: Aws, make_queue: Any) -> None:
    # Given a valid mapping and one whose function outlives its queue's visibility timeout
    good_queue = make_queue(visibility_timeout=10)
    short_queue = make_queue(visibility_timeout=5)
    mappings = [
        EventSourceMappingSettings(function_name="F", event_source_arn=good_queue.arn),
        EventSourceMappingSettings(function_name="F", event_source_arn=short_queue.arn, function_timeout_seconds=30),
    ]
    function = RecordingFunction()

    # When the pollers start / Then the error surfaces and the first poller was stopped again
    with pytest.raises(MappingConfigurationError, match="visibility timeout"):
        start_pollers(mappings, aws.clients, function)
    send_messages(aws, good_queue, ["after"])
    hold_still(0.6)
    assert function.invokes == []
