"""Properties of the order model over generated input (Hypothesis)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from order_model import parse_order

from lambda_toolkit.errors import PermanentError

identifiers = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}", fullmatch=True)
prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(1_000_000), places=2)
lines = st.fixed_dictionaries({
    "sku": identifiers, "quantity": st.integers(min_value=1, max_value=10_000), "unit_price": prices,
})
orders = st.fixed_dictionaries({
    "customer_id": identifiers, "order_id": identifiers,
    "currency": st.from_regex(r"[A-Z]{3}", fullmatch=True),
    "lines": st.lists(lines, min_size=1, max_size=20),
})
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)



@given(orders)
def test_a_valid_order_round_trips_with_an_exact_total(order: dict[str, Any]) -> None:
    parsed = parse_order(json.dumps(order, default=str))
    expected = sum((line["quantity"] * line["unit_price"] for line in order["lines"]), Decimal(0))
    assert parsed.total == expected
    assert parsed.customer_id == order["customer_id"]
    assert len(parsed.lines) == len(order["lines"])


@given(orders)
def test_the_content_hash_depends_only_on_the_content(order: dict[str, Any]) -> None:
    compact = parse_order(json.dumps(order, default=str, separators=(",", ":")))
    spaced = parse_order(json.dumps(order, default=str, indent=3))
    assert compact.content_hash() == spaced.content_hash()


@given(orders, st.integers(min_value=1, max_value=10_000))
def test_changing_any_quantity_changes_the_content_hash(order: dict[str, Any], quantity: int) -> None:
    changed = {**order, "lines": [{**order["lines"][0], "quantity": quantity}, *order["lines"][1:]]}
    same = quantity == order["lines"][0]["quantity"]
    assert (parse_order(json.dumps(order, default=str)).content_hash()
            == parse_order(json.dumps(changed, default=str)).content_hash()) is same


@settings(max_examples=300)
@given(st.text(max_size=200))
def test_any_text_is_an_order_or_a_permanent_error_never_a_crash(body: str) -> None:
    try:
        parse_order(body)
    except PermanentError as error:
        assert error.reason in {"empty_body", "malformed_json", "not_an_object", "invalid_order"}


@settings(max_examples=300)
@given(json_values)
def test_any_json_document_is_an_order_or_a_permanent_error(document: Any) -> None:
    try:
        parse_order(json.dumps(document))
    except PermanentError as error:
        assert error.reason in {"empty_body", "not_an_object", "invalid_order"}
