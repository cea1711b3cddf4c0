"""Run a workload's tasks serially, on threads, or on processes, each bounded by one deadline.

Processes go through lambda_toolkit.parallel_map (Process + Pipe), because Lambda has no /dev/shm
and multiprocessing.Pool / ProcessPoolExecutor cannot start there. Threads need no /dev/shm, so the
standard ThreadPoolExecutor serves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from cpu_benchmark_models import Mode

from lambda_toolkit.parallel_map import DeadlineExceeded, parallel_map


class TaskWork(Protocol):
    """What a mode runs: one task's work (a module-level function, so processes can unpickle it) and how
    the tasks' results combine. The CPU workloads (cpu_workloads.Workload) and the I/O one are both."""

    @property
    def run_task(self) -> Callable[[Any], Any]: ...

    @property
    def combine(self) -> Callable[[Sequence[Any]], Any]: ...


ModeRunner = Callable[[TaskWork, Sequence[Any], int, float, "str | None"], Any]


def run_serial(workload: TaskWork, tasks: Sequence[Any], workers: int, deadline: float,
               start_method: str | None) -> Any:
    partials: list[Any] = []
    for task in tasks:
        if time.monotonic() >= deadline:
            raise DeadlineExceeded(len(partials), len(tasks))
        partials.append(workload.run_task(task))
    return workload.combine(partials)


def run_threads(workload: TaskWork, tasks: Sequence[Any], workers: int, deadline: float,
                start_method: str | None) -> Any:
    def task_before_deadline(task: Any) -> Any:
        # A running thread cannot be stopped, so each one checks the deadline before it starts a task.
        if time.monotonic() >= deadline:
            raise DeadlineExceeded(0, len(tasks))
        return workload.run_task(task)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cpu-benchmark") as pool:
        futures = [pool.submit(task_before_deadline, task) for task in tasks]
        try:
            partials = [future.result() for future in futures]
        except DeadlineExceeded:
            for future in futures:
                future.cancel()
            finished = sum(1 for future in futures if future.done() and not future.cancelled()
                           and future.exception() is None)
            raise DeadlineExceeded(finished, len(tasks)) from None
    return workload.combine(partials)


def run_processes(workload: TaskWork, tasks: Sequence[Any], workers: int, deadline: float,
                  start_method: str | None) -> Any:
    # One task per chunk: tasks are few and uneven (later prime blocks cost more), so hand them out
    # one at a time to whichever worker is free.
    partials = parallel_map(workload.run_task, tasks, workers=workers, deadline=deadline,
                            start_method=start_method, chunksize=1)
    return workload.combine(partials)


MODE_RUNNERS: dict[Mode, ModeRunner] = {
    "serial": run_serial,
    "threads": run_threads,
    "processes": run_processes,
}
