"""Every way a stream record can be unusable ends in a PermanentError with its reason."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from order_stream_record import as_record, new_contribution, old_contribution, read_header

from lambda_toolkit.errors import PermanentError
from tests.unit.stream_consumer.conftest import record_of

Mutation = Callable[[dict[str, Any]], None]


def new_image(record: dict[str, Any]) -> dict[str, Any]:
    image: dict[str, Any] = record["dynamodb"]["NewImage"]
    return image


def test_a_good_insert_gives_its_order_and_exact_contribution() -> None:
    # Given the first INSERT of insert.json
    record = as_record(record_of("insert.json"))

    # When it is read
    header = read_header(record)
    contribution = new_contribution(record, header)

    # Then the keys, the sequence number (as a number) and the exact total come out
    assert (header.customer_id, header.order_id, header.event_name) == ("cust-stream-1", "ord-3001", "INSERT")
    assert header.sequence_number == 4421584500000000017450439091
    assert contribution is not None
    assert (contribution.currency, contribution.total) == ("EUR", Decimal("21.50"))
    assert contribution.written_at == datetime(2025, 11, 23, 9, 41, 7, 512345, tzinfo=UTC)


def test_a_remove_needs_no_image_and_its_old_image_is_read_for_diagnostics() -> None:
    # Given a REMOVE record
    record = as_record(record_of("remove.json"))

    # When it is read
    header = read_header(record)

    # Then it contributes nothing afterwards, and what it says it removed is readable
    assert new_contribution(record, header) is None
    previous = old_contribution(record, header)
    assert previous is not None and previous.total == Decimal("23.10")


def _drop(*path: str) -> Mutation:
    def mutate(record: dict[str, Any]) -> None:
        target = record
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


def _set_image(name: str, value: dict[str, Any]) -> Mutation:
    return lambda record: new_image(record).__setitem__(name, value)


def _set(path: tuple[str, ...], value: Any) -> Mutation:
    def mutate(record: dict[str, Any]) -> None:
        target = record
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


@pytest.mark.parametrize(
    ("mutation", "reason"),
    [
        (_drop("dynamodb", "NewImage"), "missing_newimage"),
        (_set_image("currency", {"S": "ZZZ"}), "unknown_currency"),
        (_set_image("currency", {"S": "eur"}), "unknown_currency"),
        (_drop("dynamodb", "NewImage", "currency"), "unknown_currency"),
        (_set_image("total", {"S": "21.50"}), "malformed_image"),
        (_set_image("total", {"N": "-1"}), "malformed_image"),
        (_set_image("total", {"N": "NaN"}), "malformed_image"),
        (_set_image("total", {"N": "0.0000001"}), "malformed_image"),
        (_set_image("total", {"X": "1"}), "malformed_image"),
        (_drop("dynamodb", "NewImage", "total"), "malformed_image"),
        (_set_image("written_at", {"S": "2025-11-23T09:41:07"}), "malformed_image"),
        (_set_image("written_at", {"S": "yesterday"}), "malformed_image"),
        (_set_image("written_at", {"N": "1763890867"}), "malformed_image"),
        (_set_image("order_id", {"S": "ord-other"}), "key_mismatch"),
        (_drop("dynamodb", "Keys", "order_id"), "malformed_keys"),
        (_set(("dynamodb", "Keys", "order_id"), {"N": "3001"}), "malformed_keys"),
        (_set(("dynamodb", "SequenceNumber"), "44215845-0001"), "bad_sequence_number"),
        (_set(("dynamodb", "SequenceNumber"), "1" * 41), "bad_sequence_number"),
        (_drop("dynamodb", "SequenceNumber"), "bad_sequence_number"),
        (_set(("eventName",), "UPSERT"), "unknown_event_name"),
    ],
)
def test_every_kind_of_unusable_record_gets_a_permanent_error_with_its_reason(mutation: Mutation, reason: str) -> None:
    # Given a good INSERT spoilt in one way
    raw = copy.deepcopy(record_of("insert.json"))
    mutation(raw)
    record = as_record(raw)

    # When it is read
    with pytest.raises(PermanentError) as raised:
        new_contribution(record, read_header(record))

    # Then the error names the reason, in a form a log line can carry
    assert raised.value.reason == reason
    assert raised.value.to_dict()["reason"] == reason


def test_other_attributes_of_the_item_are_not_the_consumers_business() -> None:
    # Given an INSERT whose image has extra attributes and no lines at all
    raw = copy.deepcopy(record_of("insert.json"))
    del new_image(raw)["lines"]
    new_image(raw)["gift_wrap"] = {"BOOL": True}
    record = as_record(raw)

    # When it is read, Then it still gives its contribution
    assert new_contribution(record, read_header(record)) is not None
