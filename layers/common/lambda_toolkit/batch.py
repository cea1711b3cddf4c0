"""Deadline-aware batch processing with partial batch responses.

Lambda fails the WHOLE batch when a function times out, so a batch that would run past the deadline
must stop early and report what it did not reach as failed: those records come back (SQS after the
visibility timeout, streams from the checkpoint) and the ones already done are not redone.

``process_batch`` is generic over the record type and takes its dependencies as arguments (the
record id, the per-record work, the clock), so SQS and DynamoDB Streams consumers share it and tests
drive it without patching.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from lambda_toolkit.observability import logger

RecordT = TypeVar("RecordT")


class RemainingTime(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True)
class RecordFailure:
    item_id: str
    error: str
    unreached: bool = False


@dataclass
class BatchOutcome:
    succeeded: list[str] = field(default_factory=list)
    failures: list[RecordFailure] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def failed_item_ids(self) -> list[str]:
        return [failure.item_id for failure in self.failures]

    @property
    def unreached(self) -> int:
        return sum(1 for failure in self.failures if failure.unreached)

    def partial_batch_response(self) -> dict[str, list[dict[str, str]]]:
        """The ReportBatchItemFailures response: an empty list means every record succeeded."""
        return {"batchItemFailures": [{"itemIdentifier": item_id} for item_id in self.failed_item_ids]}


def process_batch(
    records: Sequence[RecordT],
    *,
    item_id: Callable[[RecordT], str],
    process_record: Callable[[RecordT], Any],
    remaining_ms: Callable[[], int],
    safety_margin_ms: int,
    stop_on_first_failure: bool = False,
) -> BatchOutcome:
    """Process records in order; report failed and unreached records by id.

    - Before each record, if less than ``safety_margin_ms`` remains, stop and report this record and
      all later ones as unreached (failed), so the invocation ends before Lambda kills it.
    - ``stop_on_first_failure``: for streams (Lambda checkpoints at the lowest reported sequence
      number, so records after a failure come again anyway) and FIFO queues (order must hold), stop at
      the first failure and report it and every later record.
    - Any exception from ``process_record`` fails only that record; it is logged with the item id.
    """
    outcome = BatchOutcome()
    for index, record in enumerate(records):
        record_id = item_id(record)
        left = remaining_ms()
        if left < safety_margin_ms:
            _report_rest(outcome, records[index:], item_id, f"deadline: {left} ms left", unreached=True)
            outcome.stopped_early = True
            logger.warning(
                "Stopping before the deadline",
                extra={"remaining_ms": left, "safety_margin_ms": safety_margin_ms,
                       "unreached": len(records) - index, "first_unreached": record_id},
            )
            break
        try:
            process_record(record)
        except Exception as error:  # noqa: BLE001 - one bad record must not fail its neighbours
            logger.exception("Record failed", extra={"item_id": record_id, "error": repr(error)})
            outcome.failures.append(RecordFailure(record_id, repr(error)))
            if stop_on_first_failure:
                _report_rest(outcome, records[index + 1:], item_id, "after an earlier failure", unreached=True)
                outcome.stopped_early = True
                break
        else:
            outcome.succeeded.append(record_id)
    return outcome


def _report_rest(
    outcome: BatchOutcome,
    rest: Iterable[RecordT],
    item_id: Callable[[RecordT], str],
    why: str,
    *,
    unreached: bool,
) -> None:
    outcome.failures.extend(RecordFailure(item_id(record), why, unreached=unreached) for record in rest)


def remaining_time_of(context: RemainingTime | None) -> Callable[[], int]:
    """A clock for process_batch from a Lambda context; without one, no deadline applies."""
    if context is None:
        return lambda: 2**31
    return context.get_remaining_time_in_millis


def deadline_clock(deadline_epoch_s: float, clock: Callable[[], float] = time.time) -> Callable[[], int]:
    """A remaining-time clock for an absolute deadline (tests and local tooling)."""
    return lambda: int((deadline_epoch_s - clock()) * 1000)
