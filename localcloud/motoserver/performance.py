"""Behaviour-preserving speed-ups of moto 5.2.5, applied inside the local cloud's moto server.

Found by sampling the server's threads while 1,000 orders went through the pipeline (it took 13
minutes before, under one minute after). Each keeps moto's rules and results; only the cost changes:

- Request routing: for every request, under one lock shared by all request threads, moto lists its
  own package directory (about 200 stat calls) to tell a service name from a host name. The listing
  cannot change while the server runs; it is read once.
- SQS ReceiveMessage: for every message it returns moto checks the retention period through
  get_queue_attributes, which recomputes every attribute of the queue, message counts included (a
  scan of all its messages, two clock reads each), and each clock read builds datetimes. With 1,000
  messages queued a receive of 10 took over a second. The retention check now reads the one
  attribute, and SQS's clock is time.time() (what moto's utcnow() - epoch computes).
- SQS SendMessage / SendMessageBatch: for every message sent moto reads the queue's
  ContentBasedDeduplication through the same all-attributes property (up to three times for a FIFO
  queue): three scans of every message in the queue per message sent, so sending slowed down as the
  queue filled. While a message is validated, sent and added, that property now answers
  ContentBasedDeduplication alone, with the value the full property would give.
- DynamoDB TransactWriteItems: to roll back a cancelled transaction moto deep-copies every table the
  transaction touches, all items, before it starts: O(table size) per transaction, and the stream
  consumer's transactions grow AggregatesTable by one marker per order. The rollback copy now shares
  the items the transaction does not name and deep-copies those it does (its stream records are a
  copied list); on rollback moto swaps it in exactly as before.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from types import ModuleType
from typing import Any

from moto import backends as moto_backends
from moto.core import responses as moto_responses
from moto.core import serialize as moto_serialize
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models.table import Table
from moto.sqs import models as sqs_models

from localcloud.motoserver.call_flags import CallFlag

_transaction = threading.local()  # .keys: {table name: [(hash key, range key)]} while one runs


def apply() -> None:
    moto_modules = tuple(moto_backends.list_of_moto_modules())
    moto_backends.list_of_moto_modules = lambda: moto_modules  # type: ignore[assignment]

    sqs_models.SQSBackend.is_message_valid_based_on_retention_period = _retention_check  # type: ignore[method-assign]
    sqs_models.unix_time = _fast_clock(sqs_models.unix_time, 1.0)  # type: ignore[attr-defined]
    sqs_models.unix_time_millis = _fast_clock(sqs_models.unix_time_millis, 1000.0)  # type: ignore[attr-defined]
    sqs_backend = sqs_models.SQSBackend
    sqs_backend.send_message = _sending(sqs_backend.send_message)  # type: ignore[method-assign]
    sqs_backend._validate_message = _sending(sqs_backend._validate_message)  # type: ignore[method-assign]
    all_attributes = sqs_models.Queue.attributes.fget  # type: ignore[attr-defined]
    sqs_models.Queue.attributes = property(_attributes_while_sending(all_attributes))  # type: ignore[assignment,method-assign]

    dynamodb_models.copy = _TransactionAwareCopy()  # type: ignore[attr-defined]
    backend = dynamodb_models.DynamoDBBackend
    backend.transact_write_items = _naming_touched_keys(backend.transact_write_items)  # type: ignore[method-assign]

    serializer = moto_serialize.BaseJSONSerializer
    serializer._serialize_type_structure = _serializing_attribute_values(  # type: ignore[method-assign]
        serializer._serialize_type_structure)
    listing = _method_names_per_class(moto_responses.method_names_from_class)  # type: ignore[attr-defined]
    moto_responses.method_names_from_class = listing  # type: ignore[attr-defined,assignment]


# -------------------------------------------------------------------------------------------------
# SQS


def _retention_check(self: Any, queue_name: str, message: Any) -> bool:
    """moto's is_message_valid_based_on_retention_period, reading only the retention attribute."""
    retention_s = int(self.get_queue(queue_name).message_retention_period)
    return bool(retention_s + message.sent_timestamp / 1000 > time.time())


_sqs_sending = CallFlag()  # active inside SendMessage's validation, send and add
_sending = _sqs_sending.during


def _attributes_while_sending(all_attributes: Callable[[Any], dict[str, Any]]) -> Callable[[Any], Any]:
    def attributes(queue: Any) -> Any:
        return _DeduplicationAttribute(queue, all_attributes) if _sqs_sending.active \
            else all_attributes(queue)

    return attributes


class _DeduplicationAttribute:
    """What moto's send path reads of Queue.attributes: .get("ContentBasedDeduplication"), computed
    as the full property computes it ("true"/"false" on a FIFO queue, absent otherwise)."""

    def __init__(self, queue: Any, all_attributes: Callable[[Any], dict[str, Any]]) -> None:
        self._queue = queue
        self._all_attributes = all_attributes

    def get(self, name: str, default: Any = None) -> Any:
        if name != "ContentBasedDeduplication":
            return self._all_attributes(self._queue).get(name, default)
        if not self._queue.fifo_queue:
            return default
        value = self._queue.content_based_deduplication
        return str(value).lower() if isinstance(value, bool) else value


def _fast_clock(original: Callable[..., float], scale: float) -> Callable[..., float]:
    def now(dt: Any = None) -> float:
        return time.time() * scale if dt is None else original(dt)

    return now


