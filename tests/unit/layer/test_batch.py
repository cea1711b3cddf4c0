from __future__ import annotations

import pytest

from lambda_toolkit.batch import deadline_clock, process_batch, remaining_time_of
from tests.support.lambda_context import FakeLambdaContext


def fail_on(bad: set[str]):  # type: ignore[no-untyped-def]
    done: list[str] = []

    def process(record: str) -> None:
        if record in bad:
            raise ValueError(f"cannot process {record}")
        done.append(record)

    return process, done


def test_one_failing_record_fails_only_itself() -> None:
    # Given a batch whose second record fails
    process, done = fail_on({"b"})

    # When it is processed
    outcome = process_batch(["a", "b", "c"], item_id=str, process_record=process,
                            remaining_ms=lambda: 60_000, safety_margin_ms=1000)

    # Then its neighbours succeed and only it is reported
    assert done == ["a", "c"]
    assert outcome.partial_batch_response() == {"batchItemFailures": [{"itemIdentifier": "b"}]}
    assert not outcome.stopped_early


def test_stop_on_first_failure_reports_the_failure_and_everything_after_it() -> None:
    # Given an ordered source (a stream shard or FIFO queue) and a failing second record
    process, done = fail_on({"b"})

    # When it is processed with stop_on_first_failure
    outcome = process_batch(["a", "b", "c", "d"], item_id=str, process_record=process,
                            remaining_ms=lambda: 60_000, safety_margin_ms=1000, stop_on_first_failure=True)

    # Then later records are not touched and are reported, in order, after the failure
    assert done == ["a"]
    assert outcome.failed_item_ids == ["b", "c", "d"]
    assert outcome.unreached == 2


def test_the_batch_stops_when_less_than_the_margin_remains() -> None:
    # Given a clock that runs out after two records
    remaining = iter([5000, 5000, 999, 999])
    process, done = fail_on(set())

    # When the batch is processed with a 1,000 ms margin
    outcome = process_batch(["a", "b", "c", "d"], item_id=str, process_record=process,
                            remaining_ms=lambda: next(remaining), safety_margin_ms=1000)

    # Then the unreached records are reported failed, the processed ones are not
    assert done == ["a", "b"]
    assert outcome.failed_item_ids == ["c", "d"]
    assert outcome.stopped_early and outcome.unreached == 2


def test_an_empty_batch_succeeds() -> None:
    outcome = process_batch([], item_id=str, process_record=lambda _: None,
                            remaining_ms=lambda: 0, safety_margin_ms=1000)
    assert outcome.partial_batch_response() == {"batchItemFailures": []}


def test_clocks_from_a_context_and_from_a_deadline() -> None:
    # Given a context with 10 s left and an absolute deadline 2 s away on a fixed clock
    context_clock = remaining_time_of(FakeLambdaContext(timeout_s=10))
    fixed_clock = deadline_clock(102.0, clock=lambda: 100.0)

    # Then both tell the remaining milliseconds, and no context means no deadline
    assert 9_000 < context_clock() <= 10_000
    assert fixed_clock() == 2000
    assert remaining_time_of(None)() > 10**9


@pytest.mark.parametrize("margin", [0, 1])
def test_a_zero_or_tiny_margin_still_processes_everything_when_time_is_plenty(margin: int) -> None:
    process, done = fail_on(set())
    process_batch(["a"], item_id=str, process_record=process, remaining_ms=lambda: 10, safety_margin_ms=margin)
    assert done == ["a"]
