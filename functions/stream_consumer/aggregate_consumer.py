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

Folding (what a batch costs): a batch's records are grouped per customer, in stream order, and each
group is applied with ONE strongly consistent BatchGetItem (the aggregate and the markers of the group's
orders) and ONE TransactWriteItems (each changed order's final marker, and the aggregate once), instead
of a TransactGetItems and a TransactWriteItems per record. Within the group the records are applied in
memory one after another with the same rules, so duplicates, stale records and several changes of one
order in one batch come out as they did one by one. A group holds at most MAX_ORDERS_PER_COMMIT orders
(DynamoDB's 100 items per transaction, one being the aggregate); a customer with more is split into
consecutive groups.

Partial batch semantics with folding: the batch is cut at its first record that cannot be applied,
and the cut record and every later one are reported. Every group is read and folded before any is
written, so a poison record cuts the batch before anything commits: each group then commits only its
records before the cut, as one by one. A group whose read or transaction fails (or that the deadline
stops) cuts the batch at its first record. Only a cut found while committing (an injected fault, a
failed transaction, a record found poison after a conflict's re-read) can leave earlier groups holding
records after it applied; those come again with the rest and are skipped as already applied, so
nothing is applied twice and no order's changes are applied out of order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from aggregate_store import AggregateStore, Commit, MarkerChange, OrderMarker, Snapshot, StoreConflict
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

from lambda_toolkit.batch import BatchOutcome, RecordFailure, RemainingTime, remaining_time_of
from lambda_toolkit.errors import PermanentError, TransientError
from lambda_toolkit.fault_injection import FaultInjectionConfig, FaultInjector
from lambda_toolkit.observability import MetricUnit, logger, metrics

# "already_applied": this very record was applied before (a redelivery or a retried batch).
# "superseded": a newer change of the order was applied first (an out-of-order replay).
Outcome = Literal["applied", "already_applied", "superseded"]

# Conflicts only arise with another writer of the same customer (the replay tool, or a sibling shard
# after a split); a handful of re-reads settles them, and beyond that Lambda's retry takes over.
MAX_COMMIT_ATTEMPTS = 5
# TransactWriteItems and BatchGetItem take at most 100 items: the aggregate and this many markers.
MAX_ORDERS_PER_COMMIT = 99


@dataclass(frozen=True)
class _Pending:
    """A record of the batch, its place in it and its parsed header."""

    index: int
    record: DynamoDBRecord
    header: ChangeHeader


@dataclass
class _Fold:
    """A group's records applied in memory to what was read: the commit to make and each outcome."""

    markers: dict[str, OrderMarker | None]
    aggregate: CustomerAggregate | None
    changes: dict[str, MarkerChange] = field(default_factory=dict)
    aggregate_changed: bool = False
    announce: bool = True
    outcomes: list[Outcome] = field(default_factory=list)
    # (index in the batch, error) of the record the fold stopped at.
    failure: tuple[int, Exception] | None = None


@dataclass
class _BatchRun:
    """Where the batch is cut (the first record not applied) and why."""

    size: int
    cut: int
    error: str = ""
    unreached: bool = False
    outcomes: Counter[str] = field(default_factory=Counter)

    def cut_at(self, index: int, error: str, *, unreached: bool = False) -> None:
        if index < self.cut:
            self.cut, self.error, self.unreached = index, error, unreached


class AggregateConsumer:
    def __init__(self, store: AggregateStore, *, safety_margin_ms: int, faults: FaultInjector | None = None) -> None:
        self._store = store
        self._safety_margin_ms = safety_margin_ms
        # Soak and chaos runs only (lambda_toolkit.fault_injection: off unless enabled, never in prod).
        self._faults = faults or FaultInjector(FaultInjectionConfig())

    def handle_batch(self, event: Mapping[str, Any], context: RemainingTime | None) -> dict[str, Any]:
        records = [DynamoDBRecord(record) for record in event.get("Records", [])]
        remaining_ms = remaining_time_of(context)
        run = _BatchRun(size=len(records), cut=len(records))
        # First every group is read and folded without writing, so that the cut (the first record that
        # cannot be applied, whichever customer it belongs to) is known before anything is committed:
        # then no record after it is applied now, as one by one.
        planned = self._plan(_groups(self._headers(records, run)), run, remaining_ms)
        for group, seen in planned:
            items = [item for item in group if item.index < run.cut]
            if not items or not self._before_deadline(items[0], run, remaining_ms):
                break  # planned groups come in the order of their first record
            self._commit_group(self._with_faults(items, run, remaining_ms), seen, run)
        outcome = _batch_outcome(records, run)
        _record_batch_metrics(run.outcomes, outcome)
        return outcome.partial_batch_response()

    def process_record(self, record: DynamoDBRecord | Mapping[str, Any]) -> Outcome:
        """Apply one stream record (the Lambda event shape) to the aggregates, at most once."""
        stream_record = as_record(record)
        try:
            header = read_header(stream_record)
        except PermanentError as error:
            _log_poison(stream_record, None, error)
            raise
        fold = self._apply([_Pending(0, stream_record, header)])
        if fold.failure is not None:
            raise fold.failure[1]
        return fold.outcomes[0]

    def _headers(self, records: Sequence[DynamoDBRecord], run: _BatchRun) -> list[_Pending]:
        """Every record's header up to the first that has none (it cuts the batch: no order to tell)."""
        pending: list[_Pending] = []
        for index, record in enumerate(records):
            try:
                pending.append(_Pending(index, record, read_header(record)))
            except PermanentError as error:
                _log_poison(record, None, error)
                run.outcomes["poison"] += 1
                run.cut_at(index, repr(error))
                break
        return pending

    def _plan(
        self, groups: list[list[_Pending]], run: _BatchRun, remaining_ms: Callable[[], int]
    ) -> list[tuple[list[_Pending], Snapshot | None]]:
        """Each group with what was read for it, up to the cut that reading and folding them finds.

        A customer's second group (more orders than one transaction holds) is read again when it
        commits (None here): the first group's commit changes its aggregate in between.
        """
        planned: list[tuple[list[_Pending], Snapshot | None]] = []
        customers: set[str] = set()
        for group in groups:
            if group[0].index >= run.cut or not self._before_deadline(group[0], run, remaining_ms):
                break
            try:
                seen = self._store.snapshot(group[0].header.customer_id, {item.header.order_id for item in group})
                fold = self._fold(seen, [item for item in group if item.index < run.cut], announce=False)
            except Exception as error:  # noqa: BLE001 - a failed read cuts the batch at the group's first record
                logger.exception("Customer group failed", extra={"item_id": sequence_number_of(group[0].record)})
                run.cut_at(group[0].index, repr(error))
                break
            if fold.failure is not None:
                index, failure = fold.failure
                run.outcomes["poison"] += isinstance(failure, PermanentError)
                run.cut_at(index, repr(failure))
            customer_id = group[0].header.customer_id
            planned.append((group, None if customer_id in customers else seen))
            customers.add(customer_id)
        return planned

    def _before_deadline(self, first: _Pending, run: _BatchRun, remaining_ms: Callable[[], int]) -> bool:
        left = remaining_ms()
        if left >= self._safety_margin_ms:
            return True
        logger.warning("Stopping before the deadline", extra={
            "remaining_ms": left, "safety_margin_ms": self._safety_margin_ms,
            "unreached": run.size - first.index, "first_unreached": sequence_number_of(first.record)})
        run.cut_at(first.index, f"deadline: {left} ms left", unreached=True)
        return False

    def _with_faults(self, group: list[_Pending], run: _BatchRun, remaining_ms: Callable[[], int]) -> list[_Pending]:
        """The group up to its first record an injected fault strikes (before the group's write, as a
        fault would strike before a record's own write)."""
        for position, item in enumerate(group):
            try:
                self._faults.before_record(sequence_number_of(item.record), remaining_ms)
            except Exception as error:  # noqa: BLE001 - the fault fails its record, not the batch
                logger.exception("Record failed", extra={"item_id": sequence_number_of(item.record)})
                run.cut_at(item.index, repr(error))
                return group[:position]
        return group

    def _commit_group(self, group: list[_Pending], seen: Snapshot | None, run: _BatchRun) -> None:
        if not group:
            return
        try:
            fold = self._apply(group, seen)
        except Exception as error:  # noqa: BLE001 - the group's write failed: cut at its first record
            logger.exception("Customer group failed", extra={"item_id": sequence_number_of(group[0].record),
                                                             "customer_id": group[0].header.customer_id})
            run.cut_at(group[0].index, repr(error))
            return
        run.outcomes.update(fold.outcomes)
        if fold.failure is not None:
            # Only after a conflict: the fresh read made a record poison that was stale before.
            index, failure = fold.failure
            run.outcomes["poison"] += isinstance(failure, PermanentError)
            run.cut_at(index, repr(failure))

    def _apply(self, group: Sequence[_Pending], seen: Snapshot | None = None) -> _Fold:
        # Optimistic concurrency: a conflict means another writer got there first, so the next attempt
        # starts from a fresh read (and may find some records stale by then). No backoff: the only
        # other writers are the replay tool and a sibling shard, not a crowd.
        customer_id = group[0].header.customer_id
        for _attempt in range(MAX_COMMIT_ATTEMPTS):
            if seen is None:
                seen = self._store.snapshot(customer_id, {item.header.order_id for item in group})
            fold = self._fold(seen, group)
            try:
                self._store.commit(
                    Commit(seen, list(fold.changes.values()), fold.aggregate if fold.aggregate_changed else None)
                )
            except StoreConflict as conflict:
                logger.info("Concurrent change; reading again",
                            extra={"customer_id": customer_id, "conflict": str(conflict)})
                seen = None
                continue
            return fold
        raise TransientError(
            f"customer {customer_id} kept conflicting after {MAX_COMMIT_ATTEMPTS} attempts"
        )

    def _fold(self, seen: Snapshot, group: Sequence[_Pending], *, announce: bool = True) -> _Fold:
        """The group applied in memory to ``seen``, up to its first failing record. ``announce``: log
        what each record did (off while planning, which folds again before it commits)."""
        aggregate = None if seen.aggregate is None else seen.aggregate.aggregate
        fold = _Fold(markers=dict(seen.markers), aggregate=aggregate, announce=announce)
        for item in group:
            try:
                fold.outcomes.append(self._fold_record(fold, item))
            except Exception as error:  # noqa: BLE001 - one bad record cuts the batch at it
                if isinstance(error, PermanentError):
                    _log_poison(item.record, item.header, error)
                else:
                    logger.exception("Record failed", extra={"item_id": sequence_number_of(item.record)})
                fold.failure = (item.index, error)
                break
        return fold

    def _fold_record(self, fold: _Fold, item: _Pending) -> Outcome:
        header = item.header
        marker = fold.markers[header.order_id]
        stale = _staleness(marker, header)
        if stale is not None:
            if fold.announce:
                logger.info("Stale stream record skipped", extra={**header.log_keys, "outcome": stale})
            return stale
        # Validated only now, so that a stale record is skipped even when its image is bad.
        new = new_contribution(item.record, header)
        old = None if marker is None else marker.contribution
        if fold.announce:
            _log_gap(item.record, header, marker, old)
        if old is not None or new is not None:
            # Not touched by a REMOVE of an order that never counted: only its tombstone is written.
            current = fold.aggregate or CustomerAggregate()
            fold.aggregate = current.replaced(old, new, lambda: self._latest_other(fold, header))
            fold.aggregate_changed = True
        fold.markers[header.order_id] = OrderMarker(header.sequence_number, new)
        fold.changes[header.order_id] = MarkerChange(header, new)
        logger.debug("Stream record applied", extra=header.log_keys)
        return "applied"

    def _latest_other(self, fold: _Fold, header: ChangeHeader) -> datetime | None:
        """The latest written_at among the customer's other present orders, as this fold leaves them:
        the stored markers of orders outside the group, and the group's markers as folded so far."""
        stored = self._store.latest_order_time(header.customer_id, fold.markers.keys())
        folded = [marker.contribution.written_at for order_id, marker in fold.markers.items()
                  if order_id != header.order_id and marker is not None and marker.contribution is not None]
        return max([moment for moment in [stored, *folded] if moment is not None], default=None)


def _groups(pending: Sequence[_Pending]) -> list[list[_Pending]]:
    """The records per customer in stream order, split to fit a transaction, ordered by first record."""
    open_groups: dict[str, list[_Pending]] = {}
    orders: dict[str, set[str]] = {}
    groups: list[list[_Pending]] = []
    for item in pending:
        customer, order = item.header.customer_id, item.header.order_id
        group = open_groups.get(customer)
        if group is None or (order not in orders[customer] and len(orders[customer]) >= MAX_ORDERS_PER_COMMIT):
            group = open_groups[customer] = []
            orders[customer] = set()
            groups.append(group)
        group.append(item)
        orders[customer].add(order)
    return groups


def _batch_outcome(records: Sequence[DynamoDBRecord], run: _BatchRun) -> BatchOutcome:
    ids = [sequence_number_of(record) for record in records]
    outcome = BatchOutcome(succeeded=ids[:run.cut], stopped_early=run.cut < run.size)
    if run.cut < run.size:
        outcome.failures.append(RecordFailure(ids[run.cut], run.error, unreached=run.unreached))
        outcome.failures.extend(
            RecordFailure(item_id, "after an earlier failure", unreached=True) for item_id in ids[run.cut + 1:]
        )
    return outcome


def _log_poison(record: DynamoDBRecord, header: ChangeHeader | None, error: PermanentError) -> None:
    logger.error(
        "Stream record cannot be processed; failing it for the OnFailure destination",
        extra={
            "sequence_number": sequence_number_of(record),
            "eventID": record.get("eventID"),
            "keys": (record.get("dynamodb") or {}).get("Keys"),
            **({} if header is None else header.log_keys),
            "failure": error.to_dict(),
        },
    )


def _staleness(marker: OrderMarker | None, header: ChangeHeader) -> Outcome | None:
    if marker is None or marker.applied_sequence < header.sequence_number:
        return None
    return "already_applied" if marker.applied_sequence == header.sequence_number else "superseded"


def _log_gap(
    record: DynamoDBRecord, header: ChangeHeader, marker: OrderMarker | None, applied: OrderContribution | None
) -> None:
    """Say so when the record's OldImage is not what was applied: some earlier change was never seen."""
    if header.event_name == "INSERT" or marker is None:
        return
    previous = old_contribution(record, header)
    if previous != applied:
        logger.warning(
            "OldImage differs from the last applied change; replacing what was applied",
            extra={**header.log_keys, "applied_sequence": str(marker.applied_sequence),
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
