"""ItemsTable stream records -> per-customer aggregates in AggregatesTable, each change applied once.

Idempotency and ordering: every order has a marker holding the SequenceNumber of the newest change
applied to it and the contribution that change left. A record is applied only if its sequence number
is greater than the marker's, in one transaction with the aggregate, both conditioned on what was
read. So a record delivered twice, a batch retried after a partial failure and an older record
replayed after a newer one (from the OnFailure queue) all leave the aggregates as if each change had
been applied once, in order. The contribution subtracted is the one the marker recorded, not the
record's OldImage: the aggregate is always the sum of what the markers say, even if some earlier
record of the order was never applied (it expired, or it is still waiting in the failure queue).

A REMOVE of an order never seen subtracts nothing (its contribution was never added) and leaves a
tombstone marker, so that an older INSERT of that order replayed later is skipped as stale and the
count never goes negative.

Poison records (no NewImage, a malformed image, an unknown currency, bad keys): a PermanentError is
logged with the record's sequence number and keys and the record is FAILED, not skipped. With
stop_on_first_failure Lambda retries from it (MaximumRetryAttempts, bisecting the batch) and then
sends the batch's sequence range to StreamFailureQueue (the OnFailure destination), where an alarm
fires and tools/stream_replay.py can re-apply it once fixed: dropping it silently would make the
aggregates wrong with nobody told. A poison record that a newer change of the same order has already
superseded is stale, and is skipped like any stale record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, Literal

from aggregate_store import AggregateStore, Commit, Snapshot, StoreConflict
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from customer_aggregates import CustomerAggregate, OrderContribution
from order_stream_record import (
    ChangeHeader,
    as_record,
    new_contribution,
    old_contribution,
    read_header,
    sequence_number_of,
)

from lambda_toolkit.batch import BatchOutcome, RemainingTime, process_batch, remaining_time_of
from lambda_toolkit.errors import PermanentError, TransientError
from lambda_toolkit.fault_injection import FaultInjectionConfig, FaultInjector
from lambda_toolkit.observability import MetricUnit, logger, metrics

# "already_applied": this very record was applied before (a redelivery or a retried batch).
# "superseded": a newer change of the order was applied first (an out-of-order replay).
Outcome = Literal["applied", "already_applied", "superseded"]

# Conflicts only arise with another writer of the same customer (the replay tool, or a sibling shard
# after a split); a handful of re-reads settles them, and beyond that Lambda's retry takes over.
MAX_COMMIT_ATTEMPTS = 5


class AggregateConsumer:
    def __init__(self, store: AggregateStore, *, safety_margin_ms: int, faults: FaultInjector | None = None) -> None:
        self._store = store
        self._safety_margin_ms = safety_margin_ms
        # Soak and chaos runs only (lambda_toolkit.fault_injection: off unless enabled, never in prod).
        self._faults = faults or FaultInjector(FaultInjectionConfig())

    def handle_batch(self, event: Mapping[str, Any], context: RemainingTime | None) -> dict[str, Any]:
        records = [DynamoDBRecord(record) for record in event.get("Records", [])]
        outcomes: Counter[str] = Counter()
        remaining_ms = remaining_time_of(context)

        def process(record: DynamoDBRecord) -> None:
            self._faults.before_record(sequence_number_of(record), remaining_ms)
            try:
                outcomes[self.process_record(record)] += 1
            except PermanentError:
                outcomes["poison"] += 1
                raise

        outcome = process_batch(
            records,
            item_id=sequence_number_of,
            process_record=process,
            remaining_ms=remaining_ms,
            safety_margin_ms=self._safety_margin_ms,
            # Lambda checkpoints at the lowest reported sequence number and sends every later record
            # again anyway; applying them now would only do the work twice.
            stop_on_first_failure=True,
        )
        _record_batch_metrics(outcomes, outcome)
        return outcome.partial_batch_response()

    def process_record(self, record: DynamoDBRecord | Mapping[str, Any]) -> Outcome:
        """Apply one stream record (the Lambda event shape) to the aggregates, at most once."""
        stream_record = as_record(record)
        header: ChangeHeader | None = None
        try:
            header = read_header(stream_record)
            return self._apply(stream_record, header)
        except PermanentError as error:
            logger.error(
                "Stream record cannot be processed; failing it for the OnFailure destination",
                extra={
                    "sequence_number": sequence_number_of(stream_record),
                    "eventID": stream_record.get("eventID"),
                    "keys": (stream_record.get("dynamodb") or {}).get("Keys"),
                    **({} if header is None else header.log_keys),
                    "failure": error.to_dict(),
                },
            )
            raise

    def _apply(self, record: DynamoDBRecord, header: ChangeHeader) -> Outcome:
        # Optimistic concurrency: a conflict means another writer got there first, so the next attempt
        # starts from a fresh snapshot (and may find this record stale by then). No backoff: the only
        # other writers are the replay tool and a sibling shard, not a crowd.
        for _attempt in range(MAX_COMMIT_ATTEMPTS):
            try:
                return self._attempt(record, header)
            except StoreConflict as conflict:
                logger.info("Concurrent change; reading again", extra={**header.log_keys, "conflict": str(conflict)})
        raise TransientError(f"record {header.sequence_number} kept conflicting after {MAX_COMMIT_ATTEMPTS} attempts")

    def _attempt(self, record: DynamoDBRecord, header: ChangeHeader) -> Outcome:
        seen = self._store.snapshot(header.customer_id, header.order_id)
        stale = _staleness(seen, header)
        if stale is not None:
            logger.info("Stale stream record skipped", extra={**header.log_keys, "outcome": stale})
            return stale
        # Validated only now, so that a stale record is skipped even when its image is bad.
        new = new_contribution(record, header)
        old = None if seen.marker is None else seen.marker.contribution
        _log_gap(record, header, seen, old)
        self._store.commit(Commit(header, seen, new, self._next_aggregate(header, seen, old, new)))
        logger.debug("Stream record applied", extra=header.log_keys)
        return "applied"

    def _next_aggregate(
        self,
        header: ChangeHeader,
        seen: Snapshot,
        old: OrderContribution | None,
        new: OrderContribution | None,
    ) -> CustomerAggregate | None:
        if old is None and new is None:
            # A REMOVE of an order that never counted: only its tombstone is written.
            return None
        current = CustomerAggregate() if seen.aggregate is None else seen.aggregate.aggregate
        return current.replaced(
            old, new, lambda: self._store.latest_order_time(header.customer_id, header.order_id)
        )


def _staleness(seen: Snapshot, header: ChangeHeader) -> Outcome | None:
    if seen.marker is None or seen.marker.applied_sequence < header.sequence_number:
        return None
    return "already_applied" if seen.marker.applied_sequence == header.sequence_number else "superseded"


def _log_gap(
    record: DynamoDBRecord, header: ChangeHeader, seen: Snapshot, applied: OrderContribution | None
) -> None:
    """Say so when the record's OldImage is not what was applied: some earlier change was never seen."""
    if header.event_name == "INSERT" or seen.marker is None:
        return
    previous = old_contribution(record, header)
    if previous != applied:
        logger.warning(
            "OldImage differs from the last applied change; replacing what was applied",
            extra={**header.log_keys, "applied_sequence": str(seen.marker.applied_sequence),
                   "applied": None if applied is None else str(applied), "old_image": str(previous)},
        )


def _record_batch_metrics(outcomes: Counter[str], outcome: BatchOutcome) -> None:
    metrics.add_metric(name="RecordsApplied", unit=MetricUnit.Count, value=outcomes["applied"])
    metrics.add_metric(
        name="StaleRecordsSkipped",
        unit=MetricUnit.Count,
        value=outcomes["already_applied"] + outcomes["superseded"],
    )
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=len(outcome.failures) - outcome.unreached)
    metrics.add_metric(name="PoisonRecords", unit=MetricUnit.Count, value=outcomes["poison"])
    if outcome.stopped_early:
        metrics.add_metric(name="RecordsUnreached", unit=MetricUnit.Count, value=outcome.unreached)
