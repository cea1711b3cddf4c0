"""Turn timings into speed-ups, check every result, explain the figures, and publish them as metrics."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.metrics import single_metric
from cpu_benchmark_models import (
    BenchmarkReport,
    BenchmarkRequest,
    Estimate,
    Measurement,
    Mode,
    VerifiedResult,
)
from cpu_environment import MB_PER_VCPU, EnvironmentReport
from cpu_workloads import Reference, Workload

from lambda_toolkit.observability import MetricUnit, metrics

# Below this, threads "did not speed up" in the notes: scheduling noise on a busy host is about this big.
THREADS_NO_GAIN = 1.25


@dataclass
class Samples:
    """Every timing and result of one (mode, workers) configuration across the repeats."""

    mode: Mode
    workers: int
    times_s: list[float] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)


def build_report(
    request: BenchmarkRequest,
    *,
    workload: Workload,
    task_count: int,
    samples: Sequence[Samples],
    reference: Reference,
    environment: EnvironmentReport,
    estimate: Estimate,
) -> BenchmarkReport:
    serial_median = statistics.median(samples[0].times_s)
    measurements = [measurement_of(sample, serial_median, reference) for sample in samples]
    best = best_by_mode(measurements)
    result = VerifiedResult(
        value=samples[0].results[0],
        reference=reference.value,
        reference_source=reference.source,
        verified=all(measurement.results_verified for measurement in measurements),
    )
    return BenchmarkReport(
        workload=request.workload,
        description=workload.description,
        size=request.size,
        repeats=request.repeats,
        tasks=task_count,
        result=result,
        environment=environment,
        estimate=estimate,
        measurements=measurements,
        best_speedup=best,
        notes=explain(request, result, measurements, best, environment),
    )


def best_by_mode(measurements: Sequence[Measurement]) -> dict[str, Measurement]:
    """Each parallel mode's measurement with the highest speed-up."""
    best: dict[str, Measurement] = {}
    for measurement in measurements:
        if measurement.mode == "serial":
            continue
        current = best.get(measurement.mode)
        if current is None or measurement.speedup > current.speedup:
            best[measurement.mode] = measurement
    return best


def measurement_of(sample: Samples, serial_median: float, reference: Reference) -> Measurement:
    median = statistics.median(sample.times_s)
    speedup = serial_median / median if median > 0 else 0.0
    return Measurement(
        mode=sample.mode,
        workers=sample.workers,
        times_s=[round(seconds, 4) for seconds in sample.times_s],
        median_s=round(median, 4),
        speedup=round(speedup, 3),
        efficiency=round(speedup / sample.workers, 3),
        results_verified=all(value == reference.value for value in sample.results),
    )


def explain(
    request: BenchmarkRequest,
    result: VerifiedResult,
    measurements: Sequence[Measurement],
    best: dict[str, Measurement],
    environment: EnvironmentReport,
) -> list[str]:
    notes = [_verification_note(result)]
    if "serial" not in request.modes:
        notes.append("Serial was run as well although not asked for: it is the baseline of every speed-up.")
    if "threads" in best:
        notes.append(_threads_note(best["threads"]))
    if "processes" in best:
        notes.append(_processes_note(best["processes"], environment))
    oversubscribed = sorted({m.workers for m in measurements if m.mode != "serial"
                             and m.workers > environment.usable_cpus})
    if oversubscribed:
        notes.append(
            f"Worker counts {oversubscribed} exceed the {environment.usable_cpus:g} usable CPUs: extra "
            "processes only take turns on the same CPUs, so they cannot raise the speed-up."
        )
    notes.append(_cpu_count_note(environment))
    notes.append(_shared_memory_note(environment))
    return notes


def _verification_note(result: VerifiedResult) -> str:
    if result.verified:
        return (f"Every run returned {result.value!r}, equal to the reference ({result.reference_source}).")
    return (f"RESULT MISMATCH: the reference ({result.reference_source}) is {result.reference!r}; see "
            "results_verified per measurement. Timings of a wrong computation mean nothing.")


