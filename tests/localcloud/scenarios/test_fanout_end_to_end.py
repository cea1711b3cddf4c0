"""FanOutStateMachine end to end: the deployed template.yaml's state machine on the statemachines/inputs jobs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.stepfunctions.executions import ExecutionOutcome, run_execution, state_machine_arn
from tests.support.requirements import require_resources
from tests.support.template import template

pytestmark = [pytest.mark.localcloud, pytest.mark.slow]

INPUTS = Path(__file__).resolve().parents[3] / "statemachines" / "inputs"
BAD_INPUTS = sorted(path.name for path in INPUTS.glob("bad_*.json"))
MAP_EVENTS = {"MapStateEntered", "MapRunStarted", "MapIterationStarted"}


def run_job(cloud: LocalCloud, input_name: str, *, timeout_s: float = 120) -> ExecutionOutcome:
    require_resources("state machine", cloud.stack.state_machines, "FanOutStateMachine")
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


def test_the_large_job_runs_as_a_distributed_map_and_counts_every_item(local_cloud: LocalCloud) -> None:
    # Given large_distributed_job.json: primes below 1e7 in 100 items, more than an inline Map runs at once,
    # so a DISTRIBUTED Map whose items and results go through FanOutBucket (dev: no TLS-only bucket policy)
    # When the state machine runs it
    outcome = run_job(local_cloud, "large_distributed_job.json", timeout_s=300)

    # Then it succeeds through the distributed Map with every item counted from the ResultWriter's files
    assert outcome.status == "SUCCEEDED", outcome
    output = outcome.output
    assert (output["mode"], output["item_count"]) == ("DISTRIBUTED", 100)
    assert (output["items_succeeded"], output["items_failed"]) == (100, 0), output["failed_items"]
    assert (output["prime_count"], output["complete"], output["matches_known_value"]) == (664579, True, True)
    events = history(local_cloud, outcome.execution_arn)
    entered = [event["stateEnteredEventDetails"]["name"] for event in events if "stateEnteredEventDetails" in event]
    assert "FanOutDistributed" in entered, entered
    # And the manifest lists the SUCCEEDED file(s), holding one record per child execution
    results = result_files(local_cloud, events)
    assert results["FAILED"] == results["PENDING"] == [], results
    assert sorted(child_index(record) for record in results["SUCCEEDED"]) == list(range(100))
    assert {record["Status"] for record in results["SUCCEEDED"]} == {"SUCCEEDED"}
    # And the Map Run took the template's settings as numbers, through MapSettings and the *Path fields
    map_run_arn = next(event for event in events if event["type"] == "MapRunStarted")[
        "mapRunStartedEventDetails"]["mapRunArn"]
    map_run = local_cloud.aws.stepfunctions.describe_map_run(mapRunArn=map_run_arn)
    parameters = template()["Parameters"]
    assert map_run["maxConcurrency"] == parameters["FanOutMaxConcurrency"]["Default"]
    assert map_run["toleratedFailurePercentage"] == float(parameters["FanOutToleratedFailurePercentage"]["Default"])


def test_distributed_item_failures_under_the_tolerated_percentage_are_reported_with_their_error(
        local_cloud: LocalCloud) -> None:
    # Given distributed_tolerated_failures_job.json: 50 items (a distributed Map) of which items 7, 23 and 41
    # are handed over reversed (fail_items), 6 % of the items against ToleratedFailurePercentage 10
    job = json.loads((INPUTS / "distributed_tolerated_failures_job.json").read_text())
    # When the state machine runs it
    outcome = run_job(local_cloud, "distributed_tolerated_failures_job.json", timeout_s=300)

    # Then the Map Run tolerates them: the execution succeeds and Aggregate reports each failed item with the
    # worker's own error (read from FAILED_0.json), and counts the primes of the other 47 ranges
    assert outcome.status == "SUCCEEDED", outcome
    output = outcome.output
    assert output["mode"] == "DISTRIBUTED"
    assert [(item["index"], item["error"]) for item in output["failed_items"]] == [
        (index, "InvalidItemError") for index in job["fail_items"]]
    assert all("empty or reversed" in item["message"] for item in output["failed_items"]), output["failed_items"]
    assert (output["items_succeeded"], output["items_failed"], output["complete"]) == (47, 3, False)
    missing = sum(primes_between(min(item["start"], item["stop"]), max(item["start"], item["stop"]))
                  for item in output["failed_items"])
    assert output["prime_count"] == 78498 - missing
    # And the run's results are in S3 as AWS writes them: a FAILED_0.json with each child's Error and Cause
    results = result_files(local_cloud, history(local_cloud, outcome.execution_arn))
    failed = sorted(results["FAILED"], key=child_index)
    assert [(child_index(record), record["Status"], record["Error"]) for record in failed] == [
        (index, "FAILED", "InvalidItemError") for index in job["fail_items"]]
    assert all("Output" not in record and json.loads(record["Cause"])["errorType"] == "InvalidItemError"
               for record in failed)
    assert len(results["SUCCEEDED"]) == 47


def test_distributed_item_failures_above_the_tolerated_percentage_fail_the_execution(
        local_cloud: LocalCloud) -> None:
    # Given distributed_too_many_failures_job.json: 6 of its 50 items fail, 12 % against a tolerated 10 %
    # When the state machine runs it
    outcome = run_job(local_cloud, "distributed_too_many_failures_job.json", timeout_s=300)

    # Then the Map Run fails, and with it the execution, on the tolerated failure threshold
    assert outcome.status == "FAILED", outcome
    assert outcome.error == "States.ExceedToleratedFailureThreshold", outcome
    assert outcome.cause == "The specified tolerated failure threshold was exceeded", outcome
    events = history(local_cloud, outcome.execution_arn)
    types = [event["type"] for event in events]
    assert types.index("MapRunFailed") < types.index("MapStateFailed") < types.index("ExecutionFailed"), types
    map_run_failed = next(event for event in events if event["type"] == "MapRunFailed")
    assert map_run_failed["mapRunFailedEventDetails"]["error"] == "States.ExceedToleratedFailureThreshold"
    # And Aggregate never ran
    entered = [event["stateEnteredEventDetails"]["name"] for event in events if "stateEnteredEventDetails" in event]
    assert "FanOutDistributed" in entered and "Aggregate" not in entered, entered
    # And the six failed children, with their error, are in the results written for the failed run; the
    # children still running when the sixth failed were aborted, and share the FAILED file as ABORTED
    in_failed_file = result_files(local_cloud, events)["FAILED"]
    failed = [record for record in in_failed_file if record["Status"] == "FAILED"]
    assert sorted(child_index(record) for record in failed) == [1, 9, 17, 25, 33, 41], failed
    assert {record["Error"] for record in failed} == {"InvalidItemError"}
    assert {record["Status"] for record in in_failed_file if record not in failed} <= {"ABORTED"}


def result_files(cloud: LocalCloud, events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The distributed Map run's result records per status, read through its manifest.json."""
    map_run_arn = next(event for event in events if event["type"] == "MapRunStarted")[
        "mapRunStartedEventDetails"]["mapRunArn"]
    bucket = cloud.stack.buckets["FanOutBucket"]
    s3 = cloud.aws.s3

    def read(key: str) -> Any:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    manifest = read(f"results/{map_run_arn.split(':')[-1]}/manifest.json")
    assert manifest["MapRunArn"] == map_run_arn, manifest
    results: dict[str, list[dict[str, Any]]] = {}
    for status, entries in manifest["ResultFiles"].items():
        results[status] = []
        for entry in entries:
            assert entry["Key"].endswith(f"/{status}_0.json"), entry
            assert entry["Size"] == s3.head_object(Bucket=bucket, Key=entry["Key"])["ContentLength"], entry
            results[status] += read(entry["Key"])
    return results


def child_index(record: dict[str, Any]) -> int:
    index: int = json.loads(record["Input"])["item"]["index"]
    return index


def primes_between(start: int, stop: int) -> int:
    """pi(stop) - pi(start) by a plain sieve, independent of the worker's code."""
    if stop <= 2:
        return 0
    sieve = bytearray([1]) * stop
    sieve[0:2] = b"\x00\x00"
    for number in range(2, int(stop ** 0.5) + 1):
        if sieve[number]:
            sieve[number * number::number] = bytes(len(range(number * number, stop, number)))
    return sum(sieve[start:])
