"""Regenerate order_bodies.json (the two near-256 KiB bodies are too big to write by hand).

    python tests/data/bad_inputs/make_order_bodies.py
"""

from __future__ import annotations

import json
from pathlib import Path

SQS_MAX_BYTES = 262_144
VALID = {"customer_id": "cust-1", "order_id": "ord-1", "currency": "EUR",
         "lines": [{"sku": "SKU-A", "quantity": 1, "unit_price": 1.5}]}
ONE = '{"customer_id":"c","order_id":"o","currency":"EUR","lines":[{"sku":"S","quantity":1,"unit_price":%s}]}'


def d(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def with_line(**line: object) -> str:
    return d({**VALID, "lines": [{"sku": "S", "quantity": 1, "unit_price": 1, **line}]})


CASES = [
    ("truncated_json", d(VALID)[:40], "malformed_json"),
    ("trailing_garbage", d(VALID) + "}", "malformed_json"),
    ("utf8_bom_prefix", "\ufeff" + d(VALID), "malformed_json"),
    ("deeply_nested_arrays", "[" * 100_000 + "]" * 100_000, "malformed_json"),
    ("empty_body", "", "empty_body"),
    ("whitespace_body", " \t\r\n", "empty_body"),
    ("json_null", "null", "not_an_object"),
    ("json_array", d([VALID]), "not_an_object"),
    ("json_string", d(d(VALID)), "not_an_object"),
    ("customer_id_number", d({**VALID, "customer_id": 42}), "invalid_order"),
    ("quantity_string", with_line(quantity="1"), "invalid_order"),
    ("quantity_bool", with_line(quantity=True), "invalid_order"),
    ("quantity_fraction", with_line(quantity=1.5), "invalid_order"),
    ("quantity_overflow", with_line(quantity=10**30), "invalid_order"),
    ("negative_price", with_line(unit_price=-0.01), "invalid_order"),
    ("zero_price", with_line(unit_price=0), "invalid_order"),
    ("overflowing_price", ONE % "1e400", "invalid_order"),
    ("infinity_price", ONE % "Infinity", "invalid_order"),
    ("nan_price", ONE % "NaN", "invalid_order"),
    ("sub_cent_price", with_line(unit_price="0.001"), "invalid_order"),
    ("missing_lines", d({k: v for k, v in VALID.items() if k != "lines"}), "invalid_order"),
    ("missing_everything", "{}", "invalid_order"),
    ("extra_key", d({**VALID, "discount": "100%"}), "invalid_order"),
    ("extra_line_key", with_line(gift=True), "invalid_order"),
    ("lowercase_currency", d({**VALID, "currency": "eur"}), "invalid_order"),
    ("emoji_customer_id", d({**VALID, "customer_id": "cust-\U0001f600"}), "invalid_order"),
    ("rtl_override_sku", with_line(sku="SKU\u202eA"), "invalid_order"),
    ("fullwidth_digits_order_id", d({**VALID, "order_id": "\uff11\uff12\uff13"}), "invalid_order"),
    ("lone_surrogate_order_id", ONE.replace('"o"', '"\\ud800"') % "1", "invalid_order"),
    ("nul_in_customer_id", d({**VALID, "customer_id": "cust\u0000"}), "invalid_order"),
    ("too_many_lines_near_256kb",
     d({**VALID, "lines": [{"sku": f"SKU-{i:06d}", "quantity": 1, "unit_price": 1.25} for i in range(4400)]}),
     "invalid_order"),
    ("huge_sku_near_256kb", with_line(sku="S" * 250_000), "invalid_order"),
]


def main() -> None:
    cases = []
    for name, body, reason in CASES:
        size = len(body.encode("utf-8", "surrogatepass"))
        assert size <= SQS_MAX_BYTES, f"{name} is {size} bytes, more than SQS accepts"
        cases.append({"name": name, "body": body, "reason": reason, "bytes": size})
    document = {
        "description": "WorkQueue message bodies that must be dead-lettered with the given failure_reason; "
                       "each is at most 256 KiB, the SQS message size limit.",
        "cases": cases,
    }
    (Path(__file__).parent / "order_bodies.json").write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
