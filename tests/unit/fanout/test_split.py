from __future__ import annotations

import json
from typing import Any

import pytest
from fanout_job import InvalidJobError
from fanout_splitter import FanOutSplitter
from prime_ranges import balanced_ranges

from tests.support.events import load_event
from tests.unit.fanout.conftest import FanOutBucket, split_config


def splitter(bucket: FanOutBucket, **config: str) -> FanOutSplitter:
    return FanOutSplitter(s3=bucket.s3, config=split_config(**config), new_name=lambda: "generated-name")


def test_a_small_job_becomes_cost_balanced_items_for_an_inline_map(fanout_bucket: FanOutBucket) -> None:
    # Given a job of 4 items below n = 10^6
    event = load_event("fanout_split", "small_job.json")

    # When it is split
    output = splitter(fanout_bucket).split(event)

    # Then the inline Map gets the balanced ranges as items, and nothing is written to S3
    assert output["mode"] == "INLINE"
    assert output["item_count"] == 4
    assert output["items"] == [r.as_item() for r in balanced_ranges(10**6, 4)]
    assert output["job"] == {"job_id": "primes-below-1e6", "n": 10**6, "k": 4, "fail_items": []}
    assert output["payload_estimate_bytes"] < 200_000
    assert fanout_bucket.keys() == []


def test_a_job_with_more_items_than_an_inline_map_runs_at_once_goes_distributed_through_s3(
    fanout_bucket: FanOutBucket,
) -> None:
    # Given a job of 100 items (an inline Map runs at most 40 at once)
    event = load_event("fanout_split", "large_job.json")

    # When it is split
    output = splitter(fanout_bucket).split(event)

    # Then the items are in S3 for the ItemReader, and none ride in the state
    assert output["mode"] == "DISTRIBUTED"
    assert "items" not in output
    location = output["items_location"]
    assert location == {"bucket": "fanout-bucket", "key": "jobs/primes-below-1e7-run-1/items.json"}
    items = json.loads(fanout_bucket.read(location["key"]))
    assert items == [r.as_item() for r in balanced_ranges(10**7, 100)]


def test_a_few_items_whose_results_would_not_fit_the_state_payload_also_go_distributed(
    fanout_bucket: FanOutBucket,
) -> None:
    # Given a payload budget that 4 items' results would exceed
    small_budget = splitter(fanout_bucket, FANOUT_INLINE_MAX_PAYLOAD_BYTES="4096")

    # When a 4-item job is split
    output = small_budget.split(load_event("fanout_split", "small_job.json"))

    # Then the mode is chosen by size, not only by count
    assert output["mode"] == "DISTRIBUTED"
    assert small_budget.choose_mode(4, 4097) == "DISTRIBUTED"
    assert small_budget.choose_mode(4, 4000) == "INLINE"


def test_in_dev_a_listed_item_gets_a_reversed_range_that_the_worker_itself_refuses(
    fanout_bucket: FanOutBucket,
) -> None:
    # Given a job naming item 2 to fail, where test failures are allowed (Stage=dev)
    event = load_event("fanout_split", "failing_item_job.json")

    # When it is split
    output = splitter(fanout_bucket, FANOUT_ALLOW_TEST_FAILURES="true").split(event)

    # Then only item 2 is reversed; the job echo says which item was made to fail
    honest = [r.as_item() for r in balanced_ranges(10**6, 4)]
    assert output["items"][2] == {"index": 2, "start": honest[2]["stop"], "stop": honest[2]["start"]}
    assert [item for i, item in enumerate(output["items"]) if i != 2] == honest[:2] + honest[3:]
    assert output["job"]["fail_items"] == [2]


def test_outside_dev_a_job_that_asks_for_failures_is_refused_not_silently_run(
    fanout_bucket: FanOutBucket,
) -> None:
    # Given a stage where test failures are off (prod)
    prod = splitter(fanout_bucket, FANOUT_ALLOW_TEST_FAILURES="false")

    # When a job with fail_items is split
    with pytest.raises(InvalidJobError) as raised:
        prod.split(load_event("fanout_split", "failing_item_job.json"))

    # Then it is refused with its own reason
    assert raised.value.reason == "test_failures_disabled"


