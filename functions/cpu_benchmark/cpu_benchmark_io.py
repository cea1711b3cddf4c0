"""The I/O half of the benchmark: many small DynamoDB GetItem requests to a table of the stack.

A request spends almost all its time waiting for the network, with the GIL released, so threads overlap
the waits and speed up nearly with their count, where pure-Python CPU work (cpu_workloads) does not
speed up at all on threads. Processes overlap the waits too, but each pays its start and its own
client (a forked child must not share its parent's connections), so for I/O they trail threads.

Every request reads a key no order has (customer id IO_PROBE_CUSTOMER_ID), from ItemsTable, through the
layer's one client factory (lambda_toolkit.aws_clients). The requests are cut into at most TASK_COUNT
tasks, the same whatever the mode; a run's result is the number of requests DynamoDB answered, and each
run must count every request.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cpu_benchmark_models import IoBenchmarkRequest, IoReport, Measurement, VerifiedResult
from cpu_benchmark_report import Samples, best_by_mode, measurement_of
from cpu_workloads import TASK_COUNT, Reference

from lambda_toolkit import aws_clients

# ItemsTable's key schema (template.yaml; the unit tests create the table from it, so a change fails them).
PARTITION_KEY = "customer_id"
SORT_KEY = "order_id"
# No order carries this customer id (the order model's customer ids have no '#').
IO_PROBE_CUSTOMER_ID = "cpu-benchmark#io-probe"
# Requests the budget check times before the run, to know one request's round trip here.
CALIBRATION_REQUESTS = 5
IO_DESCRIPTION = "DynamoDB GetItem of a missing item, one request at a time per worker"


@dataclass(frozen=True)
class IoTask:
    """A slice of the requests: ``count`` GetItems of consecutive probe keys from ``first`` on."""

    table_name: str
    first: int
    count: int


def io_tasks(table_name: str, requests: int) -> list[IoTask]:
    edges = [requests * index // TASK_COUNT for index in range(TASK_COUNT + 1)]
    return [IoTask(table_name, lo, hi - lo) for lo, hi in itertools.pairwise(edges) if hi > lo]


def get_items(task: IoTask) -> int:
    """Send the task's requests one after another; how many DynamoDB answered (module level: picklable)."""
    client = aws_clients.dynamodb_client()
    answered = 0
    for number in range(task.first, task.first + task.count):
        response = client.get_item(TableName=task.table_name, Key={
            PARTITION_KEY: {"S": IO_PROBE_CUSTOMER_ID}, SORT_KEY: {"S": f"probe-{number:06d}"}})
        answered += response["ResponseMetadata"]["HTTPStatusCode"] == 200
    return answered


@dataclass(frozen=True)
class IoWorkload:
    """What the mode runners need (cpu_benchmark_modes.TaskWork): one task's work and how results combine."""

    run_task: Callable[[IoTask], int] = get_items
    combine: Callable[[Sequence[int]], int] = sum


IO_WORKLOAD = IoWorkload()


@dataclass(frozen=True)
class IoCalibration:
    client_s: float  # making a client and its first request: each process of processes mode does it again
    request_s: float  # one request's round trip


def calibrate_io(table_name: str) -> IoCalibration:
    """Time making the client and its first request (a forked worker pays both), then a few more requests.

    The client is made afresh to be timed (this function caches no other): at 128 MB making it and its
    first request (the connection, botocore's first-call set-up) cost a second or more of CPU.
    """
    aws_clients.reset()
    started = time.perf_counter()
    aws_clients.dynamodb_client()
    get_items(IoTask(table_name, 0, 1))
    ready = time.perf_counter()
    get_items(IoTask(table_name, 1, CALIBRATION_REQUESTS))
    return IoCalibration(client_s=ready - started, request_s=(time.perf_counter() - ready) / CALIBRATION_REQUESTS)


def estimate_io_s(request: IoBenchmarkRequest, calibration: IoCalibration, worker_start_s: float) -> float:
    """The I/O half's whole run, pessimistically: every parallel configuration as slow as serial, plus each
    process's start and client, one after another (at a fraction of a vCPU they do not overlap)."""
    serial = calibration.request_s * request.requests
    per_repeat = serial
    for workers in request.workers:
        per_repeat += serial * len(request.parallel_modes)
        if "processes" in request.modes:
            per_repeat += workers * (worker_start_s + calibration.client_s)
    return request.repeats * per_repeat


def build_io_report(request: IoBenchmarkRequest, table_name: str, samples: Sequence[Samples]) -> IoReport:
    reference = Reference(request.requests, "one answer per request sent")
    serial_median = statistics.median(samples[0].times_s)
    measurements = [measurement_of(sample, serial_median, reference) for sample in samples]
    best = best_by_mode(measurements)
    result = VerifiedResult(value=samples[0].results[0], reference=reference.value, reference_source=reference.source,
                            verified=all(measurement.results_verified for measurement in measurements))
    return IoReport(
        description=IO_DESCRIPTION, requests=request.requests, repeats=request.repeats, table_name=table_name,
        serial_request_ms=round(serial_median / request.requests * 1000, 3), result=result,
        measurements=measurements, best_speedup=best, notes=explain_io(best),
    )


def explain_io(best: dict[str, Measurement]) -> list[str]:
    notes = []
    threads, processes = best.get("threads"), best.get("processes")
    if threads is not None:
        notes.append(f"Threads reached {threads.speedup:.2f}x with {threads.workers} workers on I/O: a thread "
                     "waiting for DynamoDB releases the GIL, so the waits overlap.")
    if processes is not None:
        notes.append(f"Processes reached {processes.speedup:.2f}x with {processes.workers} workers on I/O, "
                     "after paying each process's start and its own client.")
    if threads is not None and processes is not None:
        winner = "threads" if threads.speedup >= processes.speedup else "processes"
        notes.append(f"For I/O, {winner} won here; for pure-Python CPU work only processes speed up.")
    return notes
