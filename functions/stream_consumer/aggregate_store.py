"""AggregatesTable access: per-customer aggregates plus one marker per order, changed together.

Key schema (pk = customer_id, sk):
    sk = "AGGREGATE"          the customer's aggregate: order_count, spent (map currency -> Number),
                              last_order_at (fixed-width UTC ISO-8601, absent with no orders),
                              version (optimistic lock), updated_at
    sk = "ORDER#<order_id>"   the order's marker: applied_sequence (the stream SequenceNumber of the
                              newest change applied, zero-padded to 40 digits so that string order is
                              numeric order; 40 digits because sequence numbers can exceed the 38
                              digits a DynamoDB Number holds), applied_event, present, and while the
                              order exists the contribution it made (currency, total, written_at).
                              A removed order keeps a tombstone (present = false) with a TTL.

Why a versioned Put of the whole aggregate rather than ADD: ``last_order_at`` is a maximum, which ADD
cannot express, and after a REMOVE of the latest order the next latest must be found among the other
markers; the aggregate's version condition makes such a read-compute-write safe against any other
writer (the replay tool, a concurrent shard after a split).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError
from customer_aggregates import CustomerAggregate, OrderContribution, format_timestamp, parse_timestamp
from order_stream_record import MAX_SEQUENCE_DIGITS, ChangeHeader
from stream_consumer_config import DEFAULT_TOMBSTONE_TTL_SECONDS

from lambda_toolkit.errors import TransientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_dynamodb.type_defs import PutTypeDef, TransactWriteItemTypeDef

AGGREGATE_SK = "AGGREGATE"
ORDER_SK_PREFIX = "ORDER#"
# Cancellation codes that mean "someone else changed these items first": read again and retry.
_CONFLICT_CODES = frozenset({"None", "ConditionalCheckFailed", "TransactionConflict"})

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def order_sk(order_id: str) -> str:
    return f"{ORDER_SK_PREFIX}{order_id}"


def sequence_key(sequence_number: int) -> str:
    return str(sequence_number).zfill(MAX_SEQUENCE_DIGITS)


class StoreConflict(Exception):
    """Another writer changed the marker or the aggregate between our read and our write."""


@dataclass(frozen=True)
class OrderMarker:
    applied_sequence: int
    # None: a tombstone, the order's newest applied change removed it.
    contribution: OrderContribution | None


@dataclass(frozen=True)
class VersionedAggregate:
    aggregate: CustomerAggregate
    version: int


@dataclass(frozen=True)
class Snapshot:
    """One customer's aggregate and the markers of some of its orders, as read before a commit."""

    customer_id: str
    # order_id -> its marker, None when the order has none yet; one entry per order read.
    markers: Mapping[str, OrderMarker | None]
    aggregate: VersionedAggregate | None


@dataclass(frozen=True)
class MarkerChange:
    """An order's marker after the newest change of it that this commit applies."""

    header: ChangeHeader
    # None: the order is gone (a REMOVE); its marker becomes a tombstone.
    contribution: OrderContribution | None


@dataclass(frozen=True)
class Commit:
    seen: Snapshot
    # At most one per order (a transaction may not touch an item twice), each conditioned on seen.
    markers: Sequence[MarkerChange]
    # None: the aggregate is not touched (only REMOVEs of orders that never counted).
    aggregate: CustomerAggregate | None


