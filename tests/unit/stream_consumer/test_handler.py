"""StreamConsumerFunction's handler on every sample event: exact partial batch responses."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lambda_toolkit.errors import ConfigurationError
from tests.support.events import event_files, load_event
from tests.support.handlers import load_handler_module
from tests.support.lambda_context import FakeLambdaContext
from tests.unit.stream_consumer.conftest import AggregatesWorld, sequence_of

# What each sample event makes the handler report, when it is the first batch the consumer sees.
EXPECTED_FAILURES = {
    "insert.json": [],
    "modify.json": [],
    "remove.json": [],
    # stops at the record without NewImage and reports it and the record after it
    "batch_with_poison_record.json": ["4421584500000000017450439102", "4421584500000000017450439103"],
    "unknown_currency.json": ["4421584500000000017450439110"],
    # The filter keeps such records away; if one came anyway it would fail for the OnFailure queue.
    "filtered_out_non_order_key.json": ["4421584500000000017450439120"],
}


def failures(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def test_every_event_file_has_an_expected_response() -> None:
    assert sorted(path.name for path in event_files("stream_consumer")) == sorted(EXPECTED_FAILURES)


@pytest.mark.parametrize("path", event_files("stream_consumer"), ids=lambda path: path.name)
def test_the_handler_reports_exactly_the_first_failure_and_every_record_after_it(
    stream_app: ModuleType, path: Path
) -> None:
    # Given a sample event
    event = load_event("stream_consumer", path.name)

    # When the function handles it
    response = stream_app.lambda_handler(event, FakeLambdaContext())

    # Then the failures are exactly the expected sequence numbers: a suffix of the batch, so that
    # Lambda's checkpoint (the lowest one reported) loses nothing and redoes nothing needlessly
    reported = failures(response)
    assert reported == EXPECTED_FAILURES[path.name]
    batch = [sequence_of(record) for record in event["Records"]]
    assert reported == batch[len(batch) - len(reported):]


def test_the_records_before_a_poison_record_are_applied(stream_app: ModuleType, aggregates: AggregatesWorld) -> None:
    # Given a batch with a poison record third of four
    event = load_event("stream_consumer", "batch_with_poison_record.json")

    # When the function handles it
    stream_app.lambda_handler(event, FakeLambdaContext())

    # Then the two records before it count, and neither the poison record nor the one after it
    aggregate = aggregates.aggregate("cust-stream-2")
    assert aggregate is not None
    assert (aggregate.order_count, dict(aggregate.spent)) == (2, {"GBP": Decimal("25.50")})
    assert aggregates.aggregate("cust-stream-3") is None
    assert aggregates.marker("cust-stream-2", "ord-4004") is None


def test_the_handler_logs_a_poison_record_with_its_sequence_number_and_keys(
    stream_app: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an INSERT whose currency is unknown
    event = load_event("stream_consumer", "unknown_currency.json")

    # When the function handles it
    with caplog.at_level(logging.ERROR):
        stream_app.lambda_handler(event, FakeLambdaContext())

    # Then one structured error names the record and the reason
    (poison,) = [record for record in caplog.records if hasattr(record, "failure")]
    assert poison.levelno == logging.ERROR
    assert poison.sequence_number == "4421584500000000017450439110"
    assert (poison.customer_id, poison.order_id) == ("cust-stream-4", "ord-5001")
    assert poison.keys == event["Records"][0]["dynamodb"]["Keys"]
    assert poison.failure["reason"] == "unknown_currency"


def test_the_handler_emits_emf_counts_of_applied_stale_and_failed_records(
    stream_app: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a batch handled once, so that its good records are stale the second time
    event = load_event("stream_consumer", "batch_with_poison_record.json")
    stream_app.lambda_handler(event, FakeLambdaContext())
    capsys.readouterr()

    # When it is handled again
    stream_app.lambda_handler(event, FakeLambdaContext())

    # Then the metrics say: 0 applied, 2 stale, 1 failed (poison), 1 unreached
    (emf,) = [
        json.loads(line) for line in capsys.readouterr().out.splitlines()
        if line.startswith("{") and "_aws" in json.loads(line)
    ]
    assert {name: emf[name] for name in ("RecordsApplied", "StaleRecordsSkipped", "RecordsFailed",
                                         "PoisonRecords", "RecordsUnreached")} == {
        "RecordsApplied": [0.0], "StaleRecordsSkipped": [2.0], "RecordsFailed": [1.0],
        "PoisonRecords": [1.0], "RecordsUnreached": [1.0],
    }


def test_the_handler_stops_before_its_deadline_and_reports_every_unreached_record(
    stream_app: ModuleType, aggregates: AggregatesWorld
) -> None:
    # Given a context with less time left than the safety margin
    event = load_event("stream_consumer", "insert.json")

    # When the function handles a batch
    response = stream_app.lambda_handler(event, FakeLambdaContext(timeout_s=0.5))

    # Then every record is reported and nothing was applied
    assert failures(response) == [sequence_of(record) for record in event["Records"]]
    assert aggregates.aggregate("cust-stream-1") is None


def test_a_missing_setting_fails_the_cold_start_with_a_clear_message(
    stream_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the function's environment lacks its table name
    monkeypatch.delenv("AGGREGATES_TABLE_NAME")

    # When the handler module is imported (the cold start)
    with pytest.raises(ConfigurationError) as raised:
        load_handler_module("stream_consumer")

    # Then the error names the variable
    assert "AGGREGATES_TABLE_NAME" in str(raised.value)


def test_a_tombstone_ttl_shorter_than_the_stream_retention_is_refused(
    stream_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a tombstone TTL of one day (stream records live 24 hours, replays come later still)
    monkeypatch.setenv("TOMBSTONE_TTL_SECONDS", "86400")

    # When the handler module is imported, Then the cold start fails naming the variable
    with pytest.raises(ConfigurationError, match="TOMBSTONE_TTL_SECONDS"):
        load_handler_module("stream_consumer")


def test_an_injected_crash_mid_batch_leaves_the_retried_batch_applied_exactly_once(
    stream_app: ModuleType, aggregates: AggregatesWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a batch of two customers' orders (insert.json's customer, then another's) and a dev function
    # that commits the first customer's group and then crashes before the second's (fault injection's
    # crash, raised here so that the test process survives it)
    event = {"Records": [*load_event("stream_consumer", "insert.json")["Records"],
                         load_event("stream_consumer", "batch_with_poison_record.json")["Records"][0]]}
    customer = event["Records"][0]["dynamodb"]["Keys"]["customer_id"]["S"]
    other = event["Records"][-1]["dynamodb"]["Keys"]["customer_id"]["S"]
    assert customer != other
    monkeypatch.setenv("FAULT_INJECTION_ENABLED", "true")
    monkeypatch.setenv("FAULT_CRASH_RATE", "0.5")
    faulty = load_handler_module("stream_consumer")
    draws = iter([0.7, 0.7, 0.2])  # above the crash rate on the first group's records, below on the second's

    class Crashed(BaseException):  # like os._exit, nothing in the handler may catch it
        pass

    def crash(code: int) -> None:
        raise Crashed(code)

    monkeypatch.setattr(faulty.consumer._faults, "_draw", lambda: next(draws))
    monkeypatch.setattr(faulty.consumer._faults, "_crash", crash)
    with pytest.raises(Crashed):
        faulty.lambda_handler(event, FakeLambdaContext())
    half_applied = aggregates.aggregate(customer)
    assert half_applied is not None and half_applied.order_count == 2
    assert aggregates.aggregate(other) is None

    # When Lambda retries the whole batch on a healthy sandbox
    monkeypatch.delenv("FAULT_INJECTION_ENABLED")
    healthy = load_handler_module("stream_consumer")
    response = healthy.lambda_handler(event, FakeLambdaContext())

    # Then it succeeds, and the aggregate equals that of one clean pass over the batch on an empty table
    assert failures(response) == []
    after_crash_and_retry = aggregates.aggregate(customer)
    for item in aggregates.table.scan()["Items"]:
        aggregates.table.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
    assert failures(healthy.lambda_handler(event, FakeLambdaContext())) == []
    assert after_crash_and_retry == aggregates.aggregate(customer)
    assert after_crash_and_retry is not None and after_crash_and_retry.order_count == 2


def test_injected_transient_faults_fail_the_record_and_report_the_rest_of_the_batch(
    stream_app: ModuleType, aggregates: AggregatesWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a dev function whose every record fails transiently
    monkeypatch.setenv("FAULT_INJECTION_ENABLED", "true")
    monkeypatch.setenv("FAULT_TRANSIENT_RATE", "1.0")
    faulty = load_handler_module("stream_consumer")
    event = load_event("stream_consumer", "insert.json")

    # When it handles a batch
    response = faulty.lambda_handler(event, FakeLambdaContext())

    # Then the first record fails and every later one is reported with it (streams keep order), and
    # nothing was applied
    assert failures(response) == [sequence_of(record) for record in event["Records"]]
    assert aggregates.aggregate("cust-stream-1") is None
