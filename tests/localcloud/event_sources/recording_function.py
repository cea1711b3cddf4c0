"""Small in-process test functions for the poller contract tests, and a bounded wait.

A RecordingFunction is an Invoker: it records every event it is given (as JSON, so the test sees what
crossed the wire), how many invokes ran at once, and answers with what its behaviour returns, or
with Lambda's error shape when the behaviour raises.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from localcloud.runtime.invocation import InvokeResult

Behaviour = Callable[[dict[str, Any]], Any]


def succeed(_event: dict[str, Any]) -> Any:
    return None


@dataclass
class Invoke:
    function_name: str
    event: dict[str, Any]
    started: float
    finished: float = 0.0
    failed: bool = False


@dataclass
class RecordingFunction:
    behaviour: Behaviour = succeed
    invokes: list[Invoke] = field(default_factory=list)
    max_concurrent: int = 0
    _active: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def invoke(self, function_name: str, event: Any) -> InvokeResult:
        call = Invoke(function_name, json.loads(json.dumps(event)), started=time.monotonic())
        with self._lock:
            self.invokes.append(call)
            self._active += 1
            self.max_concurrent = max(self.max_concurrent, self._active)
        try:
            payload = self.behaviour(call.event)
        except Exception as error:
            call.failed = True
            return InvokeResult(error={"errorType": type(error).__name__, "errorMessage": str(error),
                                       "stackTrace": traceback.format_exception(error)})
        finally:
            call.finished = time.monotonic()
            with self._lock:
                self._active -= 1
        return InvokeResult(payload=json.loads(json.dumps(payload)))

    # What the tests look at -------------------------------------------------------------------

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [call.event for call in self.invokes]

    @property
    def batches(self) -> list[list[dict[str, Any]]]:
        return [event["Records"] for event in self.events]

    def bodies(self) -> list[list[str]]:
        return [[record["body"] for record in batch] for batch in self.batches]

    def delivered_bodies(self) -> list[str]:
        return [body for batch in self.bodies() for body in batch]

    def keys(self) -> list[list[str]]:
        """Stream batches as the `pk` string of each record."""
        return [[record["dynamodb"]["Keys"]["pk"]["S"] for record in batch] for batch in self.batches]


class PoisonError(Exception):
    """What a test function raises for a record it cannot process."""


def wait_until(predicate: Callable[[], bool], *, timeout_s: float, what: str, interval_s: float = 0.05) -> None:
    """Wait for a condition, failing with a message that says what never happened."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval_s)
    if not predicate():
        raise AssertionError(f"within {timeout_s} s: {what}")


def hold_still(seconds: float) -> None:
    """Give the poller time to do something it must NOT do (a negative check), then look."""
    time.sleep(seconds)
