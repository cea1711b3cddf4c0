"""Folding a batch per customer: one read and one transaction per customer group, the same result as
applying the records one by one, DynamoDB's 100-item limit, and the partial-batch cut."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from aggregate_consumer import MAX_ORDERS_PER_COMMIT, AggregateConsumer
from aggregate_store import AggregateStore, Commit
from botocore.exceptions import ClientError

from lambda_toolkit.errors import TransientError
from tests.support.lambda_context import FakeLambdaContext
from tests.unit.stream_consumer.conftest import AggregatesWorld, records_of, sequence_of

FIRST_SEQUENCE = 4421584500000000017450500000


def insert_of(customer_id: str, order_id: str, sequence: int) -> dict[str, Any]:
    """insert.json's first record (21.50 EUR) for another customer and order, at another place in the stream."""
    record = copy.deepcopy(records_of("insert.json")[0])
    stream = record["dynamodb"]
    for image in (stream["Keys"], stream["NewImage"]):
        image["customer_id"] = {"S": customer_id}
        image["order_id"] = {"S": order_id}
    stream["SequenceNumber"] = str(sequence)
    return record


def dynamodb_calls(world: AggregatesWorld) -> list[str]:
    calls: list[str] = []
    world.table.meta.client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    return calls


def failures(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def test_a_customers_records_in_one_batch_cost_one_read_and_one_transaction(aggregates: AggregatesWorld) -> None:
    # Given a batch of five new orders of one customer, and the DynamoDB calls counted
    event = {"Records": [insert_of("cust-fold-1", f"ord-{n}", FIRST_SEQUENCE + n) for n in range(5)]}
    calls = dynamodb_calls(aggregates)

    # When the consumer handles it
    response = aggregates.consumer.handle_batch(event, FakeLambdaContext())

    # Then one BatchGetItem and one TransactWriteItems applied all five
    assert failures(response) == []
    assert calls == ["BatchGetItem", "TransactWriteItems"]
    aggregate = aggregates.aggregate("cust-fold-1")
    assert aggregate is not None and aggregate.order_count == 5 and aggregate.spent == {"EUR": Decimal("107.50")}


def test_a_folded_batch_leaves_what_applying_its_records_one_by_one_leaves(aggregates: AggregatesWorld) -> None:
    # Given a batch mixing inserts, a modify, a remove and a duplicate of several customers
    records = [*records_of("insert.json"), *records_of("modify.json"), *records_of("remove.json")]
    records.append(copy.deepcopy(records[0]))

    # When it is handled as one batch, and separately applied one record at a time on an empty table
    assert failures(aggregates.consumer.handle_batch({"Records": records}, FakeLambdaContext())) == []
    folded = {item["pk"]: item for item in aggregates.table.scan()["Items"] if item["sk"] == "AGGREGATE"}
    for item in aggregates.table.scan()["Items"]:
        aggregates.table.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
    aggregates.apply(*records)
    one_by_one = {item["pk"]: item for item in aggregates.table.scan()["Items"] if item["sk"] == "AGGREGATE"}

    # Then the aggregates are the same (the version counts writes, and the folded batch wrote less)
    def comparable(items: dict[str, Any]) -> dict[str, Any]:
        return {pk: {k: v for k, v in item.items() if k not in ("version", "updated_at")} for pk, item in items.items()}

    assert folded and comparable(folded) == comparable(one_by_one)


def test_a_customer_with_more_orders_than_a_transaction_holds_is_split_into_consecutive_groups(
    aggregates: AggregatesWorld,
) -> None:
    # Given one customer's batch of more orders than one transaction can hold with the aggregate
    count = MAX_ORDERS_PER_COMMIT + 21
    event = {"Records": [insert_of("cust-fold-big", f"ord-{n}", FIRST_SEQUENCE + n) for n in range(count)]}
    calls = dynamodb_calls(aggregates)

    # When the consumer handles it
    response = aggregates.consumer.handle_batch(event, FakeLambdaContext())

    # Then two transactions (99 orders, then 21) applied every order once
    assert failures(response) == []
    assert calls.count("TransactWriteItems") == 2
    aggregate = aggregates.aggregate("cust-fold-big")
    assert aggregate is not None and aggregate.order_count == count


class FailingCustomerStore(AggregateStore):
    """A store whose transactions for one customer fail as a throttled DynamoDB would."""

    def __init__(self, table: Any, customer_id: str) -> None:
        super().__init__(table)
        self._customer_id = customer_id

    def commit(self, commit: Commit) -> None:
        if commit.seen.customer_id == self._customer_id:
            raise_throttled()
        super().commit(commit)


def raise_throttled() -> None:
    error = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "TransactWriteItems")
    raise TransientError(f"AggregatesTable TransactWriteItems failed: {error}") from error


def test_a_failed_transaction_reports_its_customers_earliest_record_and_everything_after_it(
    aggregates: AggregatesWorld,
) -> None:
    # Given interleaved records of two customers, A1 B1 A2 B2, whose B transaction fails
    a1, b1, a2, b2 = (insert_of(customer, order, FIRST_SEQUENCE + n) for n, (customer, order) in enumerate(
        [("cust-a", "ord-a1"), ("cust-b", "ord-b1"), ("cust-a", "ord-a2"), ("cust-b", "ord-b2")]))
    consumer = AggregateConsumer(FailingCustomerStore(aggregates.table, "cust-b"), safety_margin_ms=0)

    # When the consumer handles the batch
    response = consumer.handle_batch({"Records": [a1, b1, a2, b2]}, FakeLambdaContext())

    # Then B1 (B's earliest record) and every record after it in stream order are reported, nothing of
    # B is applied, and a retry of the reported records on a healthy store leaves each order counted once
    assert failures(response) == [sequence_of(r) for r in (b1, a2, b2)]
    assert aggregates.aggregate("cust-b") is None
    assert failures(aggregates.consumer.handle_batch({"Records": [b1, a2, b2]}, FakeLambdaContext())) == []
    for customer in ("cust-a", "cust-b"):
        aggregate = aggregates.aggregate(customer)
        assert aggregate is not None and aggregate.order_count == 2
