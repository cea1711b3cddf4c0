"""The benchmark's workloads: their answers are right and do not depend on how the work is split."""

from __future__ import annotations

import hashlib
import itertools
import typing

import pytest
from cpu_workloads import (
    KNOWN_PRIME_COUNTS,
    TASK_COUNT,
    WORKLOADS,
    WorkloadName,
    count_primes_between,
    count_primes_by_sieve,
    prime_tasks,
    run_serially,
    sha256_chain_reference,
    sha256_chain_tasks,
)


def test_the_registry_holds_every_workload_name_the_request_accepts() -> None:
    # Given the names a request may use
    # When / Then every one of them has a workload, and no other
    assert set(WORKLOADS) == set(typing.get_args(WorkloadName))


@pytest.mark.parametrize("size", [10, 100, 1_000, 10_000, 100_000])
def test_the_sieve_agrees_with_known_prime_counts(size: int) -> None:
    # Given a power of ten with a known pi(N)
    # When primes below it are sieved
    # Then the count is the known one
    assert count_primes_by_sieve(size) == KNOWN_PRIME_COUNTS[size]


def test_trial_division_counts_primes_below_one_hundred_thousand() -> None:
    # Given the known value pi(10**5) = 9592
    # When the primes workload runs serially over all its tasks
    # Then it finds exactly that many
    assert run_serially(WORKLOADS["primes"], 100_000) == 9_592


@pytest.mark.parametrize("size", [1_000, 12_345, 54_321])
def test_prime_tasks_cover_the_range_without_overlap(size: int) -> None:
    # Given a size that does not divide evenly into the tasks
    tasks = prime_tasks(size)

    # When / Then the tasks tile [0, size) exactly, and their counts add up to the sieve's
    assert tasks[0][0] == 0
    assert tasks[-1][1] == size
    assert all(previous[1] == following[0] for previous, following in itertools.pairwise(tasks))
    assert sum(count_primes_between(task) for task in tasks) == count_primes_by_sieve(size)


def test_small_ranges_count_two_and_three() -> None:
    # Given ranges at the very bottom
    # When / Then 2 and 3 are primes, 0, 1 and 4 are not
    assert count_primes_between((0, 5)) == 2
    assert count_primes_between((4, 5)) == 0


def test_sha256_chains_share_the_rounds_exactly() -> None:
    # Given a number of rounds that does not divide by the chain count
    size = TASK_COUNT * 10 + 5

    # When it is split into chains
    tasks = sha256_chain_tasks(size)

    # Then there are TASK_COUNT chains and every round is in one of them
    assert len(tasks) == TASK_COUNT
    assert sum(rounds for _, rounds in tasks) == size


def test_sha256_chain_matches_hashlib_recomputation() -> None:
    # Given the sha256_chain workload
    workload = WORKLOADS["sha256_chain"]

    # When it runs serially, and the reference recomputes it
    computed = run_serially(workload, 6_400)
    reference = sha256_chain_reference(6_400)

    # Then both agree, and the result is a SHA-256 hex digest
    assert computed == reference.value
    assert len(computed) == 64
    assert reference.source.startswith("serial recomputation")


def test_a_single_round_chain_is_one_sha256_of_the_seed() -> None:
    # Given a chain of one round
    workload = WORKLOADS["sha256_chain"]

    # When it runs
    tip = workload.run_task((0, 1))

    # Then it is sha256 of the chain's seed, computed here by hand
    seed = hashlib.sha256(b"lambda-suite cpu benchmark chain 0").digest()
    assert tip == hashlib.sha256(seed).hexdigest()


def test_prime_reference_uses_the_table_when_it_can() -> None:
    # Given one size in the table and one not
    primes = WORKLOADS["primes"]

    # When references are asked for
    known = primes.reference(1_000_000)
    sieved = primes.reference(30_000)

    # Then the table answers the first and the sieve the second
    assert (known.value, known.source) == (78_498, "known value of pi(N)")
    assert sieved.value == 3_245
    assert sieved.source == "sieve of Eratosthenes"


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_cost_models_grow_with_size(name: str) -> None:
    # Given a workload's cost model
    workload = WORKLOADS[name]  # type: ignore[index]

    # When / Then a bigger size always costs more, so the largest size that fits can be searched for
    sizes = [workload.min_size, workload.min_size * 10, workload.max_size]
    costs = [workload.work_units(size) for size in sizes]
    assert costs == sorted(costs)
    assert len(set(costs)) == len(costs)
