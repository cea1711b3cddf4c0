"""Thread-safe named counters: what pollers, the async event queue and the invokers report to status."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields


@dataclass
class Counters:
    """A dataclass of int fields, incremented by name from any thread; subclasses declare the fields.

    Private fields (a leading underscore) are not counters and stay out of the snapshot.
    """

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False, kw_only=True)

    def add(self, counter: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + amount)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
