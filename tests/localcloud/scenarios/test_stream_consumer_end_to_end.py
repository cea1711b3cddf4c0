"""StreamConsumerFunction end to end through template.yaml's real triggers.

WorkQueue -> SqsWorkerFunction -> ItemsTable -> stream poller (BatchSize 100, bisect, 3 retries,
OnFailure StreamFailureQueue) -> StreamConsumerFunction -> AggregatesTable; tools/stream_replay.py and
tools/reconcile_aggregates.py on the result. Every test uses customer ids of its own.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.scenarios.order_reconciliation import peek_dead_letters, queue_depth
from localcloud.scenarios.order_traffic import MessageKind, OrderMessage, send_orders
from tests.localcloud.waiting import wait_for
from tests.support.requirements import require_resources
from tools.reconcile_aggregates import ReconcileReport, reconcile
from tools.stream_replay import BatchInfo, consumer_for, read_batch_records, replay_failure_queue

pytestmark = [pytest.mark.localcloud, pytest.mark.slow]

CURRENCIES = ("EUR", "USD", "GBP")
# Retries (3, with backoff) and bisection of one poison record take seconds each; generous, but bounded.
STREAM_TIMEOUT_S = 90
ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ISO_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def cloud(local_cloud: LocalCloud) -> LocalCloud:
    require_resources("function", local_cloud.stack.functions, "StreamConsumerFunction")
    return local_cloud


def tables(cloud: LocalCloud) -> tuple[Any, Any]:
    dynamodb = cloud.aws.resource("dynamodb")
    return tuple(dynamodb.Table(cloud.stack.tables[name].name) for name in ("ItemsTable", "AggregatesTable"))


def stored_aggregate(aggregates: Any, customer_id: str) -> dict[str, Any] | None:
    item = aggregates.get_item(Key={"pk": customer_id, "sk": "AGGREGATE"}, ConsistentRead=True).get("Item")
    if item is None:
        return None
    return {"order_count": int(item["order_count"]),
            "spent": {currency: Decimal(amount) for currency, amount in item.get("spent", {}).items()}}


def expected_aggregate(orders: list[dict[str, Any]]) -> dict[str, Any]:
    spent: dict[str, Decimal] = defaultdict(Decimal)
    for order in orders:
        spent[order["currency"]] += sum(Decimal(str(line["unit_price"])) * line["quantity"] for line in order["lines"])
    return {"order_count": len(orders), "spent": dict(spent)}


def has_aggregate(aggregates: Any, customer_id: str, want: dict[str, Any]) -> bool:
    return stored_aggregate(aggregates, customer_id) == want


def reconciled(items: Any, aggregates: Any) -> ReconcileReport | None:
    report = reconcile(items, aggregates)
    return report if report.ok else None


def test_orders_from_work_queue_reach_the_aggregates_once_despite_duplicates(cloud: LocalCloud) -> None:
    # Given 12 orders of 3 customers of this test's own, with totals computed here from their lines
    rng = random.Random(31)
    run = uuid.uuid4().hex[:8]
    customers = [f"e2e-agg-{run}-{index}" for index in range(3)]
    orders: list[dict[str, Any]] = [
        {"customer_id": customers[index % 3], "order_id": f"ord-{run}-{index:02d}", "currency": rng.choice(CURRENCIES),
         "lines": [{"sku": f"sku-{rng.randrange(100):03d}", "quantity": rng.randint(1, 4),
                    "unit_price": rng.randrange(50, 50_000) / 100} for _ in range(rng.randint(1, 3))]}
        for index in range(12)
    ]
    messages = [OrderMessage(json.dumps(order), MessageKind.VALID, (order["customer_id"], order["order_id"]))
                for order in orders]
    items, aggregates = tables(cloud)
    queue_url = cloud.stack.queues["WorkQueue"].url

    # When they go through WorkQueue, then, once processed, three of them are sent again, one of them twice
    send_orders(cloud.aws.sqs, queue_url, messages)
    wait_for(lambda: queue_depth(cloud.aws, queue_url) == 0, timeout_s=STREAM_TIMEOUT_S, what="WorkQueue drained")
    resent = [messages[0], messages[0], messages[5], messages[10]]
    resent = [OrderMessage(m.body, MessageKind.DUPLICATE, m.order_key) for m in resent]
    send_orders(cloud.aws.sqs, queue_url, resent)
    wait_for(lambda: queue_depth(cloud.aws, queue_url) == 0, timeout_s=STREAM_TIMEOUT_S,
             what="WorkQueue drained of the duplicates")

    # Then each customer's aggregate counts each order once, with the totals per currency sent
    for customer in customers:
        want = expected_aggregate([order for order in orders if order["customer_id"] == customer])
        wait_for(partial(has_aggregate, aggregates, customer, want), timeout_s=STREAM_TIMEOUT_S,
                 what=f"{customer}'s aggregate {want} (stored: {stored_aggregate(aggregates, customer)})")
    # and the duplicates wrote nothing more: ItemsTable holds each order once
    for customer in customers:
        held = items.query(KeyConditionExpression="customer_id = :c", ExpressionAttributeValues={":c": customer},
                           ConsistentRead=True)["Items"]
        assert sorted(item["order_id"] for item in held) == sorted(
            order["order_id"] for order in orders if order["customer_id"] == customer)
    # and the reconcile tool finds no difference anywhere
    report = wait_for(lambda: reconciled(items, aggregates), timeout_s=STREAM_TIMEOUT_S,
                      what="reconcile() reports no difference")
    assert report is not None
    assert report.differences == [] and report.invalid_orders == []


def order_item(customer_id: str, order_id: str, *, currency: str, total: str) -> dict[str, Any]:
    return {"customer_id": customer_id, "order_id": order_id, "currency": currency, "total": Decimal(total),
            "lines": [{"sku": "sku-001", "quantity": 1, "unit_price": Decimal(total)}], "line_count": 1,
            "written_at": datetime.now(UTC).isoformat()}


def find_failure_message(cloud: LocalCloud, keys: dict[str, str]) -> tuple[dict[str, Any], BatchInfo] | None:
    """The StreamFailureQueue message whose range holds the stream record of ``keys`` (left in the queue)."""
    streams = cloud.aws.client("dynamodbstreams")
    for message in peek_dead_letters(cloud.aws, cloud.stack.queues["StreamFailureQueue"].url):
        batch = BatchInfo.from_message_body(message["Body"])
        records, _ = read_batch_records(streams, batch)
        if any({name: value["S"] for name, value in record["dynamodb"]["Keys"].items()} == keys
               for record in records):
            return message, batch
    return None


def test_a_poison_record_is_isolated_sent_to_the_failure_queue_and_replayed_once_superseded(
    cloud: LocalCloud,
) -> None:
    # Given, written straight to ItemsTable, a valid order, an order in currency "XXX" (ISO 4217's "no
    # currency": the consumer refuses it as a PermanentError) and another valid order, of three customers
    run = uuid.uuid4().hex[:8]
    before, poison, after = (f"e2e-poison-{run}-{name}" for name in ("before", "poison", "after"))
    poison_keys = {"customer_id": poison, "order_id": f"ord-{run}-poison"}
    items, aggregates = tables(cloud)
    failure_queue = cloud.stack.queues["StreamFailureQueue"].url
    streams = cloud.aws.client("dynamodbstreams")
    processor = consumer_for(aggregates)

    # When they are written one after the other (one stream batch, or a few)
    items.put_item(Item=order_item(before, f"ord-{run}-before", currency="EUR", total="10.50"))
    items.put_item(Item=order_item(poison, poison_keys["order_id"], currency="XXX", total="99.00"))
    items.put_item(Item=order_item(after, f"ord-{run}-after", currency="USD", total="7.25"))
    try:
        # Then the valid records on both sides of the poison are applied: bisection isolates it
        for customer, want in ((before, {"EUR": Decimal("10.50")}), (after, {"USD": Decimal("7.25")})):
            wait_for(partial(has_aggregate, aggregates, customer, {"order_count": 1, "spent": want}),
                     timeout_s=STREAM_TIMEOUT_S, what=f"{customer}'s order applied past the poison record")
        assert stored_aggregate(aggregates, poison) is None

        # and once its retries are exhausted the poison alone is in StreamFailureQueue, as Lambda shapes it
        found = wait_for(lambda: find_failure_message(cloud, poison_keys), timeout_s=STREAM_TIMEOUT_S,
                         what="an OnFailure record holding the poison record in StreamFailureQueue")
        assert found is not None
        message, batch = found
        body = json.loads(message["Body"])
        assert set(body) == {"requestContext", "responseContext", "version", "timestamp", "DDBStreamBatchInfo"}
        context = body["requestContext"]
        assert set(context) == {"requestId", "functionArn", "condition", "approximateInvokeCount"}
        assert context["condition"] == "RetryAttemptsExhausted"
        assert context["functionArn"] == cloud.stack.functions["StreamConsumerFunction"].arn
        # the first attempt plus MaximumRetryAttempts 3, at least (bisection adds invokes before it)
        assert context["approximateInvokeCount"] >= 4, context
        assert context["requestId"]
        # The consumer reports the poison through a partial batch response, so the invoke itself returned 200
        response = body["responseContext"]
        assert set(response) == {"statusCode", "executedVersion", "functionError"}, response
        assert (response["statusCode"], response["executedVersion"]) == (200, "$LATEST"), response
        assert response["functionError"] in (None, "Unhandled"), response
        assert body["version"] == "1.0"
        assert ISO_MILLIS.match(body["timestamp"]), body["timestamp"]
        info = body["DDBStreamBatchInfo"]
        assert set(info) == {"shardId", "startSequenceNumber", "endSequenceNumber", "approximateArrivalOfFirstRecord",
                             "approximateArrivalOfLastRecord", "batchSize", "streamArn"}
        assert info["batchSize"] == 1, info
        assert info["streamArn"] == cloud.stack.tables["ItemsTable"].stream_arn
        assert ISO_SECONDS.match(info["approximateArrivalOfFirstRecord"])
        assert ISO_SECONDS.match(info["approximateArrivalOfLastRecord"])
        records, unreadable = read_batch_records(streams, batch)
        assert unreadable is None
        assert len(records) == 1
        sequence = int(records[0]["dynamodb"]["SequenceNumber"])
        assert int(info["startSequenceNumber"]) <= sequence <= int(info["endSequenceNumber"])

        # When the replay tool runs while the record is still bad: a dry run lists it, a real run fails it
        listed = replay_failure_queue(sqs=cloud.aws.sqs, streams=streams, queue_url=failure_queue,
                                      processor=processor, dry_run=True)
        ours = [m for m in listed.messages if m.message_id == message["MessageId"]]
        assert [(r.sequence_number, r.outcome) for m in ours for r in m.records] == [(str(sequence), "listed")]
        still_bad = replay_failure_queue(sqs=cloud.aws.sqs, streams=streams, queue_url=failure_queue,
                                         processor=processor)
        ours = [m for m in still_bad.messages if m.message_id == message["MessageId"]]
        assert len(ours) == 1
        assert not still_bad.ok and not ours[0].deleted and not ours[0].replayed
        assert [r.outcome for r in ours[0].records] == ["failed"]
        assert "unknown_currency" in (ours[0].records[0].error or "") or "XXX" in (ours[0].records[0].error or "")
        # Then it stays in the queue for the next run
        assert find_failure_message(cloud, poison_keys) is not None
    finally:
        # When the order is fixed (a valid image overwrites it: a newer MODIFY the consumer applies)
        items.put_item(Item=order_item(poison, poison_keys["order_id"], currency="CHF", total="99.00"))
    wait_for(lambda: stored_aggregate(aggregates, poison) == {"order_count": 1, "spent": {"CHF": Decimal("99.00")}},
             timeout_s=STREAM_TIMEOUT_S, what="the fixed order applied")

    # Then replaying finds the poison record superseded by the fix and deletes its message
    replayed = replay_failure_queue(sqs=cloud.aws.sqs, streams=streams, queue_url=failure_queue, processor=processor)
    ours = [m for m in replayed.messages if m.message_id == message["MessageId"]]
    assert len(ours) == 1
    assert [r.outcome for r in ours[0].records] == ["superseded"]
    assert ours[0].deleted
    assert find_failure_message(cloud, poison_keys) is None
    # and the aggregates reconcile with the items
    wait_for(lambda: reconciled(items, aggregates), timeout_s=STREAM_TIMEOUT_S,
             what="reconcile() reports no difference")