# -------------------------------------------------------------------------------------------------
# DynamoDB transactions


def _naming_touched_keys(transact_write_items: Callable[..., None]) -> Callable[..., None]:
    """Tell the rollback copy which items this thread's transaction writes or checks."""

    def transact(self: Any, transact_items: list[dict[str, Any]]) -> None:
        touched: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
        for entry in transact_items:
            for operation in entry.values():
                table = self.tables.get(operation.get("TableName"))
                if table is None:
                    continue  # moto reports the missing table itself
                key = operation.get("Key") or {
                    name: operation.get("Item", {}).get(name)
                    for name in (table.hash_key_attr, table.range_key_attr) if name}
                try:
                    touched[table.name].append(self.get_keys_value(table, key))
                except Exception:  # noqa: BLE001 - a malformed key: moto's own validation reports it
                    _transaction.keys = None  # unknown keys: fall back to moto's full copy
                    return transact_write_items(self, transact_items)
        _transaction.keys = touched
        try:
            return transact_write_items(self, transact_items)
        finally:
            _transaction.keys = None

    return transact


class _TransactionAwareCopy(ModuleType):
    """Stands in for the `copy` module inside moto.dynamodb.models: a table copied during a
    transaction gets the cheap rollback copy; everything else is copied as before."""

    def __init__(self) -> None:
        super().__init__("copy")

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        keys = getattr(_transaction, "keys", None)
        if keys is not None and isinstance(value, Table):
            return _rollback_copy(value, keys.get(value.name, []))
        return copy.deepcopy(value, memo)


def _rollback_copy(table: Table, keys: list[tuple[Any, Any]]) -> Table:
    backup = copy.copy(table)
    backup.items = defaultdict(dict, {hash_key: dict(value) if table.has_range_key else value
                                      for hash_key, value in table.items.items()})
    for hash_key, range_key in keys:
        if table.has_range_key:
            item = table.items[hash_key].get(range_key) if hash_key in table.items else None
            if item is not None:
                backup.items[hash_key][range_key] = copy.deepcopy(item)
        elif hash_key in table.items:
            backup.items[hash_key] = copy.deepcopy(table.items[hash_key])
    if table.stream_shard is not None:
        shard = copy.copy(table.stream_shard)
        shard.items = list(table.stream_shard.items)
        shard.table = backup
        backup.stream_shard = shard
    return backup


# -------------------------------------------------------------------------------------------------
# DynamoDB responses

ATTRIBUTE_VALUE_SERVICES = frozenset({"dynamodb", "dynamodbstreams"})
_STRINGS = frozenset({"S", "N"})
_STRING_SETS = frozenset({"SS", "NS"})
_BOOLEANS = frozenset({"NULL", "BOOL"})
ATTRIBUTE_VALUE_MEMBERS = frozenset({"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"})


def _serializing_attribute_values(serialize_structure: Callable[..., None]) -> Callable[..., None]:
    """moto's BaseJSONSerializer._serialize_type_structure with the AttributeValue fast path."""

    def serialize(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        service = self.operation_model.service_model.service_name
        if (key and shape.name == "AttributeValue" and isinstance(value, dict)
                and value.keys() <= ATTRIBUTE_VALUE_MEMBERS and service in ATTRIBUTE_VALUE_SERVICES):
            try:
                serialized[self.get_serialized_name(shape, key)] = attribute_value_json(value, self._base64)
                return
            except _NotWireForm:
                pass
        serialize_structure(self, serialized, value, shape, key)

    return serialize


def attribute_value_json(value: dict[str, Any], base64: Callable[[Any], str]) -> dict[str, Any]:
    """One AttributeValue in wire form as moto's JSON serializer writes it (members in model order
    are not needed: JSON objects are unordered, and botocore reads them by name)."""
    out: dict[str, Any] = {}
    for member, inner in value.items():
        if inner is None:
            continue  # moto leaves out a member whose value is None
        if member in _STRINGS:
            out[member] = _string(inner)
        elif member in _BOOLEANS:
            out[member] = inner
        elif member == "B":
            out[member] = base64(inner)
        elif member in _STRING_SETS:
            out[member] = [_string(item) for item in inner]
        elif member == "BS":
            out[member] = [base64(item) for item in inner]
        elif member == "M":
            out[member] = {name: _nested(item, base64) for name, item in inner.items() if item is not None}
        else:  # "L": an item that is not serialized (None) stays as it is, as in moto's list rule
            out[member] = [_nested(item, base64) if item is not None else item for item in inner]
    return out


def _nested(value: Any, base64: Callable[[Any], str]) -> Any:
    if isinstance(value, dict) and value.keys() <= ATTRIBUTE_VALUE_MEMBERS:
        return attribute_value_json(value, base64)
    raise _NotWireForm(value)


class _NotWireForm(Exception):
    """A nested value the fast path does not know; the whole value goes moto's way instead."""


def _string(value: Any) -> Any:
    return str(value) if value not in (None, {}, []) else value


# -------------------------------------------------------------------------------------------------
# Action dispatch


def _method_names_per_class(method_names_from_class: Callable[[object], list[str]]) -> Callable[[object], list[str]]:
    cache: dict[object, list[str]] = {}

    def method_names(clazz: object) -> list[str]:
        names = cache.get(clazz)
        if names is None:
            names = cache[clazz] = method_names_from_class(clazz)
        return list(names)

    return method_names
