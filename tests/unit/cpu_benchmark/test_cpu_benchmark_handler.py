"""CpuBenchmarkFunction end to end through app.lambda_handler, with the events of events/cpu_benchmark/."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import cpu_benchmark_run
import pytest
from cpu_benchmark_models import BenchmarkInputError

from lambda_toolkit.errors import PermanentError
from tests.support.events import event_files, load_event
from tests.support.handlers import load_handler_module
from tests.support.lambda_context import FakeLambdaContext

FUNCTION = "cpu_benchmark"


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    # As template.yaml configures the function (module scope reads it at import, like a cold start).
    monkeypatch.setenv("CPU_BENCHMARK_SAFETY_MARGIN_MS", "5000")
    monkeypatch.setenv("CPU_BENCHMARK_START_METHOD", "fork")
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raising=False)
    return load_handler_module(FUNCTION)


@pytest.fixture
def no_heavy_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if a refused event reaches calibration or measurement."""

    def forbidden(*_: Any, **__: Any) -> Any:
        raise AssertionError("heavy work started for an event that should have been refused")

    monkeypatch.setattr(cpu_benchmark_run, "measure", forbidden)


def _emf_blobs(stdout: str) -> list[dict[str, Any]]:
    blobs = []
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            blobs.append(json.loads(line))
    return blobs


def test_the_quick_event_returns_a_verified_report(
    app: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the quick sample event (primes below 100,000; serial, threads and processes at 1 and 2)
    event = load_event(FUNCTION, "quick.json")

    # When the function is invoked
    report = app.lambda_handler(event, FakeLambdaContext(timeout_s=300))

    # Then the count is pi(10**5), verified against the known value, in every mode
    assert report["result"] == {"value": 9_592, "reference": 9_592,
                                "reference_source": "known value of pi(N)", "verified": True}
    configurations = [(m["mode"], m["workers"]) for m in report["measurements"]]
    assert configurations == [
        ("serial", 1), ("threads", 1), ("threads", 2), ("processes", 1), ("processes", 2),
    ]
    assert all(m["results_verified"] for m in report["measurements"])
    assert all(len(m["times_s"]) == event["repeats"] and m["median_s"] > 0 for m in report["measurements"])
    serial = report["measurements"][0]
    assert (serial["speedup"], serial["efficiency"]) == (1.0, 1.0)
    assert set(report["best_speedup"]) == {"threads", "processes"}
    # and it reports the machine, the estimate it checked, and what the figures mean
    environment = report["environment"]
    assert environment["start_method"] == "fork"
    assert environment["logical_cores"] >= 1
    assert environment["usable_cpus"] > 0
    assert environment["lambda_memory_mb"] is None
    assert {"cpu_affinity", "cgroup_cpu_quota", "cpu_freq", "memory_total_bytes",
            "memory_available_bytes", "credited_vcpu", "python_version", "dev_shm_exists",
            "posix_semaphores_usable", "default_start_method"} <= set(environment)
    assert report["estimate"]["total_s"] < report["estimate"]["budget_s"]
    assert any("GIL" in note for note in report["notes"])
    assert any("os.cpu_count()" in note for note in report["notes"])
    # and the speed-ups went out as EMF metrics, per worker count
    blobs = _emf_blobs(capsys.readouterr().out)
    per_workers = {(blob.get("workers"), name) for blob in blobs
                   for name in ("SpeedupProcesses", "SpeedupThreads") if name in blob}
    assert per_workers == {("1", "SpeedupProcesses"), ("2", "SpeedupProcesses"),
                           ("1", "SpeedupThreads"), ("2", "SpeedupThreads")}
    assert any("BestSpeedupProcesses" in blob and "SerialSeconds" in blob for blob in blobs)


def test_the_report_is_json_serialisable(app: ModuleType) -> None:
    # Given the quick event
    # When the function is invoked
    report = app.lambda_handler(load_event(FUNCTION, "quick.json"), FakeLambdaContext(timeout_s=300))

    # Then the response survives the trip through JSON unchanged, as Lambda returns it
    assert json.loads(json.dumps(report)) == report


@pytest.mark.parametrize(("event_file", "field", "problem"), [
    ("bad_unknown_workload.json", "workload", "Input should be 'primes' or 'sha256_chain'"),
    ("bad_workers_zero.json", "workers", "worker counts must be between 1 and 32, got [0]"),
    ("bad_empty_lists.json", "workers", "List should have at least 1 item"),
    ("bad_unknown_mode.json", "modes.1", "Input should be 'serial', 'threads' or 'processes'"),
])
@pytest.mark.usefixtures("no_heavy_work")
def test_malformed_events_fail_with_a_clear_permanent_error(
    app: ModuleType, event_file: str, field: str, problem: str
) -> None:
    # Given a malformed event from events/cpu_benchmark/
    event = load_event(FUNCTION, event_file)

    # When the function is invoked
    with pytest.raises(BenchmarkInputError) as raised:
        app.lambda_handler(event, FakeLambdaContext(timeout_s=300))

    # Then the invoke fails with a permanent error naming the field and the problem
    error = raised.value
    assert isinstance(error, PermanentError)
    assert error.reason == "invalid_input"
    assert str(error).startswith("invalid_input: ")
    assert any(item["field"] == field and problem in item["problem"] for item in error.details)


@pytest.mark.usefixtures("no_heavy_work")
def test_extra_or_misspelt_fields_are_refused(app: ModuleType) -> None:
    # Given the quick event with a misspelt field
    event = {**load_event(FUNCTION, "quick.json"), "repeat": 2}

    # When / Then the typo is named rather than silently ignored
    with pytest.raises(BenchmarkInputError, match="repeat: Extra inputs are not permitted"):
        app.lambda_handler(event, FakeLambdaContext(timeout_s=300))


@pytest.mark.usefixtures("no_heavy_work")
def test_an_event_too_big_for_the_longest_timeout_is_refused_before_any_heavy_work(app: ModuleType) -> None:
    # Given the oversize event and the longest timeout Lambda allows (900 s)
    event = load_event(FUNCTION, "bad_oversize.json")

    # When the function is invoked
    with pytest.raises(BenchmarkInputError) as raised:
        app.lambda_handler(event, FakeLambdaContext(timeout_s=900))

    # Then it is refused with the estimate and a size that would fit (measure was never called)
    error = raised.value
    assert error.reason == "too_large_for_remaining_time"
    assert error.details["total_s"] > error.details["budget_s"]
    assert error.details["largest_size_that_fits"] < event["size"]


@pytest.mark.usefixtures("no_heavy_work")
def test_the_quick_event_is_refused_when_little_time_is_left(app: ModuleType) -> None:
    # Given an invocation with only the safety margin left
    # When the quick event arrives
    with pytest.raises(BenchmarkInputError, match="too_large_for_remaining_time"):
        app.lambda_handler(load_event(FUNCTION, "quick.json"), FakeLambdaContext(timeout_s=5))

    # Then it was refused rather than started (measure was never called)


def test_the_sample_events_are_there_and_the_good_ones_validate() -> None:
    # Given the sample events
    files = {path.name: path for path in event_files(FUNCTION)}

    # When / Then the quick, full and bad-input events are all there
    assert {"quick.json", "full.json", "bad_unknown_workload.json", "bad_workers_zero.json",
            "bad_oversize.json"} <= set(files)
    # and every event not named bad_* is a valid request
    for name in files:
        if not name.startswith("bad_"):
            cpu_benchmark_run.parse_request(load_event(FUNCTION, name))
