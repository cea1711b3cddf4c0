"""One fan-out item: count the primes in its range, spread over every core the function has.

The item arrives from the Map state's ItemSelector as {"job_id": ..., "item": {"index", "start",
"stop"}}. The range is cut into sub-ranges that lambda_toolkit.parallel_map hands out one at a time
to worker processes (Process + Pipe: Lambda has no /dev/shm, so Pool and ProcessPoolExecutor fail
there). Handing out small sub-ranges dynamically also evens out the cost, which grows with the size
of the numbers (see fanout_prime_sieve).

How many processes: Lambda gives a function CPU in proportion to its memory (1,769 MB = one vCPU)
but shows it at least two cores, so os.cpu_count() overstates what a small function can use. The
worker runs min(visible cores, ceil(memory / 1,769)) processes: one per credited vCPU, rounded up
so that a fractional share is still used, and never more than there are cores to run them on.

Errors (their class name is the Lambda errorType that the state machine's Catch records):
- InvalidItemError: the event is not a valid item (an empty or reversed range included); the same
  item fails the same way on every retry.
- ItemDeadlineError: the sieve would run past the function's timeout; it was stopped in time so the
  failure has a name instead of being a Sandbox.Timedout kill.
- lambda_toolkit.parallel_map.WorkerError: a worker process raised or died; the message carries the
  remote traceback.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fanout_prime_sieve import count_primes_in_range
from lambda_platform import MAX_SAFE_INTEGER, MB_PER_VCPU
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from lambda_toolkit.errors import PermanentError
from lambda_toolkit.observability import MetricUnit, logger, metrics
from lambda_toolkit.parallel_map import DeadlineExceeded, parallel_map
from lambda_toolkit.validation import permanent_error

# Sub-ranges per process: enough that dynamic hand-out evens out uneven costs, few enough that each
# still amortises its own base-prime sieve and the pipe round trip.
SUBRANGES_PER_PROCESS = 8
# A range narrower than this is not worth a sub-range of its own (the work is well under a millisecond).
MIN_SUBRANGE_WIDTH = 1 << 16

Bounds = tuple[int, int]


class InvalidItemError(PermanentError):
    """The item is malformed or its range is empty/reversed: retrying cannot help."""


class ItemDeadlineError(Exception):
    """The item could not finish before the function's deadline; the sieve was stopped in time."""


class ParallelMap(Protocol):
    """The part of lambda_toolkit.parallel_map this worker uses (a test passes its own)."""

    def __call__(
        self,
        func: Callable[[Bounds], int],
        items: Iterable[Bounds],
        *,
        workers: int,
        deadline: float | None = None,
        start_method: str | None = None,
        chunksize: int | None = None,
    ) -> list[int]: ...


class RangeItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    index: Annotated[StrictInt, Field(ge=0)]
    start: Annotated[StrictInt, Field(ge=0, le=MAX_SAFE_INTEGER)]
    stop: Annotated[StrictInt, Field(ge=1, le=MAX_SAFE_INTEGER)]

    @model_validator(mode="after")
    def _non_empty(self) -> RangeItem:
        if self.stop <= self.start:
            raise ValueError(f"the range [{self.start}, {self.stop}) is empty or reversed")
        return self


class WorkerEvent(BaseModel):
    # Extra keys are ignored: the ItemSelector may grow without breaking deployed workers.
    model_config = ConfigDict(extra="ignore", frozen=True)

    job_id: Annotated[str, Field(min_length=1, max_length=128)]
    item: RangeItem


def visible_cores() -> int:
    """Cores this process may run on (the affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def worker_processes(memory_mb: int, cores: int) -> int:
    """min(visible cores, ceil(memory / 1,769 MB)), at least 1: see the module docstring."""
    return max(1, min(cores, math.ceil(memory_mb / MB_PER_VCPU)))


def subranges(start: int, stop: int, processes: int) -> list[Bounds]:
    """[start, stop) cut into contiguous, equal-width pieces (at most SUBRANGES_PER_PROCESS each)."""
    pieces = max(1, min(processes * SUBRANGES_PER_PROCESS, (stop - start) // MIN_SUBRANGE_WIDTH))
    width, extra = divmod(stop - start, pieces)
    bounds: list[Bounds] = []
    low = start
    for piece in range(pieces):
        high = low + width + (1 if piece < extra else 0)
        bounds.append((low, high))
        low = high
    return bounds


def parse_worker_event(event: Any) -> WorkerEvent:
    if not isinstance(event, dict):
        raise InvalidItemError(
            "not_an_object", f"the item event is JSON {type(event).__name__}, not an object"
        )
    try:
        return WorkerEvent.model_validate(event)
    except ValidationError as error:
        raise permanent_error(error, "invalid_item", root="item", error_type=InvalidItemError) from error


@dataclass(frozen=True)
class PrimeRangeWorker:
    safety_margin_ms: int
    start_method: str | None = None
    map_fn: ParallelMap = parallel_map
    clock: Callable[[], float] = time.monotonic

    def handle(
        self, event: Any, *, memory_mb: int, cores: int, remaining_ms: Callable[[], int]
    ) -> dict[str, Any]:
        began = self.clock()
        request = parse_worker_event(event)
        item = request.item
        processes = worker_processes(memory_mb, cores)
        pieces = subranges(item.start, item.stop, processes)
        # An absolute time.monotonic() deadline, as parallel_map wants it (whatever clock times the item).
        deadline = time.monotonic() + (remaining_ms() - self.safety_margin_ms) / 1000
        try:
            counts = self.map_fn(
                count_primes_in_range,
                pieces,
                workers=min(processes, len(pieces)),
                deadline=deadline,
                start_method=self.start_method,
                # One sub-range at a time to whichever process is free: later sub-ranges cost more.
                chunksize=1,
            )
        except DeadlineExceeded as error:
            raise ItemDeadlineError(
                f"item {item.index} [{item.start}, {item.stop}) of job {request.job_id} stopped "
                f"{self.safety_margin_ms} ms before the timeout with {error.finished} of {error.total} "
                f"sub-ranges done; split the job into more items"
            ) from error
        duration_ms = round((self.clock() - began) * 1000, 3)
        result: dict[str, Any] = {
            "status": "SUCCEEDED",
            "job_id": request.job_id,
            "item": item.model_dump(),
            "prime_count": sum(counts),
            "duration_ms": duration_ms,
            "processes": min(processes, len(pieces)),
            "subranges": len(pieces),
            "memory_mb": memory_mb,
        }
        metrics.add_metric(name="FanOutItemMilliseconds", unit=MetricUnit.Milliseconds, value=duration_ms)
        logger.info("Item counted", extra={k: v for k, v in result.items() if k != "status"})
        return result
