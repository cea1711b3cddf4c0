"""A per-thread flag that is set while certain moto calls run (moto serves each request on a thread)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any


class CallFlag:
    """``flag.during(function)`` wraps a function so that ``flag.active`` is True on its thread while it
    runs (nested calls keep it set; it is restored afterwards, also after an error)."""

    def __init__(self) -> None:
        self._local = threading.local()

    @property
    def active(self) -> bool:
        return bool(getattr(self._local, "active", False))

    def during(self, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def flagged(*args: Any, **kwargs: Any) -> Any:
            outer = self.active
            self._local.active = True
            try:
                return function(*args, **kwargs)
            finally:
                self._local.active = outer

        return flagged
