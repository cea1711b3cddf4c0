"""FanOutAggregateFunction: every item's result -> the combined prime count and the fan-out's figures."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from fanout_aggregate_config import FanOutAggregateConfig
from fanout_aggregator import FanOutAggregator

from lambda_toolkit import aws_clients
from lambda_toolkit.config import load_config
from lambda_toolkit.observability import logger, metrics, tracer

config = load_config(FanOutAggregateConfig)
aggregator = FanOutAggregator(s3=aws_clients.s3(), config=config)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report: dict[str, Any] = aggregator.aggregate(event)
    return report
