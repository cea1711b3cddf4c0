from __future__ import annotations

import copy
from typing import Any

import pytest
from fanout_aggregator import FanOutAggregator
from fanout_report import compute_saved, orchestrator_wait_ms, state_transitions
from fanout_results import AggregateInputError, ItemOutcome

from tests.support.events import load_event
from tests.unit.fanout.conftest import FanOutBucket, aggregate_config

DISTRIBUTED_PREFIX = "results/primes-distributed-run-1/4c2e6a3e-0f59-4b6e-9a11-2f0a5e2b7c01"


def aggregator(bucket: FanOutBucket, **config: str) -> FanOutAggregator:
    return FanOutAggregator(s3=bucket.s3, config=aggregate_config(**config))


def test_inline_results_combine_into_the_known_prime_count(fanout_bucket: FanOutBucket) -> None:
    # Given the 4 succeeded items of pi(10^6)
    event = load_event("fanout_aggregate", "inline_results.json")

    # When they are aggregated
    report = aggregator(fanout_bucket).aggregate(event)

    # Then the answer is complete and matches the known value
    assert report["prime_count"] == 78_498
    assert report["complete"] is True
    assert report["known_prime_count"] == 78_498
    assert report["matches_known_value"] is True
    assert report["failed_items"] == []
    assert report["item_durations_ms"] == [
        {"index": 0, "duration_ms": 412.5},
        {"index": 1, "duration_ms": 398.0},
        {"index": 2, "duration_ms": 405.25},
        {"index": 3, "duration_ms": 431.75},
    ]
    # slowest / median = 431.75 / ((405.25 + 412.5) / 2)
    assert report["straggler_ratio"] == pytest.approx(431.75 / 408.875, abs=1e-4)
    assert report["slowest_item_index"] == 3


def test_a_caught_failure_is_reported_with_its_error_and_the_count_marked_incomplete(
    fanout_bucket: FanOutBucket,
) -> None:
    # Given item 2 failed in the worker and the Map's Catch recorded it
    event = load_event("fanout_aggregate", "inline_results_with_failure.json")

    # When the results are aggregated
    report = aggregator(fanout_bucket).aggregate(event)

    # Then the failure is listed with the worker's error type and message, and the count is partial
    assert report["items_failed"] == 1
    assert report["failed_items"] == [
        {
            "index": 2,
            "start": 756485,
            "stop": 510008,
            "error": "InvalidItemError",
            "message": "invalid_item: item: Value error, the range [756485, 510008) is empty or reversed",
        }
    ]
    assert report["complete"] is False
    assert report["prime_count"] == 78_498 - 18_429
    assert report["matches_known_value"] is None
    assert report["injected_failures"] == [2]
    assert [d["index"] for d in report["item_durations_ms"]] == [0, 1, 3]


def test_distributed_results_are_read_from_the_result_writers_manifest(fanout_bucket: FanOutBucket) -> None:
    # Given a distributed Map run whose ResultWriter wrote a manifest, a SUCCEEDED and a FAILED file
    fanout_bucket.upload_aggregate_fixture(DISTRIBUTED_PREFIX)
    event = load_event("fanout_aggregate", "distributed_results.json")

    # When the Map's output is aggregated
    report = aggregator(fanout_bucket).aggregate(event)

    # Then the successes come from the children's Output, the failure from its Input, Error and Cause
    assert report["mode"] == "DISTRIBUTED"
    assert report["items_succeeded"] == 3
    assert [(f["index"], f["error"]) for f in report["failed_items"]] == [(2, "InvalidItemError")]
    assert report["prime_count"] == 78_498 - 18_429
    assert report["compute_saved"]["state_transitions"] == 4 + 4


def test_a_manifest_that_lists_no_result_files_reports_every_item_missing(
    fanout_bucket: FanOutBucket,
) -> None:
    # Given a manifest without result files (what moto 5.2.5's own ResultWriter writes, without the local
    # cloud's localcloud.motoserver.distributed_map)
    fanout_bucket.upload_aggregate_fixture(DISTRIBUTED_PREFIX, manifest_file="manifest_without_result_files.json")

    # When it is aggregated
    report = aggregator(fanout_bucket).aggregate(load_event("fanout_aggregate", "distributed_results.json"))

    # Then no item is silently dropped: each is a NoResult failure and the count is not claimed complete
    assert report["items_failed"] == 4
    assert {f["error"] for f in report["failed_items"]} == {"NoResult"}
    assert report["prime_count"] == 0
    assert report["complete"] is False
    assert report["straggler_ratio"] is None


def test_a_manifest_in_another_bucket_is_refused(fanout_bucket: FanOutBucket) -> None:
    event = load_event("fanout_aggregate", "distributed_results.json")
    event["results"]["ResultWriterDetails"]["Bucket"] = "someone-elses-bucket"

    with pytest.raises(AggregateInputError) as raised:
        aggregator(fanout_bucket).aggregate(event)

    assert raised.value.reason == "foreign_bucket"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.update(mode="DISTRIBUTED"),
        lambda e: e.update(item_count=0),
        lambda e: e.pop("job"),
        lambda e: e.update(results="nope"),
    ],
)
def test_an_aggregate_event_the_state_machine_never_makes_is_refused(fanout_bucket: FanOutBucket, mutate: Any) -> None:
    event = copy.deepcopy(load_event("fanout_aggregate", "inline_results.json"))
    mutate(event)

    with pytest.raises(AggregateInputError):
        aggregator(fanout_bucket).aggregate(event)


