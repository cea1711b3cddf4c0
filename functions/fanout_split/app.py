"""FanOutSplitFunction: a prime-counting job -> balanced items and the Map mode (the Split step)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from fanout_split_config import FanOutSplitConfig
from fanout_splitter import FanOutSplitter

from lambda_toolkit import aws_clients
from lambda_toolkit.config import load_config
from lambda_toolkit.observability import logger, metrics, tracer

config = load_config(FanOutSplitConfig)
splitter = FanOutSplitter(s3=aws_clients.s3(), config=config)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    output: dict[str, Any] = splitter.split(event)
    return output
