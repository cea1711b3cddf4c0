"""The I/O half of CpuBenchmarkFunction: DynamoDB GetItems on ItemsTable, serial vs threads vs processes.

ItemsTable is created in in-process moto from template.yaml's own definition, so the benchmark's key
schema cannot drift from the table's. Timings here are never asserted as figures (those come from
tools/memory_sweep.py and bench/): only that every mode ran and every request was answered.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import cpu_benchmark_run
import pytest
from cpu_benchmark_io import (
    IO_PROBE_CUSTOMER_ID,
    IoCalibration,
    IoTask,
    calibrate_io,
    estimate_io_s,
    get_items,
    io_tasks,
)
from cpu_benchmark_models import BenchmarkInputError, IoBenchmarkRequest

from tests.support.events import load_event
from tests.support.handlers import load_handler_module
from tests.support.lambda_context import FakeLambdaContext
from tests.unit.conftest import MotoAccount

FUNCTION = "cpu_benchmark"


@pytest.fixture
def items_table(template_table: Any) -> Any:
    return template_table("ItemsTable")


def load_app(monkeypatch: pytest.MonkeyPatch, table_name: str | None) -> ModuleType:
    monkeypatch.setenv("CPU_BENCHMARK_SAFETY_MARGIN_MS", "5000")
    monkeypatch.setenv("CPU_BENCHMARK_START_METHOD", "fork")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raising=False)
    if table_name is None:
        monkeypatch.delenv("IO_BENCHMARK_TABLE_NAME", raising=False)
    else:
        monkeypatch.setenv("IO_BENCHMARK_TABLE_NAME", table_name)
    return load_handler_module(FUNCTION)


def test_the_requests_are_cut_into_the_same_tasks_whatever_the_mode() -> None:
    # Given 200 requests
    # When they are cut into tasks
    tasks = io_tasks("ItemsTable", 200)

    # Then every request is in exactly one task, and no task is empty
    assert sum(task.count for task in tasks) == 200
    assert [task.first for task in tasks] == sorted({task.first for task in tasks})
    assert all(task.count > 0 for task in tasks)
    assert io_tasks("ItemsTable", 3) == [IoTask("ItemsTable", 0, 1), IoTask("ItemsTable", 1, 1),
                                         IoTask("ItemsTable", 2, 1)]


def test_a_task_reads_keys_no_order_has_and_counts_the_answers(items_table: Any) -> None:
    # Given ItemsTable with an order in it
    items_table.put_item(Item={"customer_id": "c-1", "order_id": "o-1"})

    # When a task of 5 requests runs
    answered = get_items(IoTask(items_table.name, 0, 5))

    # Then DynamoDB answered all five, and the probe's partition holds nothing
    assert answered == 5
    assert items_table.query(KeyConditionExpression="customer_id = :c",
                             ExpressionAttributeValues={":c": IO_PROBE_CUSTOMER_ID})["Count"] == 0


def test_the_io_event_reports_both_halves_with_every_request_answered_in_every_mode(
        monkeypatch: pytest.MonkeyPatch, moto_account: MotoAccount, items_table: Any) -> None:
    # Given the function configured with ItemsTable, as template.yaml configures it
    app = load_app(monkeypatch, items_table.name)
    event = load_event(FUNCTION, "with_io.json")

    # When the CPU + I/O sample event is invoked
    report = app.lambda_handler(event, FakeLambdaContext(timeout_s=300))

    # Then the CPU half is there as before
    assert report["result"]["verified"] is True
    # And the I/O half ran serial, threads and processes (fork: each child made its own client), and every
    # run of every mode had each of its 64 requests answered
    io = report["io"]
    assert [(m["mode"], m["workers"]) for m in io["measurements"]] == [
        ("serial", 1), ("threads", 1), ("threads", 8), ("processes", 1), ("processes", 8)]
    assert io["result"] == {"value": 64, "reference": 64, "reference_source": "one answer per request sent",
                            "verified": True}
    assert all(m["results_verified"] and m["median_s"] > 0 for m in io["measurements"])
    assert set(io["best_speedup"]) == {"threads", "processes"}
    assert io["table_name"] == items_table.name
    assert io["serial_request_ms"] > 0
    assert any("releases the GIL" in note for note in io["notes"])
    # And the I/O estimate was part of the budget, and the handler timed itself
    assert 0 < report["estimate"]["io_s"] < report["estimate"]["total_s"]
    assert report["handler_duration_ms"] > 0


def test_an_io_event_without_a_table_is_refused_before_any_work(
        monkeypatch: pytest.MonkeyPatch, moto_account: MotoAccount) -> None:
    # Given the function with no IO_BENCHMARK_TABLE_NAME
    app = load_app(monkeypatch, None)

    def forbidden(*_: Any, **__: Any) -> Any:
        raise AssertionError("heavy work started for an event that should have been refused")

    monkeypatch.setattr(cpu_benchmark_run, "calibrate", forbidden)

    # When an event asks for the I/O half
    # Then it is refused, saying why, before any calibration
    with pytest.raises(BenchmarkInputError, match="io_not_configured"):
        app.lambda_handler(load_event(FUNCTION, "with_io.json"), FakeLambdaContext(timeout_s=300))


def test_a_malformed_io_section_is_named(monkeypatch: pytest.MonkeyPatch, moto_account: MotoAccount) -> None:
    # Given the function, and an event whose io section asks for zero requests
    app = load_app(monkeypatch, "ItemsTable")

    # When it is invoked
    with pytest.raises(BenchmarkInputError) as raised:
        app.lambda_handler(load_event(FUNCTION, "bad_io_requests_zero.json"), FakeLambdaContext(timeout_s=300))

    # Then the field is named
    assert any(item["field"] == "io.requests" and "greater than or equal to 1" in item["problem"]
               for item in raised.value.details)


def test_the_io_estimate_charges_every_process_its_start_and_its_own_client() -> None:
    # Given one request taking 20 ms, and a client (with its first request) taking 1 s, as at 128 MB
    calibration = IoCalibration(client_s=1.0, request_s=0.02)
    request = IoBenchmarkRequest(requests=100, workers=[1, 8], modes=["serial", "threads", "processes"], repeats=3)

    # When the I/O half is estimated (fork: 0.02 s to start a process)
    estimate = estimate_io_s(request, calibration, worker_start_s=0.02)

    # Then each repeat is serial (2 s) + 4 parallel configurations as slow as serial + 9 processes x 1.02 s
    assert estimate == pytest.approx(3 * (2.0 + 4 * 2.0 + 9 * 1.02))
    # And with threads only, no process cost is charged
    threads_only = IoBenchmarkRequest(requests=100, workers=[1, 8], modes=["threads"], repeats=3)
    assert estimate_io_s(threads_only, calibration, worker_start_s=0.02) == pytest.approx(3 * (2.0 + 2 * 2.0))


def test_calibration_times_a_fresh_client_and_requests_against_the_table(
        moto_account: MotoAccount, items_table: Any) -> None:
    # Given ItemsTable
    # When the I/O half is calibrated
    calibration = calibrate_io(items_table.name)

    # Then both are measured (figures themselves come from sweep runs, not tests)
    assert calibration.client_s > 0 and calibration.request_s > 0
