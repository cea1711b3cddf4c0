"""How many batches an SQS mapping runs at once, as Lambda scales its pollers (services-sqs-scaling).

"When messages are available, Lambda starts processing five batches at a time with five concurrent
invocations of your function. If messages are still available, Lambda increases the number of
processes that are reading batches by up to 300 more instances per minute. The maximum number of
batches that an event source mapping can process simultaneously is 1,000. When traffic is low, Lambda
scales back the processing to five concurrent batches" (lambda/latest/dg/services-sqs-scaling.html).
ScalingConfig.MaximumConcurrency (2-1,000) caps the same scaling.

Emulated as steps: while every slot is busy and messages still wait in the queue (a backlog), each
full minute adds 300 slots, up to the cap; a minute without a backlog returns to the starting five.
A minute is ``60 s x time_scale`` (CloudConfig.time_scale), so tests see the steps in a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

INITIAL_CONCURRENCY: Final = 5
SCALE_STEP: Final = 300
SCALE_PERIOD_S: Final = 60.0
MAXIMUM_CONCURRENCY: Final = 1_000


class ConcurrencyScaler:
    """The current number of concurrent batches of one mapping; thread-safe."""

    def __init__(self, maximum_concurrency: int | None, *, time_scale: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cap = maximum_concurrency or MAXIMUM_CONCURRENCY
        self.initial = min(INITIAL_CONCURRENCY, self.cap)
        self._period_s = SCALE_PERIOD_S * time_scale
        self._clock = clock
        self._lock = threading.Lock()
        self._limit = self.initial
        self._backlog_since: float | None = None
        self._quiet_since: float | None = None

    @property
    def limit(self) -> int:
        with self._lock:
            return self._limit

    def observe_saturated(self, *, messages_waiting: bool) -> int:
        """Every slot is busy; are messages still waiting? Returns the limit to use from now on.

        A backlog lasts until the poller finds the queue empty (observe_idle) or saturated without
        messages waiting; batches finishing and new ones starting in between do not end it.
        """
        now = self._clock()
        with self._lock:
            if not messages_waiting:
                self._backlog_since = None
                return self._limit
            self._quiet_since = None
            if self._backlog_since is None:
                self._backlog_since = now
            elif now - self._backlog_since >= self._period_s and self._limit < self.cap:
                self._limit = min(self.cap, self._limit + SCALE_STEP)
                self._backlog_since = now  # the next step takes another full minute of backlog
            return self._limit

    def observe_idle(self) -> int:
        """A receive found nothing: no backlog; a minute of that scales back to the initial five."""
        now = self._clock()
        with self._lock:
            self._backlog_since = None
            if self._limit > self.initial:
                if self._quiet_since is None:
                    self._quiet_since = now
                elif now - self._quiet_since >= self._period_s:
                    self._limit, self._quiet_since = self.initial, None
            return self._limit


class Slots:
    """A counting semaphore whose size can change (the scaler's limit); acquire never exceeds it."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._in_use = 0
        self._condition = threading.Condition()

    @property
    def in_use(self) -> int:
        with self._condition:
            return self._in_use

    def set_limit(self, limit: int) -> None:
        with self._condition:
            self._limit = limit
            self._condition.notify_all()

    def acquire(self, timeout: float) -> bool:
        with self._condition:
            if not self._condition.wait_for(lambda: self._in_use < self._limit, timeout):
                return False
            self._in_use += 1
            return True

    def release(self) -> None:
        with self._condition:
            self._in_use -= 1
            self._condition.notify()
