"""SqsWorkerFunction: orders from WorkQueue -> ItemsTable, with a partial batch response."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from order_worker import DeadLetterPublisher, OrderStore, OrderWorker, OrderWorkerDependencies
from sqs_worker_config import SqsWorkerConfig

from lambda_toolkit import aws_clients
from lambda_toolkit.config import load_config
from lambda_toolkit.fault_injection import load_fault_injector
from lambda_toolkit.observability import logger, metrics, tracer

config = load_config(SqsWorkerConfig)
worker = OrderWorker(
    OrderWorkerDependencies(
        store=OrderStore(aws_clients.dynamodb().Table(config.ITEMS_TABLE_NAME)),
        dead_letters=DeadLetterPublisher(aws_clients.sqs(), config.DEAD_LETTER_QUEUE_URL),
        safety_margin_ms=config.DEADLINE_SAFETY_MARGIN_MS,
        faults=load_fault_injector(),
    )
)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return worker.handle_batch(event, context)
