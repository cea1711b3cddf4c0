"""Keeps its cores busy for a wall-clock window and reports the CPU time it got: the CPU limit tests' function.

One busy process per visible core (the handler and forked children; multiprocessing.Process with
Pipe, which works without /dev/shm), so the whole sandbox's share is measured, not one thread's.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import time
from multiprocessing.connection import Connection
from typing import Any


def busy(until: float) -> None:
    while time.monotonic() < until:
        pass


def busy_child(until: float, done: Connection) -> None:
    busy(until)
    done.send(os.getpid())


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    cores = sorted(os.sched_getaffinity(0))
    window_s = float(event.get("window_s", 2.0))
    processes = int(event.get("processes", 1))
    started_wall, started_cpu = time.monotonic(), time.process_time()
    until = started_wall + window_s
    children = []
    for _ in range(processes - 1):
        receiver, sender = multiprocessing.Pipe(duplex=False)
        child = multiprocessing.get_context("fork").Process(target=busy_child, args=(until, sender))
        child.start()
        children.append((child, receiver))
    busy(until)
    for child, receiver in children:
        receiver.recv()
        child.join()
    wall_s = time.monotonic() - started_wall
    children_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = time.process_time() - started_cpu + children_cpu.ru_utime + children_cpu.ru_stime
    return {"cores": cores, "cpu_s": cpu_s, "wall_s": wall_s, "cpu_share": cpu_s / wall_s}
