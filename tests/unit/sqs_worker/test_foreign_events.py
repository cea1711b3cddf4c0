"""An event that is not a WorkQueue batch fails the invocation with InvalidSqsEventError, touching nothing.

The events are the bad_*.json files of events/sqs_worker/: a direct invoke with an order instead of a
batch, an array of records, a batch with one record missing its messageId or eventSourceARN next to a
valid one, and a DynamoDB stream batch.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqs_worker_event import InvalidSqsEventError, read_sqs_records

from tests.support.events import event_files, load_event
from tests.support.lambda_context import FakeLambdaContext
from tests.unit.sqs_worker.conftest import SqsWorkerWorld

# What each file must be refused for, and the words the message must hold to say where.
EXPECTED = {
    "bad_no_records.json": ("no_records", ["no Records list", "customer_id"]),
    "bad_not_an_object.json": ("not_an_object", ["an array"]),
    "bad_record_without_message_id.json": ("malformed_record", ["record 1 messageId"]),
    "bad_record_without_event_source_arn.json": ("malformed_record", ["record 1 eventSourceARN"]),
    "bad_dynamodb_stream_event.json": ("not_an_sqs_record", ["record 0", "'aws:dynamodb'", "2 of 2 records"]),
}


def test_every_bad_event_file_has_an_expectation() -> None:
    assert sorted(path.name for path in event_files("sqs_worker") if path.name.startswith("bad_")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_foreign_event_fails_the_invocation_with_its_reason_and_nothing_is_done(
    name: str, sqs_worker: SqsWorkerWorld
) -> None:
    # Given an event that is not a batch from WorkQueue's event source mapping
    event = load_event("sqs_worker", name)
    reason, words = EXPECTED[name]

    # When the handler gets it
    with pytest.raises(InvalidSqsEventError) as raised:
        sqs_worker.app.lambda_handler(event, FakeLambdaContext())

    # Then the invocation fails with the structured error (its class name is Lambda's errorType) ...
    assert raised.value.reason == reason
    assert str(raised.value).startswith(f"{reason}: ")
    for word in words:
        assert word in raised.value.message, raised.value.message
    # ... and not even the valid records next to a bad one were written or dead-lettered: the source
    # keeps the whole batch
    assert sqs_worker.stored_orders() == []
    assert sqs_worker.dead_letters() == []


def test_the_details_name_every_bad_record_and_field() -> None:
    # Given a batch whose second record lacks its messageId
    event = load_event("sqs_worker", "bad_record_without_message_id.json")

    # When it is read
    with pytest.raises(InvalidSqsEventError) as raised:
        read_sqs_records(event)

    # Then the details say which record and which field, for the log line
    assert raised.value.to_dict()["details"] == [{"record": 1, "field": "messageId", "problem": "Field required"}]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"messageId": ""}, "messageId"),
        ({"messageId": 17}, "messageId"),
        ({"eventSourceARN": None}, "eventSourceARN"),
        ({"eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/Items"}, "eventSourceARN"),
    ],
    ids=["empty_message_id", "numeric_message_id", "null_arn", "not_a_queue_arn"],
)
def test_an_unusable_message_id_or_queue_arn_is_malformed(change: dict[str, Any], field: str) -> None:
    # Given a valid batch with one record's envelope spoiled
    event = load_event("sqs_worker", "valid_batch.json")
    event["Records"][2].update(change)

    # When it is read, then that record and field are named
    with pytest.raises(InvalidSqsEventError) as raised:
        read_sqs_records(event)
    assert raised.value.reason == "malformed_record"
    assert [(d["record"], d["field"]) for d in raised.value.details] == [(2, field)]


def test_a_real_batch_and_an_empty_one_are_read_as_they_are() -> None:
    # Given the batch Lambda sends, and an empty Records list
    event = load_event("sqs_worker", "mixed_batch.json")

    # Then every record comes back in order, and an empty batch is no error
    assert [record.message_id for record in read_sqs_records(event)] == [r["messageId"] for r in event["Records"]]
    assert read_sqs_records({"Records": []}) == []
