"""FanOutWorkerFunction: one Map item -> the number of primes in its range, on every core it has."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from fanout_item_worker import PrimeRangeWorker, visible_cores
from fanout_worker_config import FanOutWorkerConfig

from lambda_toolkit.config import load_config
from lambda_toolkit.observability import logger, metrics, tracer

config = load_config(FanOutWorkerConfig)
worker = PrimeRangeWorker(
    safety_margin_ms=config.FANOUT_WORKER_SAFETY_MARGIN_MS, start_method=config.FANOUT_WORKER_START_METHOD
)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The runtime's context gives the memory as a string (it reads AWS_LAMBDA_FUNCTION_MEMORY_SIZE).
    result: dict[str, Any] = worker.handle(
        event,
        memory_mb=int(context.memory_limit_in_mb),
        cores=visible_cores(),
        remaining_ms=context.get_remaining_time_in_millis,
    )
    return result
