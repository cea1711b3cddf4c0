"""Bounded waits for things the local cloud does in the background."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(probe: Callable[[], T], *, timeout_s: float, what: str, interval_s: float = 0.2) -> T:
    """Call ``probe`` until it returns something truthy; fail saying what never happened."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"within {timeout_s} s: {what} (last value {value!r})")
        time.sleep(interval_s)