class AggregateStore:
    def __init__(
        self, table: Table, *, tombstone_ttl_seconds: int = DEFAULT_TOMBSTONE_TTL_SECONDS, clock: Clock = utc_now
    ) -> None:
        self._table = table
        self._client = table.meta.client
        self._tombstone_ttl = timedelta(seconds=tombstone_ttl_seconds)
        self._clock = clock

    @property
    def table_name(self) -> str:
        return str(self._table.name)

    def snapshot(self, customer_id: str, order_ids: Collection[str]) -> Snapshot:
        """The customer's aggregate and the given orders' markers (BatchGetItem, strongly consistent).

        Not a TransactGetItems (which bills double): the items need not be read as of one instant,
        because the commit is conditioned on every one of them, so a read that straddles another
        writer's commit makes that commit fail and the consumer read again.
        """
        ordered = sorted(set(order_ids))
        keys = [{"pk": customer_id, "sk": AGGREGATE_SK}] + [{"pk": customer_id, "sk": order_sk(o)} for o in ordered]
        items = self._batch_get(keys)
        markers: dict[str, OrderMarker | None] = {}
        for order_id in ordered:
            item = items.get(order_sk(order_id))
            markers[order_id] = None if item is None else _marker_from_item(item)
        aggregate_item = items.get(AGGREGATE_SK)
        return Snapshot(
            customer_id, markers, None if aggregate_item is None else _aggregate_from_item(aggregate_item)
        )

    def _batch_get(self, keys: list[dict[str, str]]) -> dict[str, Mapping[str, Any]]:
        """sk -> item for the keys that exist; unprocessed keys are asked for again (BatchGetItem may
        return some under load)."""
        found: dict[str, Mapping[str, Any]] = {}
        request: dict[str, Any] = {self.table_name: {"Keys": keys, "ConsistentRead": True}}
        try:
            while request:
                response = self._client.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self.table_name, []):
                    found[str(item["sk"])] = item
                request = response.get("UnprocessedKeys") or {}
        except ClientError as error:
            raise TransientError(f"AggregatesTable BatchGetItem failed: {error}") from error
        return found

    def latest_order_time(self, customer_id: str, excluding_order_ids: Collection[str]) -> datetime | None:
        """The latest written_at among the customer's present orders other than the given ones."""
        latest: datetime | None = None
        query: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(customer_id) & Key("sk").begins_with(ORDER_SK_PREFIX),
            "FilterExpression": Attr("present").eq(True),
            "ProjectionExpression": "sk, written_at",
            "ConsistentRead": True,
        }
        excluded = {order_sk(order_id) for order_id in excluding_order_ids}
        try:
            while True:
                page = self._table.query(**query)
                for item in page["Items"]:
                    if item["sk"] not in excluded:
                        moment = parse_timestamp(str(item["written_at"]))
                        latest = moment if latest is None else max(latest, moment)
                if "LastEvaluatedKey" not in page:
                    return latest
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except ClientError as error:
            raise TransientError(f"AggregatesTable query failed: {error}") from error

    def commit(self, commit: Commit) -> None:
        """Write the new markers (and aggregate) if none of them changed since ``commit.seen`` was read.

        One TransactWriteItems for all of a customer's changes in a batch; the caller keeps it within
        DynamoDB's 100 items (MAX_ORDERS_PER_COMMIT markers + the aggregate). A marker is well under
        1 KB and an aggregate a few, so the 4 MB transaction limit is never near.
        """
        if not commit.markers:
            return
        items: list[TransactWriteItemTypeDef] = [{"Put": self._marker_put(commit.seen, change)}
                                                 for change in commit.markers]
        if commit.aggregate is not None:
            items.append({"Put": self._aggregate_put(commit.seen, commit.aggregate)})
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            raise _conflict_or_transient(error, "TransactWriteItems") from error

    def aggregate_of(self, customer_id: str) -> CustomerAggregate | None:
        """The customer's stored aggregate (None when the consumer never wrote one)."""
        try:
            item = self._table.get_item(Key={"pk": customer_id, "sk": AGGREGATE_SK}, ConsistentRead=True).get("Item")
        except ClientError as error:
            raise TransientError(f"AggregatesTable get_item failed: {error}") from error
        return None if item is None else _aggregate_from_item(item).aggregate

    def aggregates(self) -> Iterator[tuple[str, CustomerAggregate]]:
        """Every stored aggregate (a full scan: for the reconcile tool, not for the function)."""
        scan: dict[str, Any] = {"FilterExpression": Attr("sk").eq(AGGREGATE_SK), "ConsistentRead": True}
        while True:
            page = self._table.scan(**scan)
            for item in page["Items"]:
                yield str(item["pk"]), _aggregate_from_item(item).aggregate
            if "LastEvaluatedKey" not in page:
                return
            scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _marker_put(self, seen: Snapshot, change: MarkerChange) -> PutTypeDef:
        header, now = change.header, self._clock()
        item: dict[str, Any] = {
            "pk": header.customer_id,
            "sk": order_sk(header.order_id),
            "customer_id": header.customer_id,
            "order_id": header.order_id,
            "applied_sequence": sequence_key(header.sequence_number),
            "applied_event": header.event_name,
            "applied_at": format_timestamp(now),
            "present": change.contribution is not None,
        }
        if change.contribution is None:
            # Kept long enough that no older record of this order can still be in the stream.
            item["expires_at"] = int((now + self._tombstone_ttl).timestamp())
        else:
            item.update(_contribution_attributes(change.contribution))
        put: PutTypeDef = {"TableName": self.table_name, "Item": item}
        seen_marker = seen.markers[header.order_id]
        if seen_marker is None:
            put["ConditionExpression"] = "attribute_not_exists(sk)"
        else:
            put["ConditionExpression"] = "applied_sequence = :seen"
            put["ExpressionAttributeValues"] = {":seen": sequence_key(seen_marker.applied_sequence)}
        return put

    def _aggregate_put(self, seen: Snapshot, aggregate: CustomerAggregate) -> PutTypeDef:
        customer_id = seen.customer_id
        version = 0 if seen.aggregate is None else seen.aggregate.version
        item: dict[str, Any] = {
            "pk": customer_id,
            "sk": AGGREGATE_SK,
            "customer_id": customer_id,
            "order_count": aggregate.order_count,
            "spent": dict(aggregate.spent),
            "version": version + 1,
            "updated_at": format_timestamp(self._clock()),
        }
        if aggregate.last_order_at is not None:
            item["last_order_at"] = format_timestamp(aggregate.last_order_at)
        put: PutTypeDef = {"TableName": self.table_name, "Item": item}
        if seen.aggregate is None:
            put["ConditionExpression"] = "attribute_not_exists(sk)"
        else:
            put["ConditionExpression"] = "version = :version"
            put["ExpressionAttributeValues"] = {":version": version}
        return put


