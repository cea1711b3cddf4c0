"""What every poller shares: its counters, its backoff after function errors, and a guarded invoke."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from localcloud.counters import Counters
from localcloud.runtime.invocation import DirectLease, InvokeLease, Invoker, InvokeResult, LeasingInvoker

logger = logging.getLogger("localcloud.pollers")

# Lambda refuses an invocation payload over 6 MB (synchronous invoke); a batch stops growing before it.
MAX_BATCH_PAYLOAD_BYTES = 6 * 1024 * 1024


@dataclass
class PollerStats(Counters):
    """Counters of one mapping, for the demo and status output. Thread-safe increments."""

    batches_invoked: int = 0
    records_delivered: int = 0
    batches_failed: int = 0  # the function raised/timed out, or answered so that the whole batch failed
    records_reported_failed: int = 0  # listed in batchItemFailures of a valid partial response
    records_completed: int = 0  # SQS: deleted after success; streams: checkpointed past
    records_filtered_out: int = 0
    retries: int = 0
    bisections: int = 0
    records_sent_to_on_failure: int = 0
    records_discarded: int = 0  # given up on with no OnFailure destination to tell
    records_carried_over: int = 0  # SQS: received, did not fit the batch's payload, put in the next one


@dataclass
class FailureBackoff:
    """After function errors Lambda slows down instead of spinning; success resets it.

    Delays double from ``initial_s`` to ``maximum_s``: short, because a local cloud should recover
    fast once the code is fixed, but long enough that a failing function is not hammered.
    """

    initial_s: float = 0.1
    maximum_s: float = 2.0
    _consecutive_failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def failed(self) -> float:
        """Record a failure; return how long to wait before the next attempt."""
        with self._lock:
            self._consecutive_failures += 1
            return self.current_delay_locked()

    def succeeded(self) -> None:
        with self._lock:
            self._consecutive_failures = 0

    def current_delay(self) -> float:
        with self._lock:
            return self.current_delay_locked()

    def current_delay_locked(self) -> float:
        if self._consecutive_failures == 0:
            return 0.0
        return float(min(self.maximum_s, self.initial_s * 2 ** (self._consecutive_failures - 1)))


@dataclass(frozen=True)
class Invocation:
    request_id: str
    result: InvokeResult


def lease_for(invoker: Invoker, function_name: str) -> InvokeLease | None:
    """A free environment of the function, when the invoker counts them; a direct invoke otherwise."""
    if isinstance(invoker, LeasingInvoker):
        return invoker.try_lease(function_name)
    return DirectLease(invoker, function_name)


def invoke_batch(invoker: Invoker, function_name: str, event: Any, *, lease: InvokeLease | None = None) -> Invocation:
    """Invoke synchronously; an invoker that itself breaks counts as a function error, not a crash.

    A poller thread must outlive any single invoke, as Lambda's pollers do: the batch is retried.
    With ``lease`` the invoke runs in the environment the lease already holds.
    """
    request_id = str(uuid.uuid4())
    started = time.monotonic()
    try:
        result = lease.invoke(event) if lease is not None else invoker.invoke(function_name, event)
    except Exception as error:
        logger.exception("invoker failed for %s", function_name)
        result = InvokeResult(
            error={"errorType": type(error).__name__, "errorMessage": str(error), "stackTrace": []},
            duration_ms=(time.monotonic() - started) * 1000,
        )
    return Invocation(request_id=request_id, result=result)
