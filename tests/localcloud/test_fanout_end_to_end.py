"""FanOutStateMachine end to end: the deployed template.yaml's state machine on the statemachines/inputs jobs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.executions import ExecutionOutcome, run_execution, state_machine_arn

pytestmark = [pytest.mark.localcloud, pytest.mark.slow]

INPUTS = Path(__file__).resolve().parents[2] / "statemachines" / "inputs"
BAD_INPUTS = sorted(path.name for path in INPUTS.glob("bad_*.json"))
MAP_EVENTS = {"MapStateEntered", "MapRunStarted", "MapIterationStarted"}


def run_job(cloud: LocalCloud, input_name: str, *, timeout_s: float = 120) -> ExecutionOutcome:
    if "FanOutStateMachine" not in cloud.stack.state_machines:
        pytest.skip("template.yaml has no FanOutStateMachine")
    job = json.loads((INPUTS / input_name).read_text())
    outcome = run_execution(cloud.aws.stepfunctions, state_machine_arn(cloud.stack, "FanOutStateMachine"), job,
                            timeout_s=timeout_s)
    assert outcome.status != "RUNNING", f"{input_name}: still RUNNING after {timeout_s} s: {outcome}"
    return outcome


def history(cloud: LocalCloud, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    request: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = cloud.aws.stepfunctions.get_execution_history(**request)
        events += [dict(event) for event in page["events"]]
        if not page.get("nextToken"):
            return events
        request["nextToken"] = page["nextToken"]


def test_the_small_job_counts_the_primes_below_a_million(local_cloud: LocalCloud) -> None:
    # Given small_job.json (n 1e6 in 4 items, an inline Map)
    # When the deployed FanOutStateMachine runs it
    outcome = run_job(local_cloud, "small_job.json")

    # Then it succeeds with the known count
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.output["prime_count"] == 78498
    assert outcome.output["matches_known_value"] is True
    assert (outcome.output["items_succeeded"], outcome.output["items_failed"]) == (4, 0)


def test_an_injected_item_failure_is_caught_and_the_other_items_aggregate(local_cloud: LocalCloud) -> None:
    # Given failing_item_job.json: item 2 of 4 is handed over with its range reversed (fail_items, dev only)
    # When the state machine runs it
    outcome = run_job(local_cloud, "failing_item_job.json")

    # Then the execution still succeeds: exactly item 2 failed with InvalidItemError, the rest are counted
    assert outcome.status == "SUCCEEDED", outcome
    output = outcome.output
    assert [(item["index"], item["error"]) for item in output["failed_items"]] == [(2, "InvalidItemError")]
    assert (output["items_succeeded"], output["items_failed"]) == (3, 1)
    assert output["complete"] is False
    assert output["prime_count"] == 60069
    assert output["matches_known_value"] is None  # a partial count is not judged


@pytest.mark.parametrize("input_name", BAD_INPUTS)
def test_a_bad_job_fails_in_the_split_step_before_any_map(local_cloud: LocalCloud, input_name: str) -> None:
    # Given a job the Split function refuses
    # When the state machine runs it
    outcome = run_job(local_cloud, input_name)

    # Then the execution fails with InvalidJobError, the Split function's error as the Cause, and no Map ran
    assert outcome.status == "FAILED", outcome
    assert outcome.error == "InvalidJobError", outcome
    cause = json.loads(outcome.cause or "{}")
    assert cause.get("errorType") == "InvalidJobError", outcome.cause
    events = history(local_cloud, outcome.execution_arn)
    types = {event["type"] for event in events}
    assert "ExecutionFailed" in types, sorted(types)
    assert not types & MAP_EVENTS, sorted(types)
    entered = [event["stateEnteredEventDetails"]["name"] for event in events if "stateEnteredEventDetails" in event]
    assert "FanOutInline" not in entered and "FanOutDistributed" not in entered, entered


def test_the_large_job_passes_split_and_reaches_the_distributed_map(local_cloud: LocalCloud) -> None:
    # Given large_distributed_job.json: 100 items, more than an inline Map runs at once, so a DISTRIBUTED Map
    # whose items and results go through FanOutBucket (dev: no TLS-only bucket policy, so S3 answers)
    # When the state machine runs it
    outcome = run_job(local_cloud, "large_distributed_job.json", timeout_s=300)

    # Then Split chose DISTRIBUTED and the run reached Aggregate. moto 5.2.5's ResultWriter writes a manifest
    # listing no result files, so Aggregate sees no item result: every item is reported as NoResult and no
    # count is claimed (on AWS: 100 items succeed and prime_count is 664579).
    assert outcome.status == "SUCCEEDED", outcome
    output = outcome.output
    assert output["mode"] == "DISTRIBUTED"
    assert output["item_count"] == 100
    events = history(local_cloud, outcome.execution_arn)
    entered = [event["stateEnteredEventDetails"]["name"] for event in events if "stateEnteredEventDetails" in event]
    assert "FanOutDistributed" in entered, entered
    assert (output["items_succeeded"], output["items_failed"]) == (0, 100), output
    assert {item["error"] for item in output["failed_items"]} == {"NoResult"}, output["failed_items"]
    assert (output["prime_count"], output["complete"]) == (0, False)
