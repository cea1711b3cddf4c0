"""Recompute every customer aggregate from ItemsTable and report where AggregatesTable differs.

    python -m tools.reconcile_aggregates [--stack-name lambda-suite-dev |
                                          --items-table NAME --aggregates-table NAME] [--json]

Exit code 0: every stored aggregate equals the recomputation; 1: differences (or orders the consumer
would refuse, which count for nothing on either side but deserve a look). The recomputation uses the
consumer's own image validation and aggregate arithmetic (functions/stream_consumer), so a difference
means the stored value is wrong, not that two implementations disagree. A customer whose orders are
all gone may keep an aggregate with order_count 0: that equals "no aggregate".

It reads two full scans without a snapshot: changes made while it runs can show as differences, so
run it again (or when ItemsTable is quiet) before acting on one.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aggregate_store import AggregateStore
from customer_aggregates import CustomerAggregate, OrderContribution
from order_stream_record import OrderImage
from pydantic import ValidationError

from lambda_toolkit import aws_clients
from lambda_toolkit.pagination import scan_table
from tools.stack_outputs import stack_outputs

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


@dataclass(frozen=True)
class AggregateDifference:
    customer_id: str
    expected: dict[str, Any]
    stored: dict[str, Any] | None


@dataclass(frozen=True)
class InvalidOrder:
    customer_id: str
    order_id: str
    problem: str


@dataclass
class ReconcileReport:
    customers_checked: int = 0
    orders_scanned: int = 0
    differences: list[AggregateDifference] = field(default_factory=list)
    invalid_orders: list[InvalidOrder] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences and not self.invalid_orders

    def to_document(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "customers_checked": self.customers_checked,
            "orders_scanned": self.orders_scanned,
            "differences": [vars(difference) for difference in self.differences],
            "invalid_orders": [vars(order) for order in self.invalid_orders],
        }


def scan(table: Table) -> Iterator[dict[str, Any]]:
    return scan_table(table, ConsistentRead=True)


def recompute_aggregates(
    items: Iterable[Mapping[str, Any]],
) -> tuple[dict[str, CustomerAggregate], list[InvalidOrder]]:
    """ItemsTable items -> the aggregate each customer should have, plus the items the consumer refuses."""
    orders: dict[str, list[OrderContribution]] = defaultdict(list)
    invalid: list[InvalidOrder] = []
    for item in items:
        try:
            image = OrderImage.model_validate(dict(item))
        except ValidationError as error:
            invalid.append(InvalidOrder(str(item.get("customer_id")), str(item.get("order_id")), str(error)))
            continue
        orders[image.customer_id].append(image.contribution())
    return {customer: CustomerAggregate.of_orders(found) for customer, found in orders.items()}, invalid


def reconcile(items_table: Table, aggregates_table: Table) -> ReconcileReport:
    items = list(scan(items_table))
    expected, invalid = recompute_aggregates(items)
    stored = dict(AggregateStore(aggregates_table).aggregates())
    report = ReconcileReport(orders_scanned=len(items), invalid_orders=invalid)
    for customer in sorted(expected.keys() | stored.keys()):
        want = expected.get(customer, CustomerAggregate())
        have = stored.get(customer)
        report.customers_checked += 1
        if want == (have or CustomerAggregate()):
            continue
        report.differences.append(
            AggregateDifference(customer, want.to_document(), None if have is None else have.to_document())
        )
    return report


def _print_human(report: ReconcileReport) -> None:
    print(
        f"{report.customers_checked} customer(s), {report.orders_scanned} order(s): "
        f"{len(report.differences)} difference(s), {len(report.invalid_orders)} invalid order(s)"
    )
    for difference in report.differences:
        print(f"- {difference.customer_id}\n    expected {difference.expected}\n    stored   {difference.stored}")
    for order in report.invalid_orders:
        print(f"- invalid order {order.customer_id}/{order.order_id}: {order.problem.splitlines()[0]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.reconcile_aggregates", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack-name", default="lambda-suite-dev")
    parser.add_argument("--items-table", help="ItemsTable's name (instead of reading the stack's outputs)")
    parser.add_argument("--aggregates-table", help="AggregatesTable's name (instead of the stack's outputs)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)

    items_name, aggregates_name = args.items_table, args.aggregates_table
    if not (items_name and aggregates_name):
        outputs = stack_outputs(aws_clients.client("cloudformation"), args.stack_name)
        items_name = items_name or outputs["ItemsTableName"]
        aggregates_name = aggregates_name or outputs["AggregatesTableName"]
    dynamodb = aws_clients.dynamodb()
    report = reconcile(dynamodb.Table(items_name), dynamodb.Table(aggregates_name))
    if args.json:
        print(json.dumps(report.to_document(), indent=2))
    else:
        _print_human(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
