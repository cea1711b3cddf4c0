"""The aggregation rules: INSERT/MODIFY/REMOVE, idempotency, ordering and the never-seen cases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from aggregate_consumer import AggregateConsumer
from aggregate_store import AggregateStore, Commit
from customer_aggregates import CustomerAggregate

from lambda_toolkit.errors import PermanentError
from tests.support.lambda_context import FakeLambdaContext
from tests.unit.stream_consumer.conftest import AggregatesWorld, record_of, records_of, sequence_of, with_sequence

CUSTOMER = "cust-stream-1"
TEA_ORDER_AT = datetime(2025, 11, 23, 9, 41, 7, 512345, tzinfo=UTC)
PEN_ORDER_AT = datetime(2025, 11, 23, 9, 42, 15, 4211, tzinfo=UTC)
MODIFIED_AT = datetime(2025, 11, 23, 9, 45, tzinfo=UTC)


def test_inserts_count_each_order_and_sum_its_total_in_its_currency(aggregates: AggregatesWorld) -> None:
    # Given two new orders of one customer, in EUR and USD
    inserts = records_of("insert.json")

    # When their INSERT records are applied
    outcomes = aggregates.apply(*inserts)

    # Then both count, with exact totals per currency and the later order's time
    assert outcomes == ["applied", "applied"]
    assert aggregates.aggregate(CUSTOMER) == CustomerAggregate(
        2, {"EUR": Decimal("21.50"), "USD": Decimal("3.60")}, PEN_ORDER_AT
    )


def test_a_modify_moves_the_total_between_currencies(aggregates: AggregatesWorld) -> None:
    # Given the two orders applied
    aggregates.apply(*records_of("insert.json"))

    # When the EUR order is modified into a USD order with another total
    aggregates.apply(record_of("modify.json"))

    # Then the count is unchanged, EUR is gone, USD holds both totals, and the time moved on
    assert aggregates.aggregate(CUSTOMER) == CustomerAggregate(2, {"USD": Decimal("26.70")}, MODIFIED_AT)


def test_a_remove_subtracts_what_the_order_contributed_and_finds_the_next_latest_order(
    aggregates: AggregatesWorld,
) -> None:
    # Given both orders applied and the latest one modified
    aggregates.apply(*records_of("insert.json"), record_of("modify.json"))

    # When the modified (latest) order is removed
    outcome = aggregates.apply(record_of("remove.json"))

    # Then one order remains, with its own total, and last_order_at falls back to it
    assert outcome == ["applied"]
    assert aggregates.aggregate(CUSTOMER) == CustomerAggregate(1, {"USD": Decimal("3.60")}, PEN_ORDER_AT)
    marker = aggregates.marker(CUSTOMER, "ord-3001")
    assert marker is not None and marker["present"] is False and "expires_at" in marker


def test_removing_every_order_leaves_a_zero_aggregate(aggregates: AggregatesWorld) -> None:
    # Given one order applied
    insert = record_of("insert.json")
    aggregates.apply(insert)

    # When it is removed (its REMOVE record comes later in the stream)
    aggregates.apply(with_sequence(record_of("remove.json"), "4421584500000000017450439095"))

    # Then nothing is counted, no currency is left and there is no last order
    aggregate = aggregates.aggregate(CUSTOMER)
    assert aggregate is not None and aggregate.is_empty


def test_a_remove_of_an_order_never_seen_subtracts_nothing_and_blocks_its_older_insert(
    aggregates: AggregatesWorld,
) -> None:
    # Given an order whose INSERT was never applied (it expired, or it is still in the failure queue)
    remove = record_of("remove.json")

    # When its REMOVE is applied, and then the older INSERT arrives (replayed from the failure queue)
    first = aggregates.apply(remove)
    later = aggregates.apply(record_of("insert.json"))

    # Then the count never went negative, the REMOVE left a tombstone, and the stale INSERT is skipped
    assert first == ["applied"]
    assert later == ["superseded"]
    assert aggregates.aggregate(CUSTOMER) is None
    tombstone = aggregates.marker(CUSTOMER, "ord-3001")
    assert tombstone is not None
    assert tombstone["present"] is False
    assert tombstone["applied_sequence"] == sequence_of(remove).zfill(40)


def test_the_same_record_twice_is_applied_once(aggregates: AggregatesWorld) -> None:
    # Given an INSERT that was applied
    insert = record_of("insert.json")
    aggregates.apply(insert)
    before = aggregates.aggregate_item(CUSTOMER)

    # When Lambda delivers it again
    outcome = aggregates.apply(insert)

    # Then it is recognised and nothing changes, not even the aggregate's version
    assert outcome == ["already_applied"]
    assert aggregates.aggregate_item(CUSTOMER) == before


def test_a_batch_retried_after_a_partial_failure_counts_each_change_once(aggregates: AggregatesWorld) -> None:
    # Given a batch whose third record cannot be processed, handled once
    event = {"Records": records_of("batch_with_poison_record.json")}
    first = aggregates.consumer.handle_batch(event, FakeLambdaContext())
    after_first = aggregates.aggregate("cust-stream-2")

    # When Lambda retries (the whole batch, then the half after the poison record once bisected)
    again = aggregates.consumer.handle_batch(event, FakeLambdaContext())
    aggregates.consumer.handle_batch({"Records": event["Records"][3:]}, FakeLambdaContext())
    aggregates.consumer.handle_batch(event, FakeLambdaContext())

    # Then each good change counted once: two orders before the bisect, three after
    assert first == again
    assert after_first == CustomerAggregate(
        2, {"GBP": Decimal("25.50")}, datetime(2025, 11, 23, 10, 0, 2, 200000, tzinfo=UTC)
    )
    assert aggregates.aggregate("cust-stream-2") == CustomerAggregate(
        3, {"GBP": Decimal("44.50")}, datetime(2025, 11, 23, 10, 0, 4, 400000, tzinfo=UTC)
    )


def test_an_older_record_replayed_after_a_newer_one_is_skipped(aggregates: AggregatesWorld) -> None:
    # Given an order inserted and then modified
    insert, modify = record_of("insert.json"), record_of("modify.json")
    aggregates.apply(insert, modify)

    # When the INSERT is replayed afterwards (from the failure queue)
    outcome = aggregates.apply(insert)

    # Then it is superseded and the aggregate still reflects the modification
    assert outcome == ["superseded"]
    assert aggregates.aggregate(CUSTOMER) == CustomerAggregate(1, {"USD": Decimal("23.10")}, MODIFIED_AT)


def test_sequence_numbers_are_compared_as_numbers_not_as_strings(aggregates: AggregatesWorld) -> None:
    # Given a newer record with a longer sequence number ("1000..." < "999..." as strings)
    newer = with_sequence(record_of("modify.json"), "1000000000000000000000000")
    older = with_sequence(record_of("insert.json"), "999999999999999999999999")

    # When the newer one is applied first and the older one after it
    outcomes = aggregates.apply(newer, older)

    # Then the older one is recognised as older
    assert outcomes == ["applied", "superseded"]
    assert aggregates.aggregate(CUSTOMER) == CustomerAggregate(1, {"USD": Decimal("23.10")}, MODIFIED_AT)


def test_a_modify_of_an_order_never_seen_counts_its_new_image(aggregates: AggregatesWorld) -> None:
    # Given an order whose INSERT was never applied
    modify = record_of("modify.json")

    # When its MODIFY arrives
    aggregates.apply(modify)

    # Then the order counts with its new image (the aggregate follows the newest image seen)
    assert aggregates.aggregate(CUSTOMER) == CustomerAggregate(1, {"USD": Decimal("23.10")}, MODIFIED_AT)


def test_a_bad_record_that_a_newer_change_superseded_is_skipped_not_failed(aggregates: AggregatesWorld) -> None:
    # Given an order whose newer change is already applied, and an older record of it without NewImage
    modify = record_of("modify.json")
    broken_insert = record_of("insert.json")
    del broken_insert["dynamodb"]["NewImage"]
    aggregates.apply(modify)

    # When the broken older record comes
    outcome = aggregates.apply(broken_insert)

    # Then it is stale, and its defect no longer matters
    assert outcome == ["superseded"]


def test_a_bad_record_that_is_the_newest_word_on_its_order_fails(aggregates: AggregatesWorld) -> None:
    # Given an INSERT in a currency that is not ISO 4217
    poison = record_of("unknown_currency.json")

    # When it is applied
    with pytest.raises(PermanentError) as raised:
        aggregates.apply(poison)

    # Then it fails with its reason and nothing is written, not even a marker
    assert raised.value.reason == "unknown_currency"
    assert aggregates.marker("cust-stream-4", "ord-5001") is None
    assert aggregates.aggregate("cust-stream-4") is None


class InterferingStore(AggregateStore):
    """Lets another writer change the same customer between the consumer's read and its write, once."""

    def __init__(self, table: Any, interference: Callable[[], object]) -> None:
        super().__init__(table)
        self._interference: Callable[[], object] | None = interference

    def commit(self, commit: Commit) -> None:
        if self._interference is not None:
            interference, self._interference = self._interference, None
            interference()
        super().commit(commit)


def test_a_concurrent_change_of_the_same_customer_is_read_again_not_overwritten(aggregates: AggregatesWorld) -> None:
    # Given the replay tool applies the USD order while the function is applying the EUR order
    eur, usd = records_of("insert.json")
    consumer = AggregateConsumer(
        InterferingStore(aggregates.table, lambda: aggregates.apply(usd)), safety_margin_ms=0
    )

    # When the function commits
    outcome = consumer.process_record(eur)

    # Then its first write is refused, it reads again and both orders count
    assert outcome == "applied"
    assert aggregates.aggregate(CUSTOMER) == CustomerAggregate(
        2, {"EUR": Decimal("21.50"), "USD": Decimal("3.60")}, PEN_ORDER_AT
    )
