"""tools/reconcile_aggregates.py: recompute from ItemsTable, report every difference, exit code."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from aggregate_store import AGGREGATE_SK

from tests.unit.stream_consumer.conftest import StreamAccount
from tools.reconcile_aggregates import main, reconcile
from tools.stream_replay import as_lambda_record


def order(customer: str, order_id: str, total: str, currency: str = "EUR") -> dict[str, Any]:
    return {"customer_id": customer, "order_id": order_id, "currency": currency, "total": Decimal(total),
            "written_at": f"2025-11-23T09:0{order_id[-1]}:00.000000+00:00"}


@pytest.fixture
def consumed(stream_account: StreamAccount) -> StreamAccount:
    # Given orders of two customers, changed and deleted, and every stream record applied by the consumer
    items = stream_account.items
    items.put_item(Item=order("cust-a", "ord-1", "10.00"))
    items.put_item(Item=order("cust-a", "ord-2", "2.50", currency="USD"))
    items.put_item(Item=order("cust-b", "ord-3", "7.00"))
    items.put_item(Item=order("cust-b", "ord-3", "9.00", currency="GBP"))
    items.put_item(Item=order("cust-c", "ord-4", "1.00"))
    items.delete_item(Key={"customer_id": "cust-c", "order_id": "ord-4"})
    for raw in stream_account.stream_records():
        stream_account.world.consumer.process_record(as_lambda_record(raw, stream_account.stream_arn))
    return stream_account


def test_aggregates_kept_by_the_consumer_match_the_recomputation(consumed: StreamAccount) -> None:
    # When the aggregates are reconciled
    report = reconcile(consumed.items, consumed.world.table)

    # Then there is no difference, and the customer left without orders counts as matching
    assert report.ok
    assert report.differences == []
    assert (report.customers_checked, report.orders_scanned) == (3, 3)


def test_an_injected_difference_is_found_and_reported_with_both_values(consumed: StreamAccount) -> None:
    # Given an aggregate changed behind the consumer's back
    consumed.world.table.update_item(
        Key={"pk": "cust-a", "sk": AGGREGATE_SK}, UpdateExpression="SET order_count = :n",
        ExpressionAttributeValues={":n": 5},
    )

    # When the aggregates are reconciled
    report = reconcile(consumed.items, consumed.world.table)

    # Then exactly that customer differs, with the expected and the stored values
    (difference,) = report.differences
    assert difference.customer_id == "cust-a"
    assert difference.expected["order_count"] == 2
    assert difference.stored is not None and difference.stored["order_count"] == 5
    assert difference.expected["spent"] == {"EUR": "10.00", "USD": "2.50"}


def test_a_missing_aggregate_and_an_order_the_consumer_never_saw_are_differences(consumed: StreamAccount) -> None:
    # Given an order written while the stream was not consumed, for a new customer
    consumed.items.put_item(Item=order("cust-d", "ord-5", "3.00"))

    # When the aggregates are reconciled
    report = reconcile(consumed.items, consumed.world.table)

    # Then the customer's aggregate is reported missing
    (difference,) = report.differences
    assert (difference.customer_id, difference.stored) == ("cust-d", None)


def test_an_order_the_consumer_would_refuse_is_reported(consumed: StreamAccount) -> None:
    # Given an order in ItemsTable with an unknown currency
    consumed.items.put_item(Item=order("cust-e", "ord-6", "3.00", currency="ZZZ"))

    # When the aggregates are reconciled
    report = reconcile(consumed.items, consumed.world.table)

    # Then it is listed, and the report is not ok
    assert [(o.customer_id, o.order_id) for o in report.invalid_orders] == [("cust-e", "ord-6")]
    assert not report.ok


def test_the_cli_exits_zero_when_everything_matches_and_one_with_json_details_otherwise(
    consumed: StreamAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given matching aggregates
    args = ["--items-table", "ItemsTable", "--aggregates-table", "AggregatesTable", "--json"]

    # When the CLI runs, Then it exits 0 with an ok report
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True

    # Given one aggregate spoilt
    consumed.world.table.update_item(
        Key={"pk": "cust-b", "sk": AGGREGATE_SK}, UpdateExpression="SET spent.GBP = :v",
        ExpressionAttributeValues={":v": Decimal("9.01")},
    )

    # When the CLI runs again, Then it exits 1 and names the customer
    assert main(args) == 1
    report = json.loads(capsys.readouterr().out)
    assert [d["customer_id"] for d in report["differences"]] == ["cust-b"]
