"""lambda_toolkit.parallel_map (Process + Pipe) against multiprocessing.Pool on the same work.

    python bench/parallel_map_overhead.py [--repeats 15] [--workers N] [--size 600000]

Both start their workers, map the same function over the same items with the same chunk size, and
stop their workers, inside the timed region; repetitions alternate which one goes first (ABBA), so
a drift in machine load falls on both alike. Reports medians and the overhead ratio
parallel_map / Pool (target <= 1.05) for a CPU-bound case, plus a fine-grained case that measures
pure message-passing cost (for information). Writes bench/results/parallel_map_overhead.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

from cpu_workloads import count_primes_between, prime_tasks  # noqa: E402

from lambda_toolkit.parallel_map import default_chunksize, parallel_map  # noqa: E402

OVERHEAD_TARGET = 1.05


def square(value: int) -> int:
    return value * value


def time_parallel_map(func: Callable[[Any], Any], items: list[Any], workers: int, chunksize: int,
                      start_method: str) -> float:
    started = time.perf_counter()
    parallel_map(func, items, workers=workers, chunksize=chunksize, start_method=start_method)
    return time.perf_counter() - started


def time_pool(func: Callable[[Any], Any], items: list[Any], workers: int, chunksize: int,
              start_method: str) -> float:
    started = time.perf_counter()
    with multiprocessing.get_context(start_method).Pool(workers) as pool:
        pool.map(func, items, chunksize=chunksize)
    return time.perf_counter() - started


@dataclass(frozen=True)
class Case:
    name: str
    func: Callable[[Any], Any]
    items: list[Any]
    chunksize: int


def compare(case: Case, *, workers: int, repeats: int, start_method: str) -> dict[str, Any]:
    ours: list[float] = []
    pools: list[float] = []
    for repeat in range(repeats):
        pair = [(ours, time_parallel_map), (pools, time_pool)]
        for times, timer in pair if repeat % 2 == 0 else reversed(pair):
            times.append(timer(case.func, case.items, workers, case.chunksize, start_method))
    ours_median, pool_median = statistics.median(ours), statistics.median(pools)
    return {
        "case": case.name,
        "items": len(case.items),
        "chunksize": case.chunksize,
        "parallel_map_s": ours_median,
        "pool_s": pool_median,
        "ratio": ours_median / pool_median,
        "parallel_map_runs": ours,
        "pool_runs": pools,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--size", type=int, default=600_000, help="primes below this, as the CPU-bound case")
    parser.add_argument("--start-method", choices=["fork", "forkserver", "spawn"], default="fork")
    args = parser.parse_args()

    tasks = prime_tasks(args.size)
    small = list(range(20_000))
    cases = [
        Case("CPU-bound: primes in 64 blocks, one block per chunk", count_primes_between, tasks, 1),
        Case("CPU-bound: same blocks, Pool.map's default chunk size", count_primes_between, tasks,
             default_chunksize(len(tasks), args.workers)),
        Case("fine-grained: 20,000 squares (message passing only)", square, small,
             default_chunksize(len(small), args.workers)),
    ]
    rows = [compare(case, workers=args.workers, repeats=args.repeats, start_method=args.start_method)
            for case in cases]
    lines = [
        "| case | items | chunk | parallel_map median s | Pool median s | ratio |",
        "|---|---:|---:|---:|---:|---:|",
        *(f"| {r['case']} | {r['items']:,} | {r['chunksize']} | {r['parallel_map_s']:.4f} | "
          f"{r['pool_s']:.4f} | {r['ratio']:.3f} |" for r in rows),
    ]
    cpu_bound = rows[:2]
    verdict = all(r["ratio"] <= OVERHEAD_TARGET for r in cpu_bound)
    ratios = ", ".join(f"{row['ratio']:.3f}" for row in cpu_bound)
    summary = (f"{'PASS' if verdict else 'FAIL'}: CPU-bound overhead ratios {ratios} "
               f"(target <= {OVERHEAD_TARGET})")
    header = (f"{args.workers} workers, start method {args.start_method}, {args.repeats} alternating "
              f"repeats, Python {sys.version.split()[0]}")
    print(header)
    print("\n".join(lines))
    print(summary)

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "parallel_map_overhead.md"
    path.write_text("\n".join([
        "# parallel_map (Process + Pipe) against multiprocessing.Pool",
        "",
        f"Generated by `python bench/parallel_map_overhead.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"{header}. Each timing includes starting and stopping the workers.",
        "",
        *lines,
        "",
        f"- {summary}",
        "",
    ]))
    print(f"wrote {path}")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
