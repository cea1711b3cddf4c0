"""Asynchronous invocation (InvocationType Event, and what AWS invokes that way), as Lambda runs it.

Lambda developer guide, invocation-async-error-handling.html and invocation-async-retain-records.html:

- The caller gets 202 at once; the event waits in the function's event queue and is invoked from there.
- A function error (raised, timed out, crashed) is retried twice by default, "with a one-minute wait
  between the first two attempts, and two minutes between the second and third";
  EventInvokeConfig.MaximumRetryAttempts (0-2) lowers that.
- MaximumEventAgeInSeconds (60-21,600, default 6 hours) bounds how long an event may wait: an event
  older than that when an attempt is due is discarded (condition EventAgeExceeded).
- With reserved concurrency 0 "Lambda begins sending new events to the configured dead-letter queue or
  the on-failure event destination, without any retries" (the function never runs: status 429).
- Then OnSuccess / OnFailure destinations (SQS queue, SNS topic, Lambda function) get the invocation
  record; the function's DeadLetterConfig (SQS queue or SNS topic) gets the event only, with RequestID,
  ErrorCode and ErrorMessage attributes. Both apply when both are configured ("in addition to or
  instead of a dead-letter queue"). A record that cannot be delivered is counted
  (destination_delivery_failures, Lambda's DestinationDeliveryFailures) and logged.

The settings are read when an event's attempt is due (``settings_of``; the local cloud reads
GetFunctionEventInvokeConfig from moto, so PutFunctionEventInvokeConfig at run time takes effect, as it
does on AWS). The long delays (the retry waits, the event age) are multiplied by ``time_scale``
(CloudConfig.time_scale), so a test sees a one-minute wait in 0.6 s at 0.01; the order of events and
the count of attempts never change with it. Events still queued when the local cloud stops are lost
(logged): the queue lives in the process that runs the invokers, as Lambda's lives in the service.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

from localcloud.counters import Counters
from localcloud.event_sources.destinations import (
    THROTTLE_ERROR_TYPES,
    AsyncCondition,
    AsyncDestinations,
    DestinationDeliveryError,
    async_invocation_record,
)
from localcloud.runtime.invocation import Invoker, InvokeResult

logger = logging.getLogger("localcloud.async")

DEFAULT_MAXIMUM_RETRY_ATTEMPTS: Final = 2
DEFAULT_MAXIMUM_EVENT_AGE_S: Final = 21_600
# The wait before the 2nd and before the 3rd attempt.
RETRY_DELAYS_S: Final = (60.0, 120.0)
ASYNC_WORKERS: Final = 16


@dataclass(frozen=True)
class AsyncInvokeSettings:
    """A function's asynchronous invocation settings: EventInvokeConfig and DeadLetterConfig."""

    maximum_retry_attempts: int = DEFAULT_MAXIMUM_RETRY_ATTEMPTS
    maximum_event_age_s: int = DEFAULT_MAXIMUM_EVENT_AGE_S
    on_success: str | None = None
    on_failure: str | None = None
    dead_letter_target: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.maximum_retry_attempts <= DEFAULT_MAXIMUM_RETRY_ATTEMPTS:
            raise ValueError(f"MaximumRetryAttempts must be 0-2, not {self.maximum_retry_attempts}")
        if not 60 <= self.maximum_event_age_s <= DEFAULT_MAXIMUM_EVENT_AGE_S:
            raise ValueError(f"MaximumEventAgeInSeconds must be 60-21600, not {self.maximum_event_age_s}")

    @classmethod
    def from_event_invoke_config(cls, config: Mapping[str, Any], *,
                                 dead_letter_target: str | None = None) -> AsyncInvokeSettings:
        """From a GetFunctionEventInvokeConfig answer ({} when the function has none)."""
        destinations = config.get("DestinationConfig") or {}
        return cls(
            maximum_retry_attempts=int(config.get("MaximumRetryAttempts", DEFAULT_MAXIMUM_RETRY_ATTEMPTS)),
            maximum_event_age_s=int(config.get("MaximumEventAgeInSeconds", DEFAULT_MAXIMUM_EVENT_AGE_S)),
            on_success=(destinations.get("OnSuccess") or {}).get("Destination") or None,
            on_failure=(destinations.get("OnFailure") or {}).get("Destination") or None,
            dead_letter_target=dead_letter_target,
        )


