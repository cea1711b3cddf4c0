from __future__ import annotations

import json
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest

from lambda_toolkit.errors import ConfigurationError
from tests.support.events import load_event
from tests.support.handlers import load_handler_module
from tests.support.lambda_context import FakeLambdaContext
from tests.unit.sqs_worker.conftest import SqsWorkerWorld


def expected_total(body: str) -> Decimal:
    order = json.loads(body, parse_float=Decimal)
    return sum((Decimal(line["quantity"]) * Decimal(str(line["unit_price"])) for line in order["lines"]), Decimal(0))


VALID_MIXED_CUSTOMERS = ("cust-mixed-1", "cust-mixed-4")


def is_valid_mixed(record: dict[str, Any]) -> bool:
    return any(f'"customer_id": "{customer}"' in record["body"] for customer in VALID_MIXED_CUSTOMERS)


def failures(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def test_a_valid_batch_writes_every_order_with_its_total(sqs_worker: SqsWorkerWorld) -> None:
    # Given a batch of valid orders
    event = load_event("sqs_worker", "valid_batch.json")

    # When the worker handles it
    response = sqs_worker.app.lambda_handler(event, FakeLambdaContext())

    # Then nothing is reported failed and every order is stored with the right total
    assert response == {"batchItemFailures": []}
    stored = {(o["customer_id"], o["order_id"]): o for o in sqs_worker.stored_orders()}
    assert len(stored) == len(event["Records"])
    for record in event["Records"]:
        body = json.loads(record["body"])
        item = stored[(body["customer_id"], body["order_id"])]
        assert item["total"] == expected_total(record["body"])
        assert item["source_message_id"] == record["messageId"]
    assert sqs_worker.dead_letters() == []


def test_a_mixed_batch_dead_letters_the_bad_messages_and_writes_the_good_ones_once(
    sqs_worker: SqsWorkerWorld,
) -> None:
    # Given a batch with malformed JSON, a schema-invalid order, an empty body and a duplicate
    event = load_event("sqs_worker", "mixed_batch.json")
    records = {r["messageId"]: r for r in event["Records"]}

    # When the worker handles it
    response = sqs_worker.app.lambda_handler(event, FakeLambdaContext())

    # Then no message needs a retry: the bad ones are in the DLQ with their reasons ...
    assert failures(response) == []
    attributes = [m["MessageAttributes"] for m in sqs_worker.dead_letters()]
    dead = {a["source_message_id"]["StringValue"]: a["failure_reason"]["StringValue"] for a in attributes}
    bad_ids = [mid for mid, r in records.items() if not is_valid_mixed(r)]
    assert sorted(dead) == sorted(bad_ids)
    assert sorted(dead.values()) == ["empty_body", "invalid_order", "malformed_json"]
    # ... and each valid order is written once, the duplicate included
    stored = sqs_worker.stored_orders()
    assert sorted(o["customer_id"] for o in stored) == ["cust-mixed-1", "cust-mixed-4"]


def test_a_redelivered_batch_neither_writes_twice_nor_changes_the_stored_result(sqs_worker: SqsWorkerWorld) -> None:
    # Given a batch that was processed once
    event = load_event("sqs_worker", "valid_batch.json")
    sqs_worker.app.lambda_handler(event, FakeLambdaContext())
    first = sorted(sqs_worker.stored_orders(), key=lambda o: o["order_id"])

    # When the same messages are delivered again
    response = sqs_worker.app.lambda_handler(event, FakeLambdaContext())

    # Then they succeed and the stored orders are exactly as before
    assert failures(response) == []
    assert sorted(sqs_worker.stored_orders(), key=lambda o: o["order_id"]) == first


def dynamodb_calls(app: ModuleType) -> list[str]:
    """The names of the DynamoDB operations the handler's client sends from now on (as botocore sees them)."""
    calls: list[str] = []
    client = app.aws_clients.dynamodb().meta.client
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    return calls


def test_a_new_order_costs_exactly_one_write_and_no_read(sqs_worker: SqsWorkerWorld) -> None:
    # Given a batch of three new orders, and the DynamoDB calls the function makes counted
    event = load_event("sqs_worker", "valid_batch.json")
    calls = dynamodb_calls(sqs_worker.app)

    # When the worker handles it
    response = sqs_worker.app.lambda_handler(event, FakeLambdaContext())

    # Then each order was written by one PutItem, and nothing else was asked of DynamoDB
    assert failures(response) == []
    assert calls == ["PutItem"] * len(event["Records"])
    assert len(sqs_worker.stored_orders()) == len(event["Records"])


def test_a_redelivery_days_later_is_a_duplicate_decided_by_the_refused_put_alone(sqs_worker: SqsWorkerWorld) -> None:
    # Given an order processed once
    event = load_event("sqs_worker", "redelivered_order.json")
    sqs_worker.app.lambda_handler(event, FakeLambdaContext())
    before = sqs_worker.stored_orders()
    calls = dynamodb_calls(sqs_worker.app)

    # When it is redelivered days later (a DLQ redrive)
    response = sqs_worker.app.lambda_handler(event, FakeLambdaContext())

    # Then it is accepted as a duplicate, nothing changes, and the refused put (which returns the
    # stored item) was the only call: no read
    assert failures(response) == []
    assert sqs_worker.stored_orders() == before
    assert calls == ["PutItem"] * len(event["Records"])
    assert sqs_worker.dead_letters() == []


def test_an_order_id_reused_with_other_content_is_dead_lettered_and_the_first_order_kept(
    sqs_worker: SqsWorkerWorld,
) -> None:
    # Given two messages with the same order id but different lines
    event = load_event("sqs_worker", "conflicting_duplicate.json")
    first, second = event["Records"]

    # When the worker handles them
    response = sqs_worker.app.lambda_handler(event, FakeLambdaContext())

    # Then the first is stored, the second is in the DLQ as a conflicting duplicate
    assert failures(response) == []
    (stored,) = sqs_worker.stored_orders()
    assert stored["source_message_id"] == first["messageId"]
    (dead,) = sqs_worker.dead_letters()
    assert dead["MessageAttributes"]["failure_reason"]["StringValue"] == "conflicting_duplicate"
    assert dead["MessageAttributes"]["source_message_id"]["StringValue"] == second["messageId"]
    assert dead["Body"] == second["body"]


def test_when_the_dlq_cannot_be_reached_bad_messages_are_reported_for_retry_and_nothing_is_lost(
    sqs_worker: SqsWorkerWorld,
) -> None:
    # Given a mixed batch and a dead-letter queue that is gone
    event = load_event("sqs_worker", "mixed_batch.json")
    sqs_worker.account.sqs.delete_queue(QueueUrl=sqs_worker.dlq_url)

    # When the worker handles the batch
    response = sqs_worker.app.lambda_handler(event, FakeLambdaContext())

    # Then exactly the three bad messages are reported failed, and the valid ones are written
    bad_ids = [r["messageId"] for r in event["Records"] if not is_valid_mixed(r)]
    assert failures(response) == bad_ids
    assert len(sqs_worker.stored_orders()) == 2


def test_a_transient_store_failure_fails_only_the_affected_records(sqs_worker: SqsWorkerWorld) -> None:
    # Given ItemsTable is unavailable (deleted)
    event = load_event("sqs_worker", "mixed_batch.json")
    sqs_worker.items.delete()

    # When the worker handles a mixed batch
    response = sqs_worker.app.lambda_handler(event, FakeLambdaContext())

    # Then exactly the valid orders (the duplicate too) are reported for retry, while the bad ones
    # still went to the DLQ
    assert failures(response) == [r["messageId"] for r in event["Records"] if is_valid_mixed(r)]
    assert len(sqs_worker.dead_letters()) == 3


class ScriptedDeadline(FakeLambdaContext):
    """A context whose remaining time drops as scripted: the third check finds the deadline near."""

    def __init__(self, remaining: list[int]) -> None:
        super().__init__()
        self._remaining = remaining

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining.pop(0) if len(self._remaining) > 1 else self._remaining[0]


def test_the_worker_stops_before_its_deadline_and_reports_the_unreached_messages(sqs_worker: SqsWorkerWorld) -> None:
    # Given a batch of three and a deadline that comes close after two records
    event = load_event("sqs_worker", "valid_batch.json")
    context = ScriptedDeadline([60_000, 60_000, 900])

    # When the worker handles it with a 1,000 ms safety margin
    response = sqs_worker.app.lambda_handler(event, context)

    # Then the unreached message is reported, the others are written
    ids = [r["messageId"] for r in event["Records"]]
    assert failures(response) == ids[2:]
    assert len(sqs_worker.stored_orders()) == 2


def test_the_worker_with_a_real_short_deadline_reports_everything_it_cannot_reach(
    sqs_worker: SqsWorkerWorld,
) -> None:
    # Given a real context with less time left than the safety margin
    event = load_event("sqs_worker", "valid_batch.json")

    # When the worker handles the batch
    response = sqs_worker.app.lambda_handler(event, FakeLambdaContext(timeout_s=0.5))

    # Then every message is reported unreached and nothing is written
    assert failures(response) == [r["messageId"] for r in event["Records"]]
    assert sqs_worker.stored_orders() == []


def test_a_missing_setting_fails_the_cold_start_with_a_clear_message(
    sqs_worker: SqsWorkerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the function's environment lacks its table name
    monkeypatch.delenv("ITEMS_TABLE_NAME")

    # When the handler module is imported (the cold start)
    with pytest.raises(ConfigurationError) as raised:
        load_handler_module("sqs_worker")

    # Then the error names the variable
    assert "ITEMS_TABLE_NAME" in str(raised.value)


def test_injected_transient_faults_fail_their_records_which_then_succeed_on_redelivery(
    sqs_worker: SqsWorkerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a dev function whose every record fails transiently
    monkeypatch.setenv("FAULT_INJECTION_ENABLED", "true")
    monkeypatch.setenv("FAULT_TRANSIENT_RATE", "1.0")
    faulty = load_handler_module("sqs_worker")
    event = load_event("sqs_worker", "valid_batch.json")

    # When it handles a batch
    response = faulty.lambda_handler(event, FakeLambdaContext())

    # Then every message is reported for retry and nothing is half-written
    assert failures(response) == [r["messageId"] for r in event["Records"]]
    assert sqs_worker.stored_orders() == []

    # And once the faults stop, the redelivered batch is written in full
    monkeypatch.delenv("FAULT_INJECTION_ENABLED")
    healthy = load_handler_module("sqs_worker")
    assert failures(healthy.lambda_handler(event, FakeLambdaContext())) == []
    assert len(sqs_worker.stored_orders()) == 3
