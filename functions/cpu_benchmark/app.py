"""CpuBenchmarkFunction: how much CPU does a function really get, and what do threads and processes gain?

Direct invoke only; the event names a workload, a size, worker counts, modes and repeats (see
events/cpu_benchmark/). Bad or oversized events fail the invoke with a BenchmarkInputError whose
errorMessage says why, before any heavy work.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from cpu_benchmark_models import CpuBenchmarkConfig
from cpu_benchmark_run import run_benchmark_event

from lambda_toolkit.config import load_config
from lambda_toolkit.observability import logger, metrics, tracer

CONFIG = load_config(CpuBenchmarkConfig)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report: dict[str, Any] = run_benchmark_event(
        event, config=CONFIG, remaining_ms=context.get_remaining_time_in_millis
    )
    return report
