"""Module-level functions for parallel_map tests: forkserver and spawn workers import them by name."""

from __future__ import annotations

import os
import time
from typing import Any

FAILING_ITEM = 7


def square(value: int) -> int:
    return value * value


def fail_on_seven(value: int) -> int:
    if value == FAILING_ITEM:
        raise ValueError(f"refusing item {value}")
    return value


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def die_abruptly(value: int) -> int:
    # Skips every cleanup, as an out-of-memory kill would.
    os._exit(3)


def unpicklable_result(value: int) -> Any:
    return lambda: value


def worker_pid(value: int) -> int:
    time.sleep(0.05)
    return os.getpid()