def _workers(count: int) -> str:
    return f"{count} worker" if count == 1 else f"{count} workers"


def _threads_note(best: Measurement) -> str:
    if best.speedup < THREADS_NO_GAIN:
        return (f"Threads stay near 1x (best {best.speedup:.2f}x with {_workers(best.workers)}): the GIL "
                "lets one thread at a time run Python bytecode, so pure-Python CPU work does not speed up.")
    return (f"Threads reached {best.speedup:.2f}x with {_workers(best.workers)}, unusual for pure-Python "
            "work under the GIL (a free-threaded build, or a workload that releases the GIL).")


def _processes_note(best: Measurement, environment: EnvironmentReport) -> str:
    return (f"Processes reached {best.speedup:.2f}x with {_workers(best.workers)} ({best.efficiency:.0%} "
            f"parallel efficiency) on {environment.usable_cpus:g} usable CPUs: each process has its own "
            "interpreter and GIL.")


def _cpu_count_note(environment: EnvironmentReport) -> str:
    cores = environment.os_cpu_count
    if environment.lambda_memory_mb is None or environment.credited_vcpu is None:
        return (f"os.cpu_count() is {cores} here. In Lambda the CPU share is one vCPU per {MB_PER_VCPU:,} MB "
                "of memory while at least 2 cores are visible, so os.cpu_count() overstates usable CPU at "
                "low memory (below 3,538 MB).")
    if cores is not None and cores > environment.credited_vcpu:
        return (f"os.cpu_count() says {cores}, but {environment.lambda_memory_mb} MB is credited with only "
                f"{environment.credited_vcpu:.2f} vCPU (memory / {MB_PER_VCPU}): os.cpu_count() overstates "
                "usable CPU at this memory size; size worker pools by the credited vCPU.")
    return (f"os.cpu_count() = {cores} matches the {environment.credited_vcpu:.2f} vCPU credited to "
            f"{environment.lambda_memory_mb} MB.")


def _shared_memory_note(environment: EnvironmentReport) -> str:
    if environment.posix_semaphores_usable:
        return ("POSIX semaphores work here, but not in Lambda (no /dev/shm), so processes mode uses "
                "Process + Pipe (lambda_toolkit.parallel_map) rather than multiprocessing.Pool.")
    return (f"POSIX semaphores are unusable here ({environment.posix_semaphore_error}; /dev/shm "
            f"{'exists' if environment.dev_shm_exists else 'is missing'}): multiprocessing.Pool, Queue "
            "and Lock would fail, and processes mode ran on Process + Pipe (lambda_toolkit.parallel_map).")


def publish_metrics(report: BenchmarkReport) -> None:
    """Key figures as EMF: one blob per worker count, so that `workers` can be a dimension."""
    metrics.add_dimension(name="workload", value=report.workload)
    metrics.add_metadata(key="size", value=report.size)
    metrics.add_metadata(key="start_method", value=report.environment.start_method)
    serial = report.measurements[0]
    metrics.add_metric(name="SerialSeconds", unit=MetricUnit.Seconds, value=serial.median_s)
    metrics.add_metric(name="UsableCpus", unit=MetricUnit.Count, value=report.environment.usable_cpus)
    metrics.add_metric(name="ResultVerified", unit=MetricUnit.Count, value=int(report.result.verified))
    for mode, best in report.best_speedup.items():
        metrics.add_metric(name=f"BestSpeedup{mode.title()}", unit=MetricUnit.NoUnit, value=best.speedup)
    if report.io is not None:
        for mode, best in report.io.best_speedup.items():
            metrics.add_metric(name=f"BestIoSpeedup{mode.title()}", unit=MetricUnit.NoUnit, value=best.speedup)
    for measurement in report.measurements[1:]:
        with single_metric(
            name=f"Speedup{measurement.mode.title()}",
            unit=MetricUnit.NoUnit,
            value=measurement.speedup,
            default_dimensions={"workload": report.workload, "workers": str(measurement.workers)},
        ):
            pass
