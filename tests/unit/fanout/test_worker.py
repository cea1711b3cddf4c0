from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from fanout_item_worker import (
    InvalidItemError,
    ItemDeadlineError,
    PrimeRangeWorker,
    subranges,
    worker_processes,
)
from fanout_prime_sieve import count_primes_in_range, odd_primes_up_to

from lambda_toolkit.parallel_map import parallel_map
from tests.support.events import load_event


def reference_primes_below(limit: int) -> list[int]:
    """A plain sieve of Eratosthenes, the slow way, as the yardstick."""
    flags = [True] * max(limit, 2)
    flags[0] = flags[1] = False
    for p in range(2, int(limit**0.5) + 1):
        if flags[p]:
            for multiple in range(p * p, limit, p):
                flags[multiple] = False
    return [n for n in range(limit) if flags[n]]


PRIMES = reference_primes_below(60_000)


def reference_count(start: int, stop: int) -> int:
    return sum(1 for p in PRIMES if start <= p < stop)


@pytest.mark.parametrize(
    ("start", "stop"),
    [
        (0, 0),
        (0, 1),
        (0, 2),
        (0, 3),
        (2, 3),
        (3, 4),
        (0, 10),
        (1, 2),
        (4, 5),
        (9, 10),
        (10, 0),
        (0, 100),
        (97, 98),
        (97, 97),
        (1000, 2000),
        (49_000, 50_000),
        (0, 60_000),
    ],
)
@pytest.mark.parametrize("segment_odds", [1, 2, 3, 7, 64, 1 << 19])
def test_the_sieve_counts_exactly_the_primes_in_a_half_open_range(start: int, stop: int, segment_odds: int) -> None:
    # Segments as small as one odd number put every segment boundary case in play
    assert count_primes_in_range((start, stop), segment_odds) == reference_count(start, stop)


def test_the_base_primes_are_the_odd_primes() -> None:
    assert odd_primes_up_to(100) == [p for p in PRIMES if 2 < p <= 100]
    assert odd_primes_up_to(2) == []


@pytest.mark.parametrize(("limit", "known"), [(10**6, 78_498), (10**7, 664_579)])
def test_the_sieve_gives_the_known_prime_counts(limit: int, known: int) -> None:
    assert count_primes_in_range((0, limit)) == known


@pytest.mark.parametrize(
    ("memory_mb", "cores", "processes"),
    [
        (128, 2, 1),
        (1769, 2, 1),
        (1770, 2, 2),
        (3538, 2, 2),
        (3538, 8, 2),
        (5307, 3, 3),
        (10240, 6, 6),
        (10240, 2, 2),
        (10240, 1, 1),
    ],
)
def test_processes_follow_the_credited_vcpus_but_never_exceed_the_visible_cores(
    memory_mb: int, cores: int, processes: int
) -> None:
    assert worker_processes(memory_mb, cores) == processes


@pytest.mark.parametrize(("start", "stop", "processes"), [(0, 1, 2), (0, 10**6, 2), (5, 10**7 + 3, 6), (0, 70_000, 4)])
def test_subranges_cover_the_item_contiguously(start: int, stop: int, processes: int) -> None:
    pieces = subranges(start, stop, processes)

    assert pieces[0][0] == start
    assert pieces[-1][1] == stop
    assert all(a[1] == b[0] for a, b in itertools.pairwise(pieces))
    assert len(pieces) <= processes * 8


