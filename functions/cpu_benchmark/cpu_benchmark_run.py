"""The benchmark from event to report: validate, size up the machine, refuse what cannot finish, measure.

Order matters: the event is validated and the run estimated from a short calibration BEFORE any
heavy work, so a bad or oversized request fails in well under a second with a clear reason. The I/O
half (an ``io`` section: DynamoDB GetItems, cpu_benchmark_io) is estimated from a few timed requests
and counted in the same budget; it runs after the CPU half, in the same modes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from cpu_benchmark_budget import WORKER_START_S, CostModel, calibrate, check_budget
from cpu_benchmark_io import IO_WORKLOAD, build_io_report, calibrate_io, estimate_io_s, io_tasks
from cpu_benchmark_models import (
    BenchmarkDeadlineExceeded,
    BenchmarkInputError,
    BenchmarkReport,
    BenchmarkRequest,
    CpuBenchmarkConfig,
    IoBenchmarkRequest,
    IoReport,
    Mode,
)
from cpu_benchmark_modes import MODE_RUNNERS, TaskWork
from cpu_benchmark_report import Samples, build_report, publish_metrics
from cpu_environment import collect_environment
from cpu_workloads import WORKLOADS
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
    started = time.perf_counter()
    deadline = time.monotonic() + (remaining_ms() - config.CPU_BENCHMARK_SAFETY_MARGIN_MS) / 1000
    try:
        request = parse_request(event)
        report = run_benchmark(request, config=config, deadline=deadline)
    except BenchmarkInputError as error:
        metrics.add_metric(name="RefusedEvents", unit=MetricUnit.Count, value=1)
        logger.warning("Benchmark refused", extra={"error": error.to_dict()})
        raise
    publish_metrics(report)
    report = report.model_copy(update={"handler_duration_ms": round((time.perf_counter() - started) * 1000, 3)})
    response: dict[str, Any] = report.model_dump(mode="json")
    return response


def io_table(request: BenchmarkRequest, config: CpuBenchmarkConfig) -> str | None:
    """The table the I/O half reads, or None without one; refused when asked for and not configured."""
    if request.io is None:
        return None
    if not config.IO_BENCHMARK_TABLE_NAME:
        raise BenchmarkInputError("io_not_configured", "the event asks for the I/O workload, but "
                                  "IO_BENCHMARK_TABLE_NAME names no table to read")
    return config.IO_BENCHMARK_TABLE_NAME


def run_benchmark(
    request: BenchmarkRequest, *, config: CpuBenchmarkConfig, deadline: float
) -> BenchmarkReport:
    """Measure ``request`` unless the estimate says it cannot finish by ``deadline`` (time.monotonic())."""
    start_method = request.start_method or config.CPU_BENCHMARK_START_METHOD
    environment = collect_environment(
        lambda_memory_mb=config.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, start_method=start_method
    )
    workload = WORKLOADS[request.workload]
    table_name = io_table(request, config)
    calibration = calibrate(workload, environment.usable_cpus)
    model = CostModel(workload, calibration, environment.usable_cpus, environment.start_method)
    io_s = 0.0
    if request.io is not None and table_name is not None:
        io_s = estimate_io_s(request.io, calibrate_io(table_name), WORKER_START_S[environment.start_method])
    estimate = check_budget(request, model, budget_s=deadline - time.monotonic(), io_s=io_s)
    logger.info("Benchmark accepted",
                extra={"request": request.model_dump(), "estimate": estimate.model_dump()})

    tasks = workload.tasks(request.size)
    samples = measure(request, workload, tasks, start_method, deadline)
    if time.monotonic() >= deadline:
        raise _deadline_error(request, "before the reference result was computed", samples)
    reference = workload.reference(request.size)
    report = build_report(request, workload=workload, task_count=len(tasks), samples=samples,
                          reference=reference, environment=environment, estimate=estimate)
    if request.io is not None and table_name is not None:
        report = report.model_copy(update={"io": run_io(request.io, table_name, start_method, deadline)})
    if not report.result.verified or (report.io is not None and not report.io.result.verified):
        logger.error("Benchmark results do not match the reference",
                     extra={"result": report.result.model_dump()})
    return report


def run_io(request: IoBenchmarkRequest, table_name: str, start_method: str | None, deadline: float) -> IoReport:
    """The I/O half, measured as the CPU half is: every mode once per repeat, interleaved."""
    samples = measure(request, IO_WORKLOAD, io_tasks(table_name, request.requests), start_method, deadline)
    return build_io_report(request, table_name, samples)


class MeasurementPlan(Protocol):
    """What to measure: the CPU half (BenchmarkRequest) or the I/O half (IoBenchmarkRequest)."""

    @property
    def parallel_modes(self) -> list[Mode]: ...

    @property
    def workers(self) -> list[int]: ...

    @property
    def repeats(self) -> int: ...

    @property
    def label(self) -> str: ...


def measure(
    request: MeasurementPlan,
    workload: TaskWork,
    tasks: Sequence[Any],
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
    request: MeasurementPlan, where: str, samples: list[Samples]
) -> BenchmarkDeadlineExceeded:
    completed = {f"{sample.mode}/{sample.workers}": len(sample.times_s) for sample in samples}
    return BenchmarkDeadlineExceeded(
        "deadline_exceeded",
        f"{request.label} ran out of time {where}; the estimate was too "
        "optimistic for this machine, so ask for a smaller size or fewer repeats",
        details={"completed_runs": completed},
    )
