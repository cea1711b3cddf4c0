"""CPU-bound pure-Python workloads whose results can be checked.

Each workload cuts a size into the same TASK_COUNT picklable tasks whatever the mode or worker count,
so serial, threads and processes do exactly the same work and must produce exactly the same result.
``run_task`` functions live at module level so that forkserver and spawn workers can unpickle them.

primes        count primes below N by trial division; checked against known values of pi(N) or an
              independent sieve of Eratosthenes.
sha256_chain  TASK_COUNT hash chains sharing N rounds in all, each round sha256 of the previous digest;
              hashlib holds the GIL for inputs this small, so threads cannot overlap. Checked against
              a serial recomputation in the calling process.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from lambda_toolkit.prime_counts import KNOWN_PRIME_COUNTS

WorkloadName = Literal["primes", "sha256_chain"]

# Enough tasks for dynamic load balancing across up to MAX_WORKERS; fixed so results never depend on
# how many workers ran.
TASK_COUNT = 64


@dataclass(frozen=True)
class Reference:
    value: Any
    source: str


@dataclass(frozen=True)
class Workload:
    name: WorkloadName
    description: str
    min_size: int
    max_size: int
    calibration_size: int
    tasks: Callable[[int], list[Any]]
    run_task: Callable[[Any], Any]
    combine: Callable[[Sequence[Any]], Any]
    reference: Callable[[int], Reference]
    # Relative cost of a size, so that a timed calibration run scales to any size.
    work_units: Callable[[int], float]
    # How many serial runs computing the reference costs (0 when it comes from a table or a sieve).
    reference_cost_runs: float


# --- primes ---------------------------------------------------------------------------------------


def count_primes_between(bounds: tuple[int, int]) -> int:
    """Primes p with lo <= p < hi, by trial division by odd numbers up to sqrt(p)."""
    lo, hi = bounds
    count = 0
    for candidate in range(max(lo, 2), hi):
        if candidate < 4:
            count += 1
            continue
        if not candidate & 1:
            continue
        limit = math.isqrt(candidate)
        divisor = 3
        while divisor <= limit:
            if candidate % divisor == 0:
                break
            divisor += 2
        else:
            count += 1
    return count


def prime_tasks(size: int) -> list[tuple[int, int]]:
    edges = [size * index // TASK_COUNT for index in range(TASK_COUNT + 1)]
    return [(lo, hi) for lo, hi in itertools.pairwise(edges) if hi > lo]


def count_primes_by_sieve(size: int) -> int:
    """Primes below ``size`` by a sieve of Eratosthenes: a different algorithm to check against."""
    if size < 3:
        return 0
    sieve = bytearray([1]) * size
    sieve[0] = sieve[1] = 0
    for number in range(2, math.isqrt(size - 1) + 1):
        if sieve[number]:
            sieve[number * number::number] = bytes(len(range(number * number, size, number)))
    return sum(sieve)


def prime_reference(size: int) -> Reference:
    if size in KNOWN_PRIME_COUNTS:
        return Reference(KNOWN_PRIME_COUNTS[size], "known value of pi(N)")
    return Reference(count_primes_by_sieve(size), "sieve of Eratosthenes")


def prime_work_units(size: int) -> float:
    # About sqrt(p)/2 divisions for each of the N/ln N primes dominate. Scaled from the 2e4
    # calibration this over-estimates by at most 13 % (measured, N = 5e4..3e6), never under.
    return math.pow(size, 1.5) / math.log(max(size, 3))


# --- sha256 chains --------------------------------------------------------------------------------


def chain_seed(chain: int) -> bytes:
    return hashlib.sha256(f"lambda-suite cpu benchmark chain {chain}".encode()).digest()


def sha256_chain_tasks(size: int) -> list[tuple[int, int]]:
    rounds, extra = divmod(size, TASK_COUNT)
    return [(chain, rounds + (1 if chain < extra else 0)) for chain in range(TASK_COUNT)]


def run_sha256_chain(task: tuple[int, int]) -> str:
    chain, rounds = task
    digest = chain_seed(chain)
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()


def combine_chain_tips(tips: Sequence[str]) -> str:
    return hashlib.sha256("".join(tips).encode()).hexdigest()


def sha256_chain_reference(size: int) -> Reference:
    """Recompute every chain in this process, in one loop that shares no code with run_sha256_chain."""
    combined = hashlib.sha256()
    for chain, rounds in sha256_chain_tasks(size):
        state = hashlib.new("sha256", f"lambda-suite cpu benchmark chain {chain}".encode()).digest()
        for _ in range(rounds):
            state = hashlib.new("sha256", state).digest()
        combined.update(state.hex().encode())
    return Reference(combined.hexdigest(), "serial recomputation in the handler process")


# --- registry -------------------------------------------------------------------------------------

WORKLOADS: dict[WorkloadName, Workload] = {
    "primes": Workload(
        name="primes",
        description="count primes below N by trial division",
        min_size=1_000,
        max_size=20_000_000,
        calibration_size=20_000,
        tasks=prime_tasks,
        run_task=count_primes_between,
        combine=sum,
        reference=prime_reference,
        work_units=prime_work_units,
        reference_cost_runs=0.0,
    ),
    "sha256_chain": Workload(
        name="sha256_chain",
        description=f"{TASK_COUNT} SHA-256 hash chains sharing N rounds",
        min_size=TASK_COUNT,
        max_size=200_000_000,
        calibration_size=20_000,
        tasks=sha256_chain_tasks,
        run_task=run_sha256_chain,
        combine=combine_chain_tips,
        reference=sha256_chain_reference,
        work_units=float,
        reference_cost_runs=1.0,
    ),
}


def run_serially(workload: Workload, size: int) -> Any:
    """The whole workload in this process (calibration, and tests)."""
    return workload.combine([workload.run_task(task) for task in workload.tasks(size)])
