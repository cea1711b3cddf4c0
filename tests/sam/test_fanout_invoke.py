"""`sam local invoke` of the three fan-out functions in Docker, on their event files."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from localcloud.aws.endpoint import MotoEndpoint
from tests.support import sam_cli
from tests.support.events import EVENTS, load_event

BUCKET = "fanout-bucket-sam-tests"


@pytest.fixture
def fanout_env(moto_endpoint: MotoEndpoint) -> dict[str, dict[str, str]]:
    import boto3  # noqa: PLC0415 - only these tests need S3

    boto3.client("s3", endpoint_url=moto_endpoint.url).create_bucket(Bucket=BUCKET)
    return {name: {"FANOUT_BUCKET_NAME": BUCKET}
            for name in ("FanOutSplitFunction", "FanOutWorkerFunction", "FanOutAggregateFunction")}


def invoke(function: str, event: str, moto: MotoEndpoint, env: dict[str, Any], tmp_path: Path) -> Any:
    result = sam_cli.local_invoke(function, EVENTS / event, moto.url, env, tmp_path)
    assert result.payload is not None, result.logs
    return result.payload


def test_split_turns_a_small_job_into_contiguous_ranges_for_an_inline_map(
    sam_build: Path, moto_endpoint: MotoEndpoint, fanout_env: dict[str, Any], tmp_path: Path
) -> None:
    job = load_event("fanout_split", "small_job.json")["job"]

    output = invoke("FanOutSplitFunction", "fanout_split/small_job.json", moto_endpoint, fanout_env, tmp_path)

    assert output["mode"] == "INLINE"
    items = output["items"]
    assert len(items) == job["k"]
    assert items[0]["start"] == 0 and items[-1]["stop"] == job["n"]
    assert all(left["stop"] == right["start"] for left, right in itertools.pairwise(items))


def test_split_refuses_a_bad_job_with_invalid_job_error(
    sam_build: Path, moto_endpoint: MotoEndpoint, fanout_env: dict[str, Any], tmp_path: Path
) -> None:
    output = invoke("FanOutSplitFunction", "fanout_split/bad_k_zero.json", moto_endpoint, fanout_env, tmp_path)

    assert output["errorType"] == "InvalidJobError"
    assert "k" in output["errorMessage"]


def test_the_worker_counts_the_primes_of_its_range_in_the_lambda_container(
    sam_build: Path, moto_endpoint: MotoEndpoint, fanout_env: dict[str, Any], tmp_path: Path
) -> None:
    output = invoke("FanOutWorkerFunction", "fanout_worker/item.json", moto_endpoint, fanout_env, tmp_path)

    assert output["prime_count"] == 78_498  # pi(10^6), the item is [0, 10^6)
    assert output["processes"] >= 1


def test_the_aggregate_combines_results_and_reports_the_failed_item(
    sam_build: Path, moto_endpoint: MotoEndpoint, fanout_env: dict[str, Any], tmp_path: Path
) -> None:
    event = load_event("fanout_aggregate", "inline_results_with_failure.json")
    succeeded = [r for r in event["results"] if r["status"] == "SUCCEEDED"]

    output = invoke("FanOutAggregateFunction", "fanout_aggregate/inline_results_with_failure.json",
                    moto_endpoint, fanout_env, tmp_path)

    assert output["prime_count"] == sum(r["prime_count"] for r in succeeded)
    assert output["complete"] is False
    assert [item["index"] for item in output["failed_items"]] == [2]
    assert output["compute_saved"]["orchestrator_gb_seconds"] > 0
