"""Raises for every event: a handled function error (Lambda reports its type and message)."""

from __future__ import annotations

from typing import Any


class OrderRejectedError(Exception):
    pass


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise OrderRejectedError(f"rejected: {event.get('reason', 'no reason')}")
