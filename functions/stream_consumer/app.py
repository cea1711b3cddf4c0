"""StreamConsumerFunction: ItemsTable stream -> per-customer aggregates, stopping at the first failure."""

from __future__ import annotations

from typing import Any

from aggregate_consumer import AggregateConsumer
from aggregate_store import AggregateStore
from aws_lambda_powertools.utilities.typing import LambdaContext
from stream_consumer_config import StreamConsumerConfig

from lambda_toolkit import aws_clients
from lambda_toolkit.config import load_config
from lambda_toolkit.fault_injection import load_fault_injector
from lambda_toolkit.observability import logger, metrics, tracer

config = load_config(StreamConsumerConfig)
consumer = AggregateConsumer(
    AggregateStore(
        aws_clients.dynamodb().Table(config.AGGREGATES_TABLE_NAME),
        tombstone_ttl_seconds=config.TOMBSTONE_TTL_SECONDS,
    ),
    safety_margin_ms=config.DEADLINE_SAFETY_MARGIN_MS,
    faults=load_fault_injector(),
)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Annotated because plain `mypy functions/...` sees sibling modules as Any (they are not on its path).
    response: dict[str, Any] = consumer.handle_batch(event, context)
    return response
