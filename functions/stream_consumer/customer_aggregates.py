"""Per-customer order aggregates as pure values: what one order contributes and how a change moves them.

An aggregate is a function of the customer's present orders only: how many there are, the exact sum
of their totals per currency, and the latest ``written_at`` among them. The consumer keeps it up to
date one change at a time (``CustomerAggregate.replaced``); the reconcile tool and the tests compute it
from scratch (``CustomerAggregate.of_orders``). Both go through this one module so that they cannot
disagree about what "the right aggregate" is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow, Rounded
from typing import Any

# DynamoDB numbers hold 38 significant digits. Sums are computed in the same precision and any
# rounding raises instead of silently losing a cent.
MONEY_CONTEXT = Context(prec=38, traps=[Inexact, Rounded, InvalidOperation, Overflow])


class AggregateInvariantError(Exception):
    """The stored aggregate contradicts its order markers (changed by hand?): run the reconcile tool."""


def format_timestamp(moment: datetime) -> str:
    """One fixed-width UTC form, so that stored timestamps also order correctly as strings."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_timestamp(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class OrderContribution:
    """What one present order adds to its customer's aggregate."""

    currency: str
    total: Decimal
    written_at: datetime


def _without_zeros(spent: Mapping[str, Decimal]) -> dict[str, Decimal]:
    # A currency whose orders are all gone has nothing to report; dropping it keeps "no orders in
    # USD" and "0 USD" the same value, so the consumer and the recomputation agree.
    return {currency: amount for currency, amount in sorted(spent.items()) if amount != 0}


@dataclass(frozen=True)
class CustomerAggregate:
    order_count: int = 0
    spent: Mapping[str, Decimal] = field(default_factory=dict)
    last_order_at: datetime | None = None

    @classmethod
    def of_orders(cls, orders: Iterable[OrderContribution]) -> CustomerAggregate:
        count = 0
        spent: dict[str, Decimal] = {}
        latest: datetime | None = None
        for order in orders:
            count += 1
            spent[order.currency] = MONEY_CONTEXT.add(spent.get(order.currency, Decimal(0)), order.total)
            latest = order.written_at if latest is None else max(latest, order.written_at)
        return cls(count, _without_zeros(spent), latest)

    @property
    def is_empty(self) -> bool:
        return self.order_count == 0 and not self.spent and self.last_order_at is None

    def replaced(
        self,
        old: OrderContribution | None,
        new: OrderContribution | None,
        latest_of_other_orders: Callable[[], datetime | None],
    ) -> CustomerAggregate:
        """This aggregate with one order's contribution ``old`` replaced by ``new`` (None = absent).

        ``latest_of_other_orders`` is called only when the order that set ``last_order_at`` goes away
        or moves back in time: then the next latest can only be found among the customer's other
        orders, and that lookup costs a query, so it is not made otherwise.
        """
        count = self.order_count + (new is not None) - (old is not None)
        if count < 0:
            raise AggregateInvariantError(f"removing an order would leave {count} orders")
        spent = dict(self.spent)
        if old is not None:
            spent[old.currency] = MONEY_CONTEXT.subtract(spent.get(old.currency, Decimal(0)), old.total)
        if new is not None:
            spent[new.currency] = MONEY_CONTEXT.add(spent.get(new.currency, Decimal(0)), new.total)
        last = self._last_order_after(old, new, latest_of_other_orders) if count else None
        return CustomerAggregate(count, _without_zeros(spent), last)

    def _last_order_after(
        self,
        old: OrderContribution | None,
        new: OrderContribution | None,
        latest_of_other_orders: Callable[[], datetime | None],
    ) -> datetime | None:
        current = self.last_order_at
        if new is not None and (current is None or new.written_at >= current):
            return new.written_at
        if old is not None and current is not None and old.written_at >= current:
            candidates = [latest_of_other_orders(), None if new is None else new.written_at]
            return max((moment for moment in candidates if moment is not None), default=None)
        return current

    def to_document(self) -> dict[str, Any]:
        """A JSON-ready form for reports and logs (amounts as exact strings)."""
        return {
            "order_count": self.order_count,
            "spent": {currency: str(amount) for currency, amount in self.spent.items()},
            "last_order_at": None if self.last_order_at is None else format_timestamp(self.last_order_at),
        }