@dataclass
class AsyncStats(Counters):
    events_queued: int = 0
    invocations: int = 0
    retries: int = 0
    succeeded: int = 0
    failed: int = 0  # given up on: retries exhausted, too old, or throttled
    events_expired: int = 0  # EventAgeExceeded
    throttled: int = 0
    sent_to_on_success: int = 0
    sent_to_on_failure: int = 0
    sent_to_dead_letter_queue: int = 0
    discarded: int = 0  # failed with neither an OnFailure destination nor a dead-letter queue
    destination_delivery_failures: int = 0


@dataclass
class _Event:
    request_id: str
    function_name: str
    payload: Any
    enqueued: float  # monotonic
    attempts: int = 0
    last_result: InvokeResult | None = None


class AsyncInvoker:
    """The event queues of a local cloud's functions: submit() answers at once, attempts run later."""

    def __init__(
        self,
        invoker: Invoker,
        *,
        settings_of: Callable[[str], AsyncInvokeSettings],
        function_arn_of: Callable[[str], str],
        destinations: AsyncDestinations,
        time_scale: float = 1.0,
        workers: int = ASYNC_WORKERS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._invoker = invoker
        self._settings_of = settings_of
        self._function_arn_of = function_arn_of
        self._destinations = destinations
        self._time_scale = time_scale
        self._clock = clock
        self.stats = AsyncStats()
        self._heap: list[tuple[float, int, _Event]] = []
        self._sequence = itertools.count()
        self._condition = threading.Condition()
        self._stopping = False
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="async-invoke")
        self._scheduler = threading.Thread(target=self._schedule, name="async-scheduler", daemon=True)
        self._scheduler.start()

    def submit(self, function_name: str, event: Any) -> str:
        """Queue an event for the function (InvocationType Event); returns the invoke's request id."""
        queued = _Event(request_id=str(uuid.uuid4()), function_name=function_name, payload=event,
                        enqueued=time.monotonic())
        self.stats.add("events_queued")
        self._push(queued, 0.0)
        return queued.request_id

    def pending(self) -> int:
        with self._condition:
            return len(self._heap)

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            lost = len(self._heap)
            self._heap.clear()
            self._condition.notify_all()
        if lost:
            logger.warning("%d asynchronous event(s) still queued are dropped: the local cloud stops", lost)
        self._scheduler.join(5)
        self._executor.shutdown(wait=True)

    # ---------------------------------------------------------------------------------------------

    def _push(self, queued: _Event, delay_s: float) -> None:
        with self._condition:
            if self._stopping:
                return
            heapq.heappush(self._heap, (time.monotonic() + delay_s, next(self._sequence), queued))
            self._condition.notify()

    def _schedule(self) -> None:
        while True:
            with self._condition:
                while not self._stopping and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._condition.wait(timeout)
                if self._stopping:
                    return
                _, _, due = heapq.heappop(self._heap)
            self._executor.submit(self._attempt, due)

    def _age_s(self, queued: _Event) -> float:
        """How long the event has waited, in AWS seconds (real seconds / time_scale)."""
        return (time.monotonic() - queued.enqueued) / self._time_scale

    def _attempt(self, queued: _Event) -> None:
        try:
            self._run_attempt(queued)
        except Exception:  # a bug here must not take the queue down: the event is given up, loudly
            logger.exception("%s: asynchronous event %s could not be handled", queued.function_name,
                             queued.request_id)

    def _run_attempt(self, queued: _Event) -> None:
        settings = self._settings_of(queued.function_name)
        if self._age_s(queued) > settings.maximum_event_age_s:
            self.stats.add("events_expired")
            self._give_up(queued, settings, AsyncCondition.EVENT_AGE_EXCEEDED)
            return
        result = self._invoke(queued)
        if result.error is None:
            self.stats.add("succeeded")
            if settings.on_success:
                self._deliver_record(queued, settings.on_success, AsyncCondition.SUCCESS, "sent_to_on_success")
            return
        if result.error.get("errorType") in THROTTLE_ERROR_TYPES:
            self.stats.add("throttled")  # reserved concurrency 0: no retries (see the module docstring)
            self._give_up(queued, settings, AsyncCondition.RETRIES_EXHAUSTED)
            return
        if queued.attempts <= settings.maximum_retry_attempts:
            self.stats.add("retries")
            delay_s = RETRY_DELAYS_S[queued.attempts - 1] * self._time_scale
            logger.info("%s: asynchronous invoke %s failed (%s); attempt %d in %.1f s", queued.function_name,
                        queued.request_id, result.error.get("errorType"), queued.attempts + 1, delay_s)
            self._push(queued, delay_s)
            return
        self._give_up(queued, settings, AsyncCondition.RETRIES_EXHAUSTED)

    def _invoke(self, queued: _Event) -> InvokeResult:
        queued.attempts += 1
        self.stats.add("invocations")
        try:
            result = self._invoker.invoke(queued.function_name, queued.payload)
        except Exception as error:  # an invoker that breaks is a failed attempt, as for the pollers
            logger.exception("invoker failed for %s", queued.function_name)
            result = InvokeResult(error={"errorType": type(error).__name__, "errorMessage": str(error),
                                         "stackTrace": []})
        queued.last_result = result
        return result

    def _give_up(self, queued: _Event, settings: AsyncInvokeSettings, condition: AsyncCondition) -> None:
        self.stats.add("failed")
        if settings.on_failure:
            self._deliver_record(queued, settings.on_failure, condition, "sent_to_on_failure")
        if settings.dead_letter_target:
            self._deliver_dead_letter(queued, settings.dead_letter_target)
        if not settings.on_failure and not settings.dead_letter_target:
            self.stats.add("discarded")
            logger.warning("%s: asynchronous event %s discarded (%s) with no OnFailure destination or "
                           "dead-letter queue", queued.function_name, queued.request_id, condition.value)

    def _deliver_record(self, queued: _Event, destination: str, condition: AsyncCondition, counter: str) -> None:
        record = async_invocation_record(
            request_id=queued.request_id,
            function_arn=self._function_arn_of(queued.function_name),
            condition=condition,
            approximate_invoke_count=queued.attempts,
            request_payload=queued.payload,
            last_result=queued.last_result,
            now_epoch_s=self._clock(),
        )
        try:
            self._destinations.send_record(destination, record)
        except DestinationDeliveryError as error:
            self.stats.add("destination_delivery_failures")
            logger.error("%s: invocation record of %s not delivered: %s", queued.function_name,
                         queued.request_id, error)
        else:
            self.stats.add(counter)

    def _deliver_dead_letter(self, queued: _Event, target: str) -> None:
        error = (queued.last_result.error if queued.last_result is not None else None) or {}
        throttled = error.get("errorType") in THROTTLE_ERROR_TYPES
        message = str(error.get("errorMessage") or error.get("errorType") or "the event exceeded its maximum age")
        try:
            self._destinations.send_dead_letter(target, queued.payload, request_id=queued.request_id,
                                                error_code=429 if throttled else 200, error_message=message)
        except DestinationDeliveryError as delivery_error:
            self.stats.add("destination_delivery_failures")
            logger.error("%s: event %s not delivered to its dead-letter queue: %s", queued.function_name,
                         queued.request_id, delivery_error)
        else:
            self.stats.add("sent_to_dead_letter_queue")