def test_fail_items_must_name_items_of_the_job(fanout_bucket: FanOutBucket) -> None:
    event = {"job": {"n": 1000, "k": 4, "fail_items": [1, 4, 9]}, "execution_name": "x"}

    with pytest.raises(InvalidJobError) as raised:
        splitter(fanout_bucket).split(event)

    assert raised.value.reason == "invalid_job"
    assert "[4, 9]" in raised.value.message


@pytest.mark.parametrize(
    ("event_file", "reason", "says"),
    [
        ("bad_not_an_object.json", "not_an_object", "got an array"),
        ("bad_empty_job.json", "empty_job", "the job is empty"),
        ("bad_malformed_job.json", "invalid_job", "number: Extra inputs are not permitted"),
        ("bad_k_zero.json", "invalid_job", "k: Input should be greater than or equal to 1"),
        ("bad_k_above_limit.json", "too_many_items", "above the limit of 1000 items"),
        ("bad_n_too_large.json", "n_too_large", "even 1000 items (the limit) would not do"),
        ("bad_n_not_integer.json", "invalid_job", "n: Input should be a valid integer"),
        ("bad_n_as_string.json", "invalid_job", "n: Input should be a valid integer"),
    ],
)
def test_every_kind_of_bad_job_is_refused_with_a_clear_reason_before_anything_is_written(
    fanout_bucket: FanOutBucket, event_file: str, reason: str, says: str
) -> None:
    # Given a bad job
    event = load_event("fanout_split", event_file)

    # When it is split
    with pytest.raises(InvalidJobError) as raised:
        splitter(fanout_bucket).split(event)

    # Then the error names the problem (Lambda reports the class name as the errorType the state
    # machine catches), and no item reached S3: nothing can half-run
    assert type(raised.value).__name__ == "InvalidJobError"
    assert raised.value.reason == reason
    assert says in raised.value.message
    assert str(raised.value).startswith(f"{reason}: ")
    assert fanout_bucket.keys() == []


@pytest.mark.parametrize("event", [[{"n": 10, "k": 1}], "n=10,k=1", None, 42])
def test_a_split_event_that_is_not_an_object_is_refused(fanout_bucket: FanOutBucket, event: Any) -> None:
    with pytest.raises(InvalidJobError) as raised:
        splitter(fanout_bucket).split(event)

    assert raised.value.reason == "not_an_object"


def test_a_job_too_big_for_its_k_says_how_many_items_would_fit_the_workers_timeout(
    fanout_bucket: FanOutBucket,
) -> None:
    # Given a worker with a 10 s timeout (5 s budget) and a job of 10^11 in 4 items
    short = splitter(fanout_bucket, FANOUT_WORKER_TIMEOUT_S="10")
    job = {"job": {"n": 10**11, "k": 4}, "execution_name": "big"}

    # When it is split
    with pytest.raises(InvalidJobError) as raised:
        short.split(job)

    # Then the message estimates the time, names the budget and advises a k that does fit
    assert raised.value.reason == "n_too_large"
    message = raised.value.message
    assert "over its budget of 5.0 s (50% of the 10 s timeout)" in message
    advised_k = int(message.rsplit("use k >= ", 1)[1])
    output = short.split({"job": {"n": 10**11, "k": advised_k}, "execution_name": "big"})
    assert output["item_count"] == advised_k


def test_the_job_id_defaults_to_the_execution_name(fanout_bucket: FanOutBucket) -> None:
    output = splitter(fanout_bucket).split({"job": {"n": 100, "k": 2}, "execution_name": "exec-7"})

    assert output["job"]["job_id"] == "exec-7"


def test_without_an_execution_name_the_splitter_names_the_run_itself(fanout_bucket: FanOutBucket) -> None:
    output = splitter(fanout_bucket).split({"job": {"n": 10**6, "k": 50}})

    assert output["job"]["job_id"] == "generated-name"
    assert output["items_location"]["key"] == "jobs/generated-name/items.json"
