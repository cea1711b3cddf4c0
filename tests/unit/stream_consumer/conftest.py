"""Fixtures for StreamConsumerFunction: AggregatesTable from template.yaml in moto, the consumer, records."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
import pytest
from aggregate_consumer import AggregateConsumer
from aggregate_store import AGGREGATE_SK, AggregateStore, order_sk
from customer_aggregates import CustomerAggregate

from tests.support.events import load_event
from tests.support.handlers import load_handler_module
from tests.unit.conftest import MotoAccount

FIXED_NOW = datetime(2025, 11, 23, 12, 0, tzinfo=UTC)


def records_of(name: str) -> list[dict[str, Any]]:
    """The records of an event file in events/stream_consumer/."""
    return list(load_event("stream_consumer", name)["Records"])


def record_of(name: str, index: int = 0) -> dict[str, Any]:
    return records_of(name)[index]


def with_sequence(record: dict[str, Any], sequence_number: str) -> dict[str, Any]:
    """The same change at another place in the stream."""
    moved = copy.deepcopy(record)
    moved["dynamodb"]["SequenceNumber"] = sequence_number
    return moved


def sequence_of(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


@dataclass
class AggregatesWorld:
    account: MotoAccount
    table: Any
    store: AggregateStore
    consumer: AggregateConsumer

    def aggregate(self, customer_id: str) -> CustomerAggregate | None:
        return self.store.aggregate_of(customer_id)

    def aggregate_item(self, customer_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.table.get_item(Key={"pk": customer_id, "sk": AGGREGATE_SK}).get("Item")
        return item

    def marker(self, customer_id: str, order_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.table.get_item(Key={"pk": customer_id, "sk": order_sk(order_id)}).get("Item")
        return item

    def apply(self, *records: dict[str, Any]) -> list[str]:
        return [self.consumer.process_record(record) for record in records]


@pytest.fixture
def aggregates(moto_account: MotoAccount, template_table: Callable[[str], Any]) -> AggregatesWorld:
    # Given AggregatesTable as template.yaml defines it, and the consumer writing to it
    table = template_table("AggregatesTable")
    store = AggregateStore(table, clock=lambda: FIXED_NOW)
    return AggregatesWorld(moto_account, table, store, AggregateConsumer(store, safety_margin_ms=1000))


@pytest.fixture
def stream_app(aggregates: AggregatesWorld, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    # Given the function configured as template.yaml configures it
    monkeypatch.setenv("AGGREGATES_TABLE_NAME", "AggregatesTable")
    monkeypatch.setenv("DEADLINE_SAFETY_MARGIN_MS", "1000")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "stream-consumer")
    return load_handler_module("stream_consumer")


@dataclass
class StreamAccount:
    """ItemsTable with its stream, AggregatesTable and StreamFailureQueue, all in moto."""

    world: AggregatesWorld
    items: Any
    streams: Any
    failure_queue_url: str

    @property
    def stream_arn(self) -> str:
        return str(self.items.latest_stream_arn)

    def shard_id(self) -> str:
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        return str(shards[0]["ShardId"])

    def stream_records(self) -> list[dict[str, Any]]:
        """Every record of the stream so far, as GetRecords returns them."""
        iterator = self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=self.shard_id(), ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records: list[dict[str, Any]] = []
        while True:
            page = self.streams.get_records(ShardIterator=iterator, Limit=1000)
            if not page["Records"]:
                return records
            records.extend(page["Records"])
            iterator = page["NextShardIterator"]


@pytest.fixture
def stream_account(aggregates: AggregatesWorld, template_table: Callable[[str], Any]) -> StreamAccount:
    # Given ItemsTable (with the template's stream), AggregatesTable and the failure queue
    items = template_table("ItemsTable")
    queue_url = aggregates.account.queue("StreamFailureQueue")
    return StreamAccount(aggregates, items, boto3.client("dynamodbstreams", region_name="us-east-1"), queue_url)
