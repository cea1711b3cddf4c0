"""The order carried in each WorkQueue message body, and how a body becomes one.

Every way a body can be wrong ends in a PermanentError with a reason code, because the same body will
fail the same way on every retry: it belongs in the dead-letter queue with its reason, not in a retry
loop.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from lambda_toolkit.errors import PermanentError
from lambda_toolkit.validation import permanent_error

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
# Money is exact: JSON numbers are parsed as Decimal and at most two decimal places are accepted.
Money = Annotated[Decimal, Field(gt=Decimal(0), le=Decimal(1_000_000), max_digits=12, decimal_places=2)]

MAX_LINES = 100


class OrderLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: Identifier
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000)]
    unit_price: Money

    @property
    def amount(self) -> Decimal:
        return self.quantity * self.unit_price


class Order(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: Identifier
    order_id: Identifier
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=MAX_LINES)]

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0)).quantize(Decimal("0.01"))

    @property
    def idempotency_key(self) -> str:
        return f"{self.customer_id}#{self.order_id}"

    def content_hash(self) -> str:
        """Identifies what was ordered, so a redelivery can be told from a conflicting reuse of the id."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def parse_order(body: str | None) -> Order:
    """A message body -> Order, or a PermanentError whose reason says what is wrong."""
    if body is None or not body.strip():
        raise PermanentError("empty_body", "the message body is empty")
    try:
        document = json.loads(body, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise PermanentError(
            "malformed_json", f"the body is not JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from error
    except RecursionError as error:
        # Deeply nested arrays or objects exhaust the decoder's stack; no order is nested like that.
        raise PermanentError("malformed_json", "the body is nested too deeply to be an order") from error
    if not isinstance(document, dict):
        raise PermanentError("not_an_object", f"the body is JSON {type(document).__name__}, not an object")
    try:
        return Order.model_validate(document)
    except ValidationError as error:
        raise permanent_error(error, "invalid_order", root="order") from error
