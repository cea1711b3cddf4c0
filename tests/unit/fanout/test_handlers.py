"""Each fan-out handler, loaded as Lambda loads it, on the sample events in events/."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType

import pytest
from fanout_item_worker import InvalidItemError
from fanout_job import InvalidJobError

from lambda_toolkit.errors import ConfigurationError
from tests.support.events import event_files, load_event
from tests.support.lambda_context import FakeLambdaContext
from tests.unit.fanout.conftest import FanOutBucket
from tests.unit.fanout.test_aggregate import DISTRIBUTED_PREFIX

LoadApp = Callable[..., ModuleType]


def test_the_split_handler_splits_every_good_sample_job(fanout_app: LoadApp, fanout_bucket: FanOutBucket) -> None:
    # Given the split function as the template configures it in dev
    app = fanout_app("fanout_split")

    # When it handles each good sample job
    modes = {
        path.name: app.lambda_handler(json.loads(path.read_text()), FakeLambdaContext())["mode"]
        for path in event_files("fanout_split")
        if not path.name.startswith("bad_")
    }

    # Then small jobs stay inline and the 100-item job goes through S3
    assert modes == {
        "small_job.json": "INLINE",
        "failing_item_job.json": "INLINE",
        "large_job.json": "DISTRIBUTED",
    }
    assert fanout_bucket.keys() == ["jobs/primes-below-1e7-run-1/items.json"]


def test_the_split_handler_raises_invalid_job_error_for_every_bad_sample_job(
    fanout_app: LoadApp, fanout_bucket: FanOutBucket
) -> None:
    app = fanout_app("fanout_split")
    bad = [path for path in event_files("fanout_split") if path.name.startswith("bad_")]
    assert len(bad) >= 8

    for path in bad:
        with pytest.raises(InvalidJobError) as raised:
            app.lambda_handler(json.loads(path.read_text()), FakeLambdaContext())
        # The class name is the errorType the state machine's Catch matches
        assert type(raised.value).__name__ == "InvalidJobError", path.name
    assert fanout_bucket.keys() == []


def test_the_split_handler_refuses_to_start_without_its_bucket(fanout_app: LoadApp) -> None:
    with pytest.raises(ConfigurationError, match="FANOUT_BUCKET_NAME"):
        fanout_app("fanout_split", FANOUT_BUCKET_NAME="")


def test_the_worker_handler_counts_an_item_on_the_cores_its_memory_buys(fanout_app: LoadApp) -> None:
    # Given the worker function and a context of the template's default memory (3,538 MB = 2 vCPU)
    app = fanout_app("fanout_worker")
    context = FakeLambdaContext(function_name="FanOutWorkerFunction", memory_limit_in_mb=3538, timeout_s=120)

    # When it handles the item [0, 10^6)
    result = app.lambda_handler(load_event("fanout_worker", "item.json"), context)

    # Then it found pi(10^6) with as many processes as the machine and the memory allow
    assert result["prime_count"] == 78_498
    assert 1 <= result["processes"] <= 2


def test_the_worker_handler_fails_a_reversed_range_with_invalid_item_error(fanout_app: LoadApp) -> None:
    app = fanout_app("fanout_worker")

    with pytest.raises(InvalidItemError) as raised:
        app.lambda_handler(load_event("fanout_worker", "reversed_range_item.json"), FakeLambdaContext())

    assert type(raised.value).__name__ == "InvalidItemError"


def test_the_aggregate_handler_reports_inline_and_distributed_results(
    fanout_app: LoadApp, fanout_bucket: FanOutBucket
) -> None:
    # Given the aggregate function and a distributed run's files in S3
    app = fanout_app("fanout_aggregate")
    fanout_bucket.upload_aggregate_fixture(DISTRIBUTED_PREFIX)

    # When it handles each sample event
    reports = {
        path.name: app.lambda_handler(json.loads(path.read_text()), FakeLambdaContext())
        for path in event_files("fanout_aggregate")
    }

    # Then the complete run matches pi(10^6) and both runs with item 2 failed report it
    assert reports["inline_results.json"]["matches_known_value"] is True
    for name in ("inline_results_with_failure.json", "distributed_results.json"):
        assert [f["index"] for f in reports[name]["failed_items"]] == [2], name
        assert reports[name]["prime_count"] == 78_498 - 18_429