def _contribution_attributes(contribution: OrderContribution) -> dict[str, Any]:
    return {
        "currency": contribution.currency,
        "total": contribution.total,
        "written_at": format_timestamp(contribution.written_at),
    }


def _marker_from_item(item: Mapping[str, Any]) -> OrderMarker:
    contribution = None
    if item.get("present"):
        contribution = OrderContribution(
            currency=str(item["currency"]),
            total=Decimal(item["total"]),
            written_at=parse_timestamp(str(item["written_at"])),
        )
    return OrderMarker(int(item["applied_sequence"]), contribution)


def _aggregate_from_item(item: Mapping[str, Any]) -> VersionedAggregate:
    last = item.get("last_order_at")
    aggregate = CustomerAggregate(
        order_count=int(item.get("order_count", 0)),
        spent={str(currency): Decimal(amount) for currency, amount in sorted(item.get("spent", {}).items())},
        last_order_at=None if last is None else parse_timestamp(str(last)),
    )
    return VersionedAggregate(aggregate, int(item.get("version", 0)))


def _conflict_or_transient(error: ClientError, operation: str) -> Exception:
    if error.response.get("Error", {}).get("Code") == "TransactionCanceledException":
        reasons = {reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])}
        if reasons <= _CONFLICT_CODES:
            return StoreConflict(f"{operation} cancelled: {sorted(reasons)}")
    return TransientError(f"AggregatesTable {operation} failed: {error}")