class RecordingMap:
    """Delegates to the real parallel_map and keeps what it was asked to do."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(
        self,
        func: Callable[[tuple[int, int]], int],
        items: Iterable[tuple[int, int]],
        *,
        workers: int,
        deadline: float | None = None,
        start_method: str | None = None,
        chunksize: int | None = None,
    ) -> list[int]:
        todo = list(items)
        self.calls.append(
            {
                "func": func,
                "items": todo,
                "workers": workers,
                "deadline": deadline,
                "start_method": start_method,
                "chunksize": chunksize,
            }
        )
        return parallel_map(
            func, todo, workers=workers, deadline=deadline, start_method=start_method, chunksize=chunksize
        )


def test_the_worker_spreads_its_range_over_every_credited_core_with_parallel_map() -> None:
    # Given a 2-vCPU worker (3,538 MB) that sees 2 cores, and an item over [0, 10^6)
    recording = RecordingMap()
    worker = PrimeRangeWorker(safety_margin_ms=2000, map_fn=recording)
    before = time.monotonic()

    # When it handles the item with 60 s left
    result = worker.handle(
        load_event("fanout_worker", "item.json"), memory_mb=3538, cores=2, remaining_ms=lambda: 60_000
    )

    # Then parallel_map ran the sieve on 2 processes, one sub-range at a time, with a deadline 2 s
    # before the timeout, and the count is right
    (call,) = recording.calls
    assert call["func"] is count_primes_in_range
    assert call["workers"] == 2
    assert call["chunksize"] == 1
    assert before + 57.9 < call["deadline"] < time.monotonic() + 58.1
    assert call["items"] == subranges(0, 10**6, 2)
    assert result["prime_count"] == 78_498
    assert result["processes"] == 2
    assert result["status"] == "SUCCEEDED"
    assert result["item"] == {"index": 0, "start": 0, "stop": 10**6}
    assert result["duration_ms"] > 0


def test_a_worker_below_one_vcpu_uses_one_process() -> None:
    recording = RecordingMap()
    worker = PrimeRangeWorker(safety_margin_ms=0, map_fn=recording)

    result = worker.handle(
        load_event("fanout_worker", "last_item_of_small_job.json"),
        memory_mb=256,
        cores=2,
        remaining_ms=lambda: 60_000,
    )

    assert recording.calls[0]["workers"] == 1
    # The sub-ranges' counts add up to the whole range's (the sieve itself is checked above)
    assert result["prime_count"] == count_primes_in_range((756_485, 10**6))


@pytest.mark.parametrize(
    ("event_file", "says"),
    [
        ("reversed_range_item.json", "the range [756485, 510008) is empty or reversed"),
        ("malformed_item.json", "item.start: Input should be a valid integer"),
    ],
)
def test_a_bad_item_fails_with_a_permanent_invalid_item_error(event_file: str, says: str) -> None:
    worker = PrimeRangeWorker(safety_margin_ms=0)

    with pytest.raises(InvalidItemError) as raised:
        worker.handle(load_event("fanout_worker", event_file), memory_mb=3538, cores=2, remaining_ms=lambda: 60_000)

    assert raised.value.reason == "invalid_item"
    assert says in str(raised.value)


@pytest.mark.parametrize("event", [[1, 2], "item", None])
def test_an_item_event_that_is_not_an_object_is_refused(event: Any) -> None:
    with pytest.raises(InvalidItemError) as raised:
        PrimeRangeWorker(safety_margin_ms=0).handle(event, memory_mb=128, cores=1, remaining_ms=lambda: 1000)

    assert raised.value.reason == "not_an_object"


def test_an_item_that_cannot_finish_before_the_deadline_stops_with_a_named_error() -> None:
    # Given less time left than the safety margin
    worker = PrimeRangeWorker(safety_margin_ms=2000)

    # When the worker handles an item
    with pytest.raises(ItemDeadlineError) as raised:
        worker.handle(load_event("fanout_worker", "item.json"), memory_mb=3538, cores=2, remaining_ms=lambda: 1500)

    # Then it stopped in time with a message that says what to do
    assert "stopped 2000 ms before the timeout" in str(raised.value)
    assert "split the job into more items" in str(raised.value)


@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_the_worker_also_runs_where_processes_do_not_fork(start_method: str) -> None:
    # Given the start methods of Python 3.14 (forkserver by default) and of other platforms (spawn):
    # what crosses to the processes must be picklable, i.e. the module-level sieve and plain tuples
    worker = PrimeRangeWorker(safety_margin_ms=0, start_method=start_method)

    # When an item is counted
    result = worker.handle(
        load_event("fanout_worker", "item.json"), memory_mb=3538, cores=2, remaining_ms=lambda: 60_000
    )

    # Then the count is right
    assert result["prime_count"] == 78_498
