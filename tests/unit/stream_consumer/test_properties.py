"""Property: however the stream's records are delivered, the aggregates end up as the final table says.

Lambda redelivers (a batch retried from its checkpoint repeats records that had succeeded), and the
replay tool brings old records back after newer ones. Any delivery in which every record arrives at
least once, in any order and any number of times, covers both; the aggregates must then equal the
recomputation from ItemsTable's final state (tools/reconcile_aggregates.recompute_aggregates).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from customer_aggregates import CustomerAggregate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.stream_consumer.conftest import AggregatesWorld
from tools.reconcile_aggregates import recompute_aggregates

CURRENCIES = ("EUR", "USD", "GBP")
ORDER_KEYS = [(customer, order) for customer in ("c1", "c2") for order in ("o1", "o2", "o3")]
# Steps between consecutive sequence numbers: small ones, and jumps that add digits, so that numbers
# of different lengths meet (a string comparison would get those wrong).
SEQUENCE_STEPS = (1, 2, 10**21, 9 * 10**23)
_example = itertools.count()


@dataclass(frozen=True)
class Put:
    currency: str
    total: Decimal
    written_at: datetime


@dataclass(frozen=True)
class Delete:
    pass


operations = st.one_of(
    st.builds(
        Put,
        currency=st.sampled_from(CURRENCIES),
        total=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2),
        written_at=st.datetimes(
            min_value=datetime(2025, 1, 1), max_value=datetime(2025, 1, 2), timezones=st.just(UTC)
        ),
    ),
    st.just(Delete()),
)


def _image(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "customer_id": {"S": item["customer_id"]},
        "order_id": {"S": item["order_id"]},
        "currency": {"S": item["currency"]},
        "total": {"N": str(item["total"])},
        "written_at": {"S": item["written_at"]},
    }


def simulate(
    prefix: str, history: list[tuple[tuple[str, str], Put | Delete]], steps: list[int]
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], dict[str, Any]]]:
    """Apply the operations to a model of ItemsTable: its stream records and its final items."""
    table: dict[tuple[str, str], dict[str, Any]] = {}
    records: list[dict[str, Any]] = []
    sequence = 10**20
    for ((customer, order), operation), step in zip(history, steps, strict=True):
        key = (f"{prefix}-{customer}", order)
        old = table.get(key)
        if isinstance(operation, Delete):
            if old is None:
                continue  # deleting a missing item writes no stream record
            del table[key]
            event, new = "REMOVE", None
        else:
            new = {"customer_id": key[0], "order_id": order, "currency": operation.currency,
                   "total": operation.total, "written_at": operation.written_at.isoformat()}
            table[key] = new
            event = "INSERT" if old is None else "MODIFY"
        sequence += step
        stream: dict[str, Any] = {
            "Keys": {"customer_id": {"S": key[0]}, "order_id": {"S": order}},
            "SequenceNumber": str(sequence),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if new is not None:
            stream["NewImage"] = _image(new)
        if old is not None:
            stream["OldImage"] = _image(old)
        records.append({"eventName": event, "eventSource": "aws:dynamodb", "dynamodb": stream})
    return records, table


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[tuple[tuple[str, str], Put | Delete]], list[int], list[int]]:
    history = draw(st.lists(st.tuples(st.sampled_from(ORDER_KEYS), operations), min_size=1, max_size=20))
    steps = draw(st.lists(st.sampled_from(SEQUENCE_STEPS), min_size=len(history), max_size=len(history)))
    # Indices into the records (resolved once their number is known): every record at least once,
    # then duplicates, in an order Hypothesis chooses.
    extra = draw(st.lists(st.integers(min_value=0, max_value=len(history) - 1), max_size=len(history)))
    order = draw(st.permutations(list(range(len(history))) + extra))
    return history, steps, order


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(delivery=deliveries())
def test_any_delivery_with_duplicates_and_reordering_converges_to_the_final_table(
    aggregates: AggregatesWorld,
    delivery: tuple[list[tuple[tuple[str, str], Put | Delete]], list[int], list[int]],
) -> None:
    # Given a history of puts and deletes on a few orders, and the stream records it wrote
    history, steps, order = delivery
    prefix = f"example{next(_example)}"  # the moto account is shared by the examples
    records, final_items = simulate(prefix, history, steps)

    # When the records are delivered in the drawn order, with duplicates (indices past the end of a
    # shorter record list, from deletes that wrote nothing, wrap around)
    for index in order:
        if records:
            aggregates.consumer.process_record(records[index % len(records)])

    # Then every customer's aggregate equals the recomputation from the final items
    expected, invalid = recompute_aggregates(final_items.values())
    assert invalid == []
    for customer in (f"{prefix}-c1", f"{prefix}-c2"):
        stored = aggregates.aggregate(customer) or CustomerAggregate()
        assert stored.order_count >= 0
        assert stored == expected.get(customer, CustomerAggregate())
