"""Refusing what cannot finish: the cost model, the refusal message, and the deadline during a run."""

from __future__ import annotations

import time

import pytest
from cpu_benchmark_budget import SAFETY_FACTOR, Calibration, CostModel, calibrate, check_budget
from cpu_benchmark_models import (
    BenchmarkDeadlineExceeded,
    BenchmarkInputError,
    BenchmarkRequest,
    CpuBenchmarkConfig,
)
from cpu_benchmark_run import measure
from cpu_workloads import WORKLOADS

from lambda_toolkit.config import load_config
from lambda_toolkit.errors import ConfigurationError, PermanentError


def _request(**changes: object) -> BenchmarkRequest:
    fields: dict[str, object] = {"workload": "sha256_chain", "size": 1_000_000, "workers": [1, 2],
                                 "modes": ["serial", "threads", "processes"], "repeats": 1}
    fields.update(changes)
    return BenchmarkRequest.model_validate(fields)


def _model(seconds_per_unit: float = 1e-6, usable_cpus: float = 2.0) -> CostModel:
    # sha256_chain costs one unit per round: 1e-6 s per unit = 1 s per million rounds.
    return CostModel(WORKLOADS["sha256_chain"], Calibration(seconds_per_unit, 0.1), usable_cpus, "fork")


def test_estimate_adds_up_every_mode_and_the_reference() -> None:
    # Given one serial run of 1 s, threads and processes at 1 and 2 workers on 2 CPUs
    request = _request()

    # When the whole benchmark is estimated
    serial, total = _model().estimate(request, request.size)

    # Then it counts serial, threads at ~1x each, processes at 1/min(workers, cpus), and the
    # reference recomputation, all with the safety factor
    assert serial == pytest.approx(1.0)
    expected = (1.0 + 2 * 1.15 + (1.15 + 0.02) + (0.575 + 0.04) + 1.0) * SAFETY_FACTOR
    assert total == pytest.approx(expected)


def test_processes_gain_nothing_beyond_the_usable_cpus() -> None:
    # Given processes only, at 2 and 8 workers, on a machine with a single usable CPU
    request = _request(modes=["processes"], workers=[2, 8])

    # When estimated with one CPU or with plenty
    _, single = _model(usable_cpus=1.0).estimate(request, request.size)
    _, plenty = _model(usable_cpus=16.0).estimate(request, request.size)

    # Then one CPU costs more: its workers cannot run at once
    assert single > plenty


def test_a_request_that_fits_gets_its_estimate() -> None:
    # Given a budget well above the estimate
    # When it is checked
    estimate = check_budget(_request(), _model(), budget_s=60.0)

    # Then the estimate is returned for the report
    assert estimate.total_s < estimate.budget_s == 60.0


def test_an_oversized_request_is_refused_with_a_size_that_would_fit() -> None:
    # Given a request that needs far more than the budget
    request = _request(size=100_000_000)

    # When it is checked
    with pytest.raises(BenchmarkInputError) as raised:
        check_budget(request, _model(), budget_s=20.0)

    # Then it is a permanent error that says how long it needs, and which size would fit
    error = raised.value
    assert isinstance(error, PermanentError)
    assert error.reason == "too_large_for_remaining_time"
    largest = error.details["largest_size_that_fits"]
    assert WORKLOADS["sha256_chain"].min_size < largest < request.size
    assert f"size {largest:,} would fit" in error.message
    _, at_largest = _model().estimate(request, largest)
    assert at_largest <= 20.0


def test_when_nothing_fits_the_refusal_says_so() -> None:
    # Given almost no time left
    # When a request is checked
    with pytest.raises(BenchmarkInputError, match="even the smallest size would not fit") as raised:
        check_budget(_request(), _model(), budget_s=0.0)

    # Then no size is suggested
    assert raised.value.details["largest_size_that_fits"] is None


def test_calibration_times_this_machine() -> None:
    # Given the primes workload
    # When it is calibrated
    calibration = calibrate(WORKLOADS["primes"], usable_cpus=2.0)

    # Then the cost per unit is positive and the calibration was short but not trivial
    assert calibration.seconds_per_unit > 0
    assert calibration.elapsed_s > 0


def test_calibration_below_one_vcpu_charges_the_credited_share() -> None:
    # Given clocks where two calibration runs took 1 s of wall and 1 s of CPU, at 0.5 credited vCPU
    ticks = iter([0.0, 0.5, 1.0])
    cpu_ticks = iter([0.0, 1.0])

    # When calibrated
    calibration = calibrate(WORKLOADS["sha256_chain"], usable_cpus=0.5,
                            wall_clock=lambda: next(ticks), cpu_clock=lambda: next(cpu_ticks))

    # Then the run is expected to take twice as long as an unthrottled calibration showed
    units = WORKLOADS["sha256_chain"].work_units(WORKLOADS["sha256_chain"].calibration_size)
    assert calibration.seconds_per_unit == pytest.approx(2.0 / (2 * units))


def test_a_deadline_passing_mid_run_fails_with_what_was_completed() -> None:
    # Given a deadline that has already passed when measuring starts
    request = _request(size=6_400)
    workload = WORKLOADS["sha256_chain"]

    # When the modes are measured
    with pytest.raises(BenchmarkDeadlineExceeded) as raised:
        measure(request, workload, workload.tasks(request.size), None, deadline=time.monotonic())

    # Then a permanent error says where it stopped and what had completed
    error = raised.value
    assert error.reason == "deadline_exceeded"
    assert "during serial with 1 workers" in error.message
    assert error.details["completed_runs"]["serial/1"] == 0


def test_configuration_comes_from_environment_variables() -> None:
    # Given the variables template.yaml sets, and the one Lambda sets
    environ = {"CPU_BENCHMARK_SAFETY_MARGIN_MS": "5000", "CPU_BENCHMARK_START_METHOD": "fork",
               "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3538"}

    # When the configuration is loaded
    config = load_config(CpuBenchmarkConfig, environ)

    # Then each is typed
    assert config.CPU_BENCHMARK_SAFETY_MARGIN_MS == 5000
    assert config.CPU_BENCHMARK_START_METHOD == "fork"
    assert config.AWS_LAMBDA_FUNCTION_MEMORY_SIZE == 3538


def test_an_unknown_start_method_fails_the_cold_start() -> None:
    # Given a misspelt start method
    # When / Then loading the configuration fails with the variable's name
    with pytest.raises(ConfigurationError, match="CPU_BENCHMARK_START_METHOD"):
        load_config(CpuBenchmarkConfig, {"CPU_BENCHMARK_START_METHOD": "vfork"})
