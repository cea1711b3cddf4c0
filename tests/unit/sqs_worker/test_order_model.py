from __future__ import annotations

import json
from decimal import Decimal

import pytest
from order_model import parse_order

from lambda_toolkit.errors import PermanentError

VALID = {
    "customer_id": "cust-1",
    "order_id": "ord-1",
    "currency": "EUR",
    "lines": [{"sku": "SKU-A", "quantity": 3, "unit_price": 1.1}, {"sku": "SKU-B", "quantity": 1, "unit_price": "0.2"}],
}


def test_a_valid_body_becomes_an_order_with_an_exact_total() -> None:
    # Given a valid body whose prices are not exact in binary floating point
    body = json.dumps(VALID)

    # When it is parsed
    order = parse_order(body)

    # Then the total is exact to the cent
    assert order.total == Decimal("3.50")
    assert order.idempotency_key == "cust-1#ord-1"


def test_the_content_hash_tells_redelivery_from_conflicting_reuse() -> None:
    # Given the same order twice and an order reusing the id with other lines
    same = parse_order(json.dumps(VALID))
    again = parse_order(json.dumps(VALID, indent=4))
    other = parse_order(json.dumps({**VALID, "lines": [{"sku": "SKU-A", "quantity": 4, "unit_price": 1.1}]}))

    # Then the hash ignores formatting and sees the content
    assert same.content_hash() == again.content_hash()
    assert same.content_hash() != other.content_hash()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "empty_body"),
        ("   \n", "empty_body"),
        ('{"customer_id": "c", "order_id"', "malformed_json"),
        ("[1, 2]", "not_an_object"),
        ('"an order"', "not_an_object"),
        (json.dumps({**VALID, "currency": "eur"}), "invalid_order"),
        (json.dumps({**VALID, "lines": []}), "invalid_order"),
        (json.dumps({**VALID, "coupon": "FREE"}), "invalid_order"),
        (json.dumps({k: v for k, v in VALID.items() if k != "customer_id"}), "invalid_order"),
        (json.dumps({**VALID, "lines": [{"sku": "S", "quantity": "3", "unit_price": 1}]}), "invalid_order"),
        (json.dumps({**VALID, "lines": [{"sku": "S", "quantity": 2.5, "unit_price": 1}]}), "invalid_order"),
        (json.dumps({**VALID, "lines": [{"sku": "S", "quantity": 1, "unit_price": 1.005}]}), "invalid_order"),
        (json.dumps({**VALID, "lines": [{"sku": "S", "quantity": 1, "unit_price": -4}]}), "invalid_order"),
        (json.dumps({**VALID, "lines": [{"sku": "S", "quantity": 1, "unit_price": 1e30}]}), "invalid_order"),
        ('{"customer_id": "c", "order_id": "o", "currency": "EUR", "lines": [{"sku": "S", "quantity": 1, '
         '"unit_price": NaN}]}', "invalid_order"),
    ],
)
def test_every_kind_of_bad_body_gets_a_permanent_error_with_its_reason(body: str, reason: str) -> None:
    # When a bad body is parsed
    with pytest.raises(PermanentError) as raised:
        parse_order(body)

    # Then the error says why, in a form a DLQ attribute and a log line can carry
    assert raised.value.reason == reason
    assert raised.value.message
    assert raised.value.to_dict()["reason"] == reason


def test_a_schema_error_names_the_offending_field() -> None:
    # Given an order with a negative quantity on its second line
    bad = {**VALID, "lines": [VALID["lines"][0], {"sku": "SKU-B", "quantity": -1, "unit_price": 1}]}

    # When it is parsed
    with pytest.raises(PermanentError) as raised:
        parse_order(json.dumps(bad))

    # Then the details point at lines.1.quantity
    assert [problem["field"] for problem in raised.value.details] == ["lines.1.quantity"]
