"""Run inside a namespace without /dev/shm (see tests/support/no_dev_shm.py); writes what it saw as JSON.

    python -m tests.unit.cpu_benchmark.no_dev_shm_probe OUTPUT.json
"""

from __future__ import annotations

import json
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from cpu_benchmark_models import CpuBenchmarkConfig
from cpu_benchmark_run import run_benchmark_event
from cpu_workloads import count_primes_between, prime_tasks

from lambda_toolkit.parallel_map import parallel_map
from tests.support.events import load_event


def _failure_of(start: Any) -> dict[str, Any] | None:
    try:
        start()
    except OSError as error:
        return {"type": type(error).__name__, "errno": error.errno, "message": str(error)}
    return None


def _pool() -> None:
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(count_primes_between, prime_tasks(20_000))


def _executor() -> None:
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as executor:
        list(executor.map(count_primes_between, prime_tasks(20_000)))


def main(output: Path) -> None:
    seen: dict[str, Any] = {
        "dev_shm_exists": Path("/dev/shm").exists(),
        "pool_failure": _failure_of(_pool),
        "executor_failure": _failure_of(_executor),
        "parallel_map_primes_below_20000": {
            method: sum(parallel_map(count_primes_between, prime_tasks(20_000), workers=2,
                                     start_method=method))
            for method in ("fork", "forkserver", "spawn")
        },
    }
    report = run_benchmark_event(
        load_event("cpu_benchmark", "quick.json"),
        config=CpuBenchmarkConfig(CPU_BENCHMARK_START_METHOD="fork"),
        remaining_ms=lambda: 120_000,
    )
    seen["benchmark"] = {
        "result": report["result"],
        "environment": report["environment"],
        "modes": sorted({(m["mode"], m["workers"]) for m in report["measurements"]}),
        "notes": report["notes"],
    }
    output.write_text(json.dumps(seen))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
