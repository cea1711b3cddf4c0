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
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models.table import Table
from moto.sqs import models as sqs_models

_transaction = threading.local()  # .keys: {table name: [(hash key, range key)]} while one runs


def apply() -> None:
    moto_modules = tuple(moto_backends.list_of_moto_modules())
    moto_backends.list_of_moto_modules = lambda: moto_modules  # type: ignore[assignment]

    sqs_models.SQSBackend.is_message_valid_based_on_retention_period = _retention_check  # type: ignore[method-assign]
    sqs_models.unix_time = _fast_clock(sqs_models.unix_time, 1.0)  # type: ignore[attr-defined]
    sqs_models.unix_time_millis = _fast_clock(sqs_models.unix_time_millis, 1000.0)  # type: ignore[attr-defined]

    dynamodb_models.copy = _TransactionAwareCopy()  # type: ignore[attr-defined]
    backend = dynamodb_models.DynamoDBBackend
    backend.transact_write_items = _naming_touched_keys(backend.transact_write_items)  # type: ignore[method-assign]


# -------------------------------------------------------------------------------------------------
# SQS


def _retention_check(self: Any, queue_name: str, message: Any) -> bool:
    """moto's is_message_valid_based_on_retention_period, reading only the retention attribute."""
    retention_s = int(self.get_queue(queue_name).message_retention_period)
    return bool(retention_s + message.sent_timestamp / 1000 > time.time())


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
