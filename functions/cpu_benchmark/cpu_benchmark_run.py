"""The benchmark from event to report: validate, size up the machine, refuse what cannot finish, measure.

Order matters: the event is validated and the run estimated from a short calibration BEFORE any
heavy work, so a bad or oversized request fails in well under a second with a clear reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cpu_benchmark_budget import CostModel, calibrate, check_budget
from cpu_benchmark_models import (
    BenchmarkDeadlineExceeded,
    BenchmarkInputError,
    BenchmarkReport,
    BenchmarkRequest,
    CpuBenchmarkConfig,
)
from cpu_benchmark_modes import MODE_RUNNERS
from cpu_benchmark_report import Samples, build_report, publish_metrics
from cpu_environment import collect_environment
from cpu_workloads import WORKLOADS, Workload
from pydantic import ValidationError

from lambda_toolkit.observability import MetricUnit, logger, metrics
from lambda_toolkit.parallel_map import DeadlineExceeded


def parse_request(event: Any) -> BenchmarkRequest:
    try:
        return BenchmarkRequest.model_validate(event)
    except ValidationError as error:
        raise BenchmarkInputError.from_validation(error) from None


def run_benchmark_event(
    event: Any,
    *,
    config: CpuBenchmarkConfig,
    remaining_ms: Callable[[], int],
) -> dict[str, Any]:
    """The handler's work: the report as JSON-ready data, its key figures published as EMF metrics."""
    deadline = time.monotonic() + (remaining_ms() - config.CPU_BENCHMARK_SAFETY_MARGIN_MS) / 1000
    try:
        request = parse_request(event)
        report = run_benchmark(request, config=config, deadline=deadline)
    except BenchmarkInputError as error:
        metrics.add_metric(name="RefusedEvents", unit=MetricUnit.Count, value=1)
        logger.warning("Benchmark refused", extra={"error": error.to_dict()})
        raise
    publish_metrics(report)
    response: dict[str, Any] = report.model_dump(mode="json")
    return response


def run_benchmark(
    request: BenchmarkRequest, *, config: CpuBenchmarkConfig, deadline: float
) -> BenchmarkReport:
    """Measure ``request`` unless the estimate says it cannot finish by ``deadline`` (time.monotonic())."""
    start_method = request.start_method or config.CPU_BENCHMARK_START_METHOD
    environment = collect_environment(
        lambda_memory_mb=config.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, start_method=start_method
    )
    workload = WORKLOADS[request.workload]
    calibration = calibrate(workload, environment.usable_cpus)
    model = CostModel(workload, calibration, environment.usable_cpus, environment.start_method)
    estimate = check_budget(request, model, budget_s=deadline - time.monotonic())
    logger.info("Benchmark accepted",
                extra={"request": request.model_dump(), "estimate": estimate.model_dump()})

    tasks = workload.tasks(request.size)
    samples = measure(request, workload, tasks, start_method, deadline)
    if time.monotonic() >= deadline:
        raise _deadline_error(request, "before the reference result was computed", samples)
    reference = workload.reference(request.size)
    report = build_report(request, workload=workload, task_count=len(tasks), samples=samples,
                          reference=reference, environment=environment, estimate=estimate)
    if not report.result.verified:
        logger.error("Benchmark results do not match the reference",
                     extra={"result": report.result.model_dump()})
    return report


def measure(
    request: BenchmarkRequest,
    workload: Workload,
    tasks: list[Any],
    start_method: str | None,
    deadline: float,
) -> list[Samples]:
    """Time every configuration once per repeat, interleaved, so that a noisy neighbour or a change
    in CPU clock hits all configurations alike instead of skewing the one that happened to run then."""
    samples = [Samples("serial", 1)] + [
        Samples(mode, workers) for mode in request.parallel_modes for workers in request.workers
    ]
    for _ in range(request.repeats):
        for sample in samples:
            runner = MODE_RUNNERS[sample.mode]
            started = time.perf_counter()
            try:
                value = runner(workload, tasks, sample.workers, deadline, start_method)
            except DeadlineExceeded as error:
                raise _deadline_error(
                    request, f"during {sample.mode} with {sample.workers} workers ({error})", samples
                ) from error
            sample.times_s.append(time.perf_counter() - started)
            sample.results.append(value)
    return samples


def _deadline_error(
    request: BenchmarkRequest, where: str, samples: list[Samples]
) -> BenchmarkDeadlineExceeded:
    completed = {f"{sample.mode}/{sample.workers}": len(sample.times_s) for sample in samples}
    return BenchmarkDeadlineExceeded(
        "deadline_exceeded",
        f"{request.workload} at size {request.size:,} ran out of time {where}; the estimate was too "
        "optimistic for this machine, so ask for a smaller size or fewer repeats",
        details={"completed_runs": completed},
    )
