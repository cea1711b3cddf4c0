"""Refuse, before any heavy work, a benchmark that cannot finish in the time the invocation has left.

A short calibration run of the workload times this machine; the workload's cost model scales it to
the requested size, and a simple model of each mode (threads: serial time, the GIL serialises them;
processes: serial time over the usable CPUs, plus process start-up) adds up the whole run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from cpu_benchmark_models import BenchmarkInputError, BenchmarkRequest, Estimate
from cpu_workloads import Workload, run_serially

# Calibrate for at least this long: longer than one CFS period (100 ms), so that a CPU quota throttles
# the calibration as it will throttle the real run.
MIN_CALIBRATION_S = 0.12
# Seconds to start one worker process, by start method (spawn imports the modules afresh).
WORKER_START_S = {"fork": 0.02, "forkserver": 0.08, "spawn": 0.4}
# Threads and processes both lose a little to scheduling and result passing.
PARALLEL_OVERHEAD = 1.15
# The cost models and the calibration are rough; err on the side of refusing.
SAFETY_FACTOR = 1.3


@dataclass(frozen=True)
class Calibration:
    seconds_per_unit: float
    elapsed_s: float


def calibrate(
    workload: Workload,
    usable_cpus: float,
    wall_clock: Callable[[], float] = time.perf_counter,
    cpu_clock: Callable[[], float] = time.process_time,
) -> Calibration:
    wall_start, cpu_start = wall_clock(), cpu_clock()
    runs = 0
    while True:
        run_serially(workload, workload.calibration_size)
        runs += 1
        wall = wall_clock() - wall_start
        if runs >= 2 and wall >= MIN_CALIBRATION_S:
            break
    cpu = cpu_clock() - cpu_start
    # Below one credited vCPU, a calibration that slipped through unthrottled would promise more
    # speed than the run gets; charge the CPU time at the credited share instead.
    effective = max(wall, cpu / min(1.0, usable_cpus))
    return Calibration(effective / (runs * workload.work_units(workload.calibration_size)), wall)


@dataclass(frozen=True)
class CostModel:
    workload: Workload
    calibration: Calibration
    usable_cpus: float
    start_method: str

    def estimate(self, request: BenchmarkRequest, size: int) -> tuple[float, float]:
        """(one serial run, the whole benchmark) in seconds for ``request`` at ``size``."""
        serial = self.calibration.seconds_per_unit * self.workload.work_units(size)
        per_repeat = serial
        for workers in request.workers:
            if "threads" in request.modes:
                per_repeat += serial * PARALLEL_OVERHEAD
            if "processes" in request.modes:
                parallelism = max(1.0, min(float(workers), self.usable_cpus))
                per_repeat += (serial / parallelism * PARALLEL_OVERHEAD
                               + workers * WORKER_START_S[self.start_method])
        total = (request.repeats * per_repeat + self.workload.reference_cost_runs * serial) * SAFETY_FACTOR
        return serial, total

    def largest_size_within(self, request: BenchmarkRequest, budget_s: float) -> int | None:
        def fits(size: int) -> bool:
            return self.estimate(request, size)[1] <= budget_s

        low: int = self.workload.min_size
        high = request.size
        if not fits(low):
            return None
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if fits(middle) else (low, middle)
        return low


def check_budget(request: BenchmarkRequest, model: CostModel, budget_s: float, io_s: float = 0.0) -> Estimate:
    """The estimate, or BenchmarkInputError when it does not fit in ``budget_s``.

    ``io_s``: the I/O half's own estimate (cpu_benchmark_io.estimate_io_s), which no CPU size changes.
    """
    serial, cpu_total = model.estimate(request, request.size)
    total = cpu_total + io_s * SAFETY_FACTOR
    estimate = Estimate(
        calibration_s=round(model.calibration.elapsed_s, 4),
        serial_run_s=round(serial, 4),
        total_s=round(total, 3),
        budget_s=round(budget_s, 3),
        io_s=round(io_s * SAFETY_FACTOR, 3),
    )
    if total <= budget_s:
        return estimate
    largest = model.largest_size_within(request, budget_s - io_s * SAFETY_FACTOR)
    advice = (
        f"size {largest:,} would fit" if largest is not None
        else "even the smallest size would not fit; ask for fewer repeats, modes or worker counts"
    )
    raise BenchmarkInputError(
        "too_large_for_remaining_time",
        f"{request.workload} at size {request.size:,} needs about {total:.1f} s but only {budget_s:.1f} s "
        f"are left before the safety margin; {advice}",
        details={**estimate.model_dump(), "largest_size_that_fits": largest},
    )
