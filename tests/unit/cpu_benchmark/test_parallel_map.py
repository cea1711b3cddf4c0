"""lambda_toolkit.parallel_map: order, errors, deadline and clean-up under every start method."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psutil
import pytest

from lambda_toolkit.parallel_map import (
    DeadlineExceeded,
    WorkerError,
    deadline_after,
    default_chunksize,
    parallel_map,
)
from tests.unit.cpu_benchmark import worker_functions as funcs

START_METHODS = ["fork", "forkserver", "spawn"]


def _child_pids() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)}


@pytest.fixture
def no_leftover_children() -> Iterator[None]:
    """Fail the test if it leaves a child process (running or zombie) that was not there before.

    forkserver and spawn start two long-lived helpers on first use (the fork server and the
    resource tracker); a warm-up run per start method lets the baseline include them.
    """
    for method in START_METHODS:
        parallel_map(funcs.square, [1], workers=1, start_method=method)
    before = _child_pids()
    yield
    leftovers = [child for child in psutil.Process().children(recursive=True) if child.pid not in before]
    assert leftovers == [], [(child.pid, child.status()) for child in leftovers]


@pytest.mark.parametrize("start_method", START_METHODS)
def test_results_come_back_in_input_order(start_method: str) -> None:
    # Given more items than workers, cut into several chunks
    items = list(range(103))

    # When they are mapped over three processes
    results = parallel_map(funcs.square, items, workers=3, start_method=start_method, chunksize=4)

    # Then every result is there, in the order of its item
    assert results == [item * item for item in items]


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_any_worker_count_gives_the_same_results(workers: int) -> None:
    # Given the same items
    items = range(40)

    # When they are mapped with the default chunk size
    results = parallel_map(funcs.square, items, workers=workers)

    # Then the results do not depend on the worker count
    assert results == [item * item for item in items]


def test_the_work_is_spread_over_the_requested_workers() -> None:
    # Given one-item chunks that each take a moment
    items = list(range(8))

    # When two workers share them
    pids = parallel_map(funcs.worker_pid, items, workers=2, chunksize=1)

    # Then two processes other than this one did the work
    assert len(set(pids)) == 2
    assert psutil.Process().pid not in pids


def test_empty_input_starts_no_process() -> None:
    # Given no items
    # When they are mapped
    # Then the result is empty (and nothing had to be started or joined)
    assert parallel_map(funcs.square, [], workers=4) == []


@pytest.mark.parametrize(("workers", "chunksize"), [(0, None), (2, 0)])
def test_nonsense_arguments_are_refused(workers: int, chunksize: int | None) -> None:
    # Given a worker count or chunk size below 1
    # When parallel_map is called
    # Then it refuses before starting anything
    with pytest.raises(ValueError, match="must be >= 1"):
        parallel_map(funcs.square, [1, 2], workers=workers, chunksize=chunksize)


def test_default_chunksize_matches_pool_map() -> None:
    # Given Pool.map's rule: about four chunks per worker, rounded up
    # When / Then
    assert default_chunksize(100, 4) == 7
    assert default_chunksize(3, 8) == 1


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.usefixtures("no_leftover_children")
def test_a_worker_exception_carries_the_remote_traceback(start_method: str) -> None:
    # Given a function that raises on one item
    items = list(range(20))

    # When it is mapped in worker processes
    with pytest.raises(WorkerError) as raised:
        parallel_map(funcs.fail_on_seven, items, workers=2, start_method=start_method, chunksize=3)

    # Then the error names the item and the exception, and holds the worker's traceback
    error = raised.value
    assert error.item_index == funcs.FAILING_ITEM
    assert error.exception_type == "ValueError"
    assert "Traceback (most recent call last)" in error.remote_traceback
    assert "fail_on_seven" in error.remote_traceback
    assert "refusing item 7" in str(error)


@pytest.mark.usefixtures("no_leftover_children")
def test_a_worker_that_dies_is_reported_with_its_exit_code() -> None:
    # Given a function that kills its own process
    # When it is mapped
    with pytest.raises(WorkerError) as raised:
        parallel_map(funcs.die_abruptly, [1, 2, 3], workers=2)

    # Then the caller learns the worker died, and how
    assert raised.value.exitcode == 3
    assert "died" in str(raised.value)


@pytest.mark.usefixtures("no_leftover_children")
def test_a_result_that_cannot_be_sent_back_is_a_worker_error() -> None:
    # Given a function whose result cannot be pickled
    # When it is mapped
    with pytest.raises(WorkerError) as raised:
        parallel_map(funcs.unpicklable_result, [1, 2], workers=1)

    # Then the error says the results could not be sent back
    assert "could not be sent back" in str(raised.value)


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.usefixtures("no_leftover_children")
def test_the_deadline_stops_the_workers_and_says_how_far_it_got(start_method: str) -> None:
    # Given two quick items and two that would take a minute each
    items = [0.01, 0.01, 60.0, 60.0]
    started = time.monotonic()

    # When the map must end within two seconds
    with pytest.raises(DeadlineExceeded) as raised:
        parallel_map(funcs.sleep_for, items, workers=2, chunksize=1, start_method=start_method,
                     deadline=deadline_after(2.0))

    # Then it stops (long before a minute), counts the finished items, and kills the sleepers
    assert time.monotonic() - started < 30
    assert raised.value.total == 4
    assert raised.value.finished == 2
    assert "2 of 4 items finished" in str(raised.value)


@pytest.mark.usefixtures("no_leftover_children")
def test_a_deadline_already_past_runs_nothing_to_completion() -> None:
    # Given a deadline in the past
    # When a map is asked for
    with pytest.raises(DeadlineExceeded) as raised:
        parallel_map(funcs.sleep_for, [30.0], workers=1, deadline=time.monotonic() - 1)

    # Then nothing was finished and the worker is gone (checked by the fixture)
    assert raised.value.finished == 0


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.usefixtures("no_leftover_children")
def test_a_successful_map_joins_every_worker(start_method: str) -> None:
    # Given a normal map
    # When it returns
    parallel_map(funcs.square, range(50), workers=4, start_method=start_method)

    # Then no worker process is left, running or zombie (checked by the fixture)
