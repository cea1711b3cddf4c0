"""tools/stream_replay.py against moto: OnFailure messages -> records re-read from the stream -> consumer."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError
from customer_aggregates import CustomerAggregate, parse_timestamp

from tests.unit.stream_consumer.conftest import StreamAccount
from tools.reconcile_aggregates import reconcile
from tools.stream_replay import as_lambda_record, consumer_for, main, replay_failure_queue

WRITTEN_AT = "2025-11-23T09:41:07.512345+00:00"


def order(customer: str, order_id: str, total: str, currency: str = "EUR", at: str = WRITTEN_AT) -> dict[str, Any]:
    return {"customer_id": customer, "order_id": order_id, "currency": currency, "total": Decimal(total),
            "written_at": at, "lines": [{"sku": "SKU-A", "quantity": 1, "unit_price": Decimal(total)}]}


def on_failure_message(account: StreamAccount, first: int, last: int, condition: str = "RetryAttemptsExhausted") -> str:
    """The invocation record Lambda sends to the OnFailure destination for stream records first..last."""
    records = account.stream_records()
    start, end = records[first]["dynamodb"], records[last]["dynamodb"]
    return json.dumps({
        "requestContext": {
            "requestId": "6b1c4b3a-1b6e-4c55-9d0e-5a1d2c3b4a59",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:StreamConsumerFunction",
            "condition": condition,
            "approximateInvokeCount": 4,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "2025-11-23T10:00:00.000Z",
        "DDBStreamBatchInfo": {
            "shardId": account.shard_id(),
            "startSequenceNumber": start["SequenceNumber"],
            "endSequenceNumber": end["SequenceNumber"],
            "approximateArrivalOfFirstRecord": "2025-11-23T09:59:58Z",
            "approximateArrivalOfLastRecord": "2025-11-23T09:59:59Z",
            "batchSize": last - first + 1,
            "streamArn": account.stream_arn,
        },
    })


def send(account: StreamAccount, body: str) -> None:
    account.world.account.sqs.send_message(QueueUrl=account.failure_queue_url, MessageBody=body)


def queued(account: StreamAccount) -> list[dict[str, Any]]:
    return account.world.account.drain(account.failure_queue_url)


def replay(account: StreamAccount, streams: Any = None, **options: Any) -> Any:
    return replay_failure_queue(
        sqs=account.world.account.sqs,
        streams=streams or account.streams,
        queue_url=account.failure_queue_url,
        processor=consumer_for(account.world.table),
        **options,
    )


def test_a_failed_range_is_read_back_applied_and_its_message_deleted(stream_account: StreamAccount) -> None:
    # Given four changes in the stream, of which records 1..3 failed for good and went to the queue
    items = stream_account.items
    items.put_item(Item=order("cust-r1", "ord-1", "10.00"))
    items.put_item(Item=order("cust-r1", "ord-2", "5.25", currency="USD"))
    items.put_item(Item=order("cust-r1", "ord-1", "12.00"))
    items.delete_item(Key={"customer_id": "cust-r1", "order_id": "ord-2"})
    first = stream_account.stream_records()[0]
    stream_account.world.consumer.process_record(as_lambda_record(first, stream_account.stream_arn))
    send(stream_account, on_failure_message(stream_account, 1, 3))

    # When the replay tool runs
    report = replay(stream_account)

    # Then every record of the range was applied, the message is gone, and the aggregates are right
    (message,) = report.messages
    assert [record.outcome for record in message.records] == ["applied", "applied", "applied"]
    assert message.deleted and report.ok
    assert queued(stream_account) == []
    assert stream_account.world.aggregate("cust-r1") == CustomerAggregate(
        1, {"EUR": Decimal("12.00")}, parse_timestamp(WRITTEN_AT)
    )
    assert reconcile(items, stream_account.world.table).ok


def test_replaying_a_range_twice_or_after_the_function_caught_up_changes_nothing(
    stream_account: StreamAccount,
) -> None:
    # Given a range the function has since applied (a bisected retry got through), queued twice
    stream_account.items.put_item(Item=order("cust-r2", "ord-1", "7.00"))
    stream_account.items.put_item(Item=order("cust-r2", "ord-2", "8.00"))
    for raw in stream_account.stream_records():
        stream_account.world.consumer.process_record(as_lambda_record(raw, stream_account.stream_arn))
    before = stream_account.world.aggregate_item("cust-r2")
    send(stream_account, on_failure_message(stream_account, 0, 1))
    send(stream_account, on_failure_message(stream_account, 0, 1, condition="RecordAgeExceeded"))

    # When the replay tool runs
    report = replay(stream_account)

    # Then both messages are done and deleted, and the aggregate is untouched
    assert [m.deleted for m in report.messages] == [True, True]
    assert {r.outcome for m in report.messages for r in m.records} == {"already_applied"}
    assert stream_account.world.aggregate_item("cust-r2") == before


def test_a_record_that_still_fails_keeps_its_message_and_is_named_with_its_error(
    stream_account: StreamAccount,
) -> None:
    # Given a range holding a good order and an order in an unknown currency
    stream_account.items.put_item(Item=order("cust-r3", "ord-1", "3.00"))
    stream_account.items.put_item(Item=order("cust-r3", "ord-2", "4.00", currency="ZZZ"))
    send(stream_account, on_failure_message(stream_account, 0, 1))
    poison_sequence = stream_account.stream_records()[1]["dynamodb"]["SequenceNumber"]

    # When the replay tool runs
    report = replay(stream_account)

    # Then the good record is applied, the bad one reported with its reason, and the message stays
    (message,) = report.messages
    assert [(r.sequence_number, r.outcome) for r in message.records][1] == (poison_sequence, "failed")
    assert "unknown_currency" in (message.records[1].error or "")
    assert message.records[0].outcome == "applied"
    assert not message.deleted and not report.ok
    document = report.to_document()
    assert [r["sequence_number"] for r in document["messages"][0]["failed_records"]] == [poison_sequence]
    assert len(queued(stream_account)) == 1, "the message is visible again for the next run"


def test_once_a_newer_change_fixed_the_order_the_old_bad_record_is_superseded_and_the_message_goes(
    stream_account: StreamAccount,
) -> None:
    # Given a bad record in the queue's range, then the order corrected (a newer change, applied)
    stream_account.items.put_item(Item=order("cust-r4", "ord-1", "4.00", currency="ZZZ"))
    send(stream_account, on_failure_message(stream_account, 0, 0))
    stream_account.items.put_item(Item=order("cust-r4", "ord-1", "4.00", currency="EUR"))
    fix = stream_account.stream_records()[1]
    stream_account.world.consumer.process_record(as_lambda_record(fix, stream_account.stream_arn))

    # When the replay tool runs
    report = replay(stream_account)

    # Then the old record is superseded, the message deleted, and the order counts once, in EUR
    assert [r.outcome for r in report.messages[0].records] == ["superseded"]
    assert report.messages[0].deleted
    aggregate = stream_account.world.aggregate("cust-r4")
    assert aggregate is not None and (aggregate.order_count, dict(aggregate.spent)) == (1, {"EUR": Decimal("4.00")})


def test_a_range_partly_gone_from_the_stream_is_reported_precisely_and_kept(stream_account: StreamAccount) -> None:
    # Given a range whose end lies past the records the shard still holds
    stream_account.items.put_item(Item=order("cust-r5", "ord-1", "1.00"))
    body = json.loads(on_failure_message(stream_account, 0, 0))
    last = body["DDBStreamBatchInfo"]["startSequenceNumber"]
    body["DDBStreamBatchInfo"]["endSequenceNumber"] = str(int(last) + 5)
    send(stream_account, json.dumps(body))

    # When the replay tool runs
    report = replay(stream_account)

    # Then the readable record is applied, the unread part is named, and the message stays
    (message,) = report.messages
    assert [r.outcome for r in message.records] == ["applied"]
    assert message.unreadable is not None and message.unreadable.reason == "incomplete"
    assert message.unreadable.gaps == [{"after_sequence_number": last, "to_sequence_number": str(int(last) + 5)}]
    assert not message.deleted


class TrimmedStream:
    """A stream whose records have outlived the 24-hour retention: AWS answers TrimmedDataAccessException."""

    def get_shard_iterator(self, **_: Any) -> dict[str, Any]:
        raise ClientError(
            {"Error": {"Code": "TrimmedDataAccessException",
                       "Message": "The operation attempted to read past the oldest stream record in a shard."}},
            "GetShardIterator",
        )


def test_a_trimmed_range_is_reported_as_trimmed_with_the_whole_range_and_kept(stream_account: StreamAccount) -> None:
    # Given a queued range whose records expired from the stream
    stream_account.items.put_item(Item=order("cust-r6", "ord-1", "1.00"))
    stream_account.items.put_item(Item=order("cust-r6", "ord-2", "2.00"))
    body = on_failure_message(stream_account, 0, 1)
    send(stream_account, body)
    info = json.loads(body)["DDBStreamBatchInfo"]

    # When the replay tool runs
    report = replay(stream_account, streams=TrimmedStream())

    # Then nothing is applied, the whole range is named as trimmed, and the message stays
    (message,) = report.messages
    assert message.records == []
    assert message.unreadable is not None and message.unreadable.reason == "trimmed"
    assert message.unreadable.gaps == [{"from_sequence_number": info["startSequenceNumber"],
                                         "to_sequence_number": info["endSequenceNumber"]}]
    assert not message.deleted and len(queued(stream_account)) == 1
    assert stream_account.world.aggregate("cust-r6") is None


def test_a_range_of_a_stream_that_no_longer_exists_is_reported_and_kept(stream_account: StreamAccount) -> None:
    # Given a queued range of a stream whose table was deleted
    stream_account.items.put_item(Item=order("cust-r7", "ord-1", "1.00"))
    body = json.loads(on_failure_message(stream_account, 0, 0))
    body["DDBStreamBatchInfo"]["streamArn"] = body["DDBStreamBatchInfo"]["streamArn"].replace(
        "table/ItemsTable/", "table/DeletedTable/"
    )
    send(stream_account, json.dumps(body))

    # When the replay tool runs
    report = replay(stream_account)

    # Then the message stays, reported as stream_not_found
    (message,) = report.messages
    assert message.unreadable is not None and message.unreadable.reason == "stream_not_found"
    assert not message.deleted


def test_a_message_that_is_not_an_on_failure_record_is_reported_and_kept(stream_account: StreamAccount) -> None:
    # Given a stray message in the failure queue
    send(stream_account, '{"hello": "world"}')

    # When the replay tool runs
    report = replay(stream_account)

    # Then it is left alone with the reason
    (message,) = report.messages
    assert message.problem is not None and "DDBStreamBatchInfo" in message.problem
    assert not message.deleted and not report.ok


def test_a_dry_run_lists_the_records_and_changes_nothing(stream_account: StreamAccount) -> None:
    # Given a queued range
    stream_account.items.put_item(Item=order("cust-r8", "ord-1", "1.00"))
    send(stream_account, on_failure_message(stream_account, 0, 0))

    # When the replay tool runs with dry_run
    report = replay(stream_account, dry_run=True)

    # Then it lists the record, applies nothing and deletes nothing
    assert [r.outcome for r in report.messages[0].records] == ["listed"]
    assert report.ok
    assert stream_account.world.aggregate("cust-r8") is None
    assert len(queued(stream_account)) == 1


def test_the_cli_prints_a_json_report_and_exits_non_zero_while_messages_are_left(
    stream_account: StreamAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given one replayable range and one stray message
    stream_account.items.put_item(Item=order("cust-r9", "ord-1", "1.00"))
    send(stream_account, on_failure_message(stream_account, 0, 0))
    send(stream_account, "not json")

    # When the CLI runs with --json
    code = main(["--queue-url", stream_account.failure_queue_url, "--aggregates-table", "AggregatesTable", "--json"])

    # Then stdout is one JSON report: one message replayed and deleted, one left, exit code 1
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert report["summary"]["deleted"] == 1
    assert report["summary"]["left_in_queue"] == 1
    assert report["summary"]["applied"] == 1