def test_a_missing_or_duplicated_inline_result_is_accounted_for(fanout_bucket: FanOutBucket) -> None:
    # Given results where item 1 is missing and item 0 appears failed and then succeeded (redriven)
    event = load_event("fanout_aggregate", "inline_results.json")
    first, _, third, fourth = event["results"]
    failed_first = {"status": "FAILED", "item": first["item"], "error": {"Error": "States.Timeout"}}
    event["results"] = [failed_first, first, third, fourth]

    # When aggregated
    report = aggregator(fanout_bucket).aggregate(event)

    # Then item 0 counts once as succeeded and item 1 is a NoResult failure
    assert report["items_succeeded"] == 3
    assert [(f["index"], f["error"]) for f in report["failed_items"]] == [(1, "NoResult")]


def test_an_n_outside_the_table_of_known_values_is_not_judged(fanout_bucket: FanOutBucket) -> None:
    event = load_event("fanout_aggregate", "inline_results.json")
    event["job"]["n"] = 1_000_001

    report = aggregator(fanout_bucket).aggregate(event)

    assert report["known_prime_count"] is None
    assert report["matches_known_value"] is None


def test_a_wrong_total_for_a_known_n_is_flagged(fanout_bucket: FanOutBucket) -> None:
    event = load_event("fanout_aggregate", "inline_results.json")
    event["results"][0]["prime_count"] += 1

    report = aggregator(fanout_bucket).aggregate(event)

    assert report["matches_known_value"] is False


def test_the_orchestrator_waits_for_the_makespan_of_its_concurrency_slots() -> None:
    # Given four items of 1, 2, 3 and 4 s dispatched in order to 2 slots, no invoke overhead:
    # slot A runs 1 s then 3 s (ends at 4 s), slot B runs 2 s then 4 s (ends at 6 s)
    durations = [1000.0, 2000.0, 3000.0, 4000.0]

    # Then the orchestrator waits 6 s; with a slot per item it waits for the slowest (+ overhead)
    assert orchestrator_wait_ms(durations, concurrency=2, invoke_overhead_ms=0) == 6000
    assert orchestrator_wait_ms(durations, concurrency=10, invoke_overhead_ms=50) == 4050
    assert orchestrator_wait_ms(durations, concurrency=1, invoke_overhead_ms=10) == 10_040
    assert orchestrator_wait_ms([], concurrency=3, invoke_overhead_ms=50) == 0


def test_the_gb_seconds_saved_are_orchestrator_memory_times_its_billed_wait() -> None:
    # Given those four items, a 256 MB orchestrator with 2 slots and 50 ms per invoke
    outcomes = [
        ItemOutcome(index=i, succeeded=True, prime_count=1, duration_ms=d)
        for i, d in enumerate([1000.0, 2000.0, 3000.0, 4000.0])
    ]
    config = aggregate_config(
        FANOUT_MAX_CONCURRENCY="2",
        FANOUT_ORCHESTRATOR_MEMORY_MB="256",
        FANOUT_INVOKE_OVERHEAD_MS="50",
        FANOUT_WORKER_MEMORY_MB="3538",
    )

    # When the saving is computed
    saved = compute_saved(outcomes, "INLINE", config)

    # Then W = (2000 + 50) + (4000 + 50) = 6100 ms and the orchestrator would bill 0.25 GB x 6.1 s
    assert saved["orchestrator_wait_ms"] == 6100
    assert saved["orchestrator_gb_seconds"] == pytest.approx(0.25 * 6.1)
    assert saved["worker_gb_seconds"] == pytest.approx(3538 / 1024 * 10.0)
    assert saved["state_transitions"] == 4 + 4
    assert saved["orchestrator_usd"] == pytest.approx(1.525 * 0.0000166667 + 0.0000002, rel=1e-6)
    assert saved["step_functions_usd"] == pytest.approx(8 * 0.000025)
    assert saved["net_saved_usd"] == pytest.approx(saved["orchestrator_usd"] - saved["step_functions_usd"], abs=1e-9)
    assert saved["orchestrator_feasible"] is True
    assert saved["assumptions"]


def test_an_orchestrator_that_would_wait_past_lambdas_timeout_is_called_infeasible() -> None:
    outcomes = [ItemOutcome(index=0, succeeded=True, prime_count=1, duration_ms=901_000.0)]

    saved = compute_saved(outcomes, "DISTRIBUTED", aggregate_config())

    assert saved["orchestrator_feasible"] is False


@pytest.mark.parametrize(
    ("mode", "succeeded", "failed", "transitions"),
    [("INLINE", 4, 0, 8), ("INLINE", 3, 1, 9), ("DISTRIBUTED", 3, 1, 8)],
)
def test_state_transitions_count_the_fixed_states_and_each_items_states(
    mode: str, succeeded: int, failed: int, transitions: int
) -> None:
    assert state_transitions(mode, succeeded, failed) == transitions
