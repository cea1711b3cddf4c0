"""localcloud.motoserver.distributed_map on the local cloud's moto server: a distributed Map's tolerated failures,
its child outcomes and its ResultWriter files, as AWS has them.

The state machines here are made for the test: a distributed Map over the execution input's items whose
child is a Choice -> Fail ("Boom") for an item with "fail": true, or a Pass returning the item's n.
No Lambda function is involved.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.stepfunctions.executions import ExecutionOutcome, run_execution

pytestmark = pytest.mark.localcloud

ROLE_ARN = "arn:aws:iam::123456789012:role/probe-distributed-map"
THRESHOLD_ERROR = "States.ExceedToleratedFailureThreshold"
THRESHOLD_CAUSE = "The specified tolerated failure threshold was exceeded"


@pytest.fixture(scope="module")
def bucket(probe_cloud: LocalCloud) -> str:
    name = f"distributed-map-results-{uuid.uuid4().hex[:8]}"
    options: dict[str, Any] = {}
    if probe_cloud.aws.region != "us-east-1":
        options["CreateBucketConfiguration"] = {"LocationConstraint": probe_cloud.aws.region}
    probe_cloud.aws.s3.create_bucket(Bucket=name, **options)
    return name


def distributed_map(tolerance: dict[str, Any], *, bucket: str | None = None, max_concurrency: int = 2,
                    catch: bool = False) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Map",
        "ItemsPath": "$.items",
        "ItemSelector": {"batch.$": "$.batch", "item.$": "$$.Map.Item.Value"},
        "MaxConcurrency": max_concurrency,
        "Label": "Probe",
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Choose",
            "States": {
                "Choose": {"Type": "Choice", "Default": "Count",
                           "Choices": [{"Variable": "$.item.fail", "BooleanEquals": True, "Next": "Boom"}]},
                "Boom": {"Type": "Fail", "Error": "Boom", "Cause": "the item asked to fail"},
                "Count": {"Type": "Pass", "Parameters": {"n.$": "$.item.n"}, "End": True},
            },
        },
        "End": True,
        **tolerance,
    }
    if bucket:
        state["ResultWriter"] = {"Resource": "arn:aws:states:::s3:putObject",
                                 "Parameters": {"Bucket": bucket, "Prefix": "probe"}}
    states: dict[str, Any] = {"Fan": state}
    if catch:
        del state["End"]
        state["Next"] = "Done"
        state["Catch"] = [{"ErrorEquals": [THRESHOLD_ERROR], "ResultPath": "$.caught", "Next": "Done"}]
        states["Done"] = {"Type": "Pass", "End": True}
    return {"StartAt": "Fan", "States": states}


def run_map(cloud: LocalCloud, definition: dict[str, Any], failing: set[int], items: int = 10) -> ExecutionOutcome:
    sfn = cloud.aws.stepfunctions
    machine = sfn.create_state_machine(name=f"probe-map-{uuid.uuid4().hex[:10]}", definition=json.dumps(definition),
                                       roleArn=ROLE_ARN)["stateMachineArn"]
    execution_input = {"batch": "b-1", "items": [{"n": index, "fail": index in failing} for index in range(items)]}
    outcome = run_execution(sfn, machine, execution_input, timeout_s=60, poll_interval_s=0.1)
    assert outcome.status != "RUNNING", outcome
    return outcome


def history_types(cloud: LocalCloud, execution_arn: str) -> list[str]:
    events = cloud.aws.stepfunctions.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return [event["type"] for event in events]


def results(cloud: LocalCloud, bucket: str, output_or_key: str) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The manifest and the records of each result file it lists."""
    s3 = cloud.aws.s3
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=output_or_key)["Body"].read())
    records: dict[str, list[Any]] = {}
    for status, entries in manifest["ResultFiles"].items():
        records[status] = []
        for entry in entries:
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
            assert entry == {"Key": entry["Key"], "Size": len(body)}
            records[status] += json.loads(body)
    return manifest, records


def test_without_a_tolerance_one_failed_child_fails_the_map_run_and_the_execution(probe_cloud: LocalCloud) -> None:
    # Given a distributed Map that declares neither ToleratedFailureCount nor ToleratedFailurePercentage
    # When one of its 10 children fails
    outcome = run_map(probe_cloud, distributed_map({}), failing={4})

    # Then the execution fails with AWS's error and cause, after MapRunFailed and MapStateFailed
    assert (outcome.status, outcome.error, outcome.cause) == ("FAILED", THRESHOLD_ERROR, THRESHOLD_CAUSE), outcome
    types = history_types(probe_cloud, outcome.execution_arn)
    assert types[-3:] == ["MapRunFailed", "MapStateFailed", "ExecutionFailed"], types
    # And the Map Run says FAILED
    map_run = probe_cloud.aws.stepfunctions.list_map_runs(executionArn=outcome.execution_arn)["mapRuns"][0]
    described = probe_cloud.aws.stepfunctions.describe_map_run(mapRunArn=map_run["mapRunArn"])
    assert described["status"] == "FAILED"
    assert described["itemCounts"]["failed"] == 1


@pytest.mark.parametrize(
    ("tolerance", "failing", "status"),
    [
        ({}, set(), "SUCCEEDED"),
        # An integer percentage (AWS accepts it; moto's grammar alone would refuse the definition).
        ({"ToleratedFailurePercentage": 10}, {3}, "SUCCEEDED"),  # 10 % is not above 10 %
        ({"ToleratedFailurePercentage": 10.0}, {3, 7}, "FAILED"),
        ({"ToleratedFailurePercentage": 25.5}, {1, 3}, "SUCCEEDED"),
        ({"ToleratedFailureCount": 2}, {1, 3}, "SUCCEEDED"),  # only the declared field applies
        ({"ToleratedFailureCount": 2}, {1, 3, 5}, "FAILED"),
        ({"ToleratedFailureCount": 5, "ToleratedFailurePercentage": 10.0}, {1, 3}, "FAILED"),  # either one
        ({"ToleratedFailureCount": 1, "ToleratedFailurePercentage": 50.0}, {1, 3}, "FAILED"),
        ({"ToleratedFailureCount": 0, "ToleratedFailurePercentage": 0}, {9}, "FAILED"),
    ],
)
def test_the_map_run_fails_only_when_its_failures_exceed_a_declared_tolerance(
        probe_cloud: LocalCloud, tolerance: dict[str, Any], failing: set[int], status: str) -> None:
    # Given a distributed Map of 10 items with this tolerance
    # When the given children fail
    outcome = run_map(probe_cloud, distributed_map(tolerance), failing=failing)

    # Then the execution ends as AWS would: failed exactly when a declared threshold is exceeded
    assert outcome.status == status, outcome
    if status == "FAILED":
        assert (outcome.error, outcome.cause) == (THRESHOLD_ERROR, THRESHOLD_CAUSE)


def test_the_result_writer_writes_each_child_with_its_output_or_its_error(probe_cloud: LocalCloud,
                                                                           bucket: str) -> None:
    # Given a distributed Map with a ResultWriter, tolerating 2 failures
    definition = distributed_map({"ToleratedFailureCount": 2}, bucket=bucket)

    # When 2 of its 10 children fail
    outcome = run_map(probe_cloud, definition, failing={2, 6})

    # Then the state's output points at <Prefix>/<map run id>/manifest.json
    assert outcome.status == "SUCCEEDED", outcome
    map_run_arn = outcome.output["MapRunArn"]
    key = outcome.output["ResultWriterDetails"]["Key"]
    assert outcome.output["ResultWriterDetails"]["Bucket"] == bucket
    assert key == f"probe/{map_run_arn.split(':')[-1]}/manifest.json"
    # And the manifest lists a SUCCEEDED and a FAILED file (with their sizes), no PENDING one
    manifest, records = results(probe_cloud, bucket, key)
    assert (manifest["DestinationBucket"], manifest["MapRunArn"]) == (bucket, map_run_arn)
    assert {status: len(files) for status, files in manifest["ResultFiles"].items()} == {
        "SUCCEEDED": 1, "FAILED": 1, "PENDING": 0}
    # And each succeeded child has its input and output as JSON strings
    succeeded = sorted(records["SUCCEEDED"], key=lambda record: json.loads(record["Input"])["item"]["n"])
    assert [json.loads(record["Output"]) for record in succeeded] == [
        {"n": n} for n in range(10) if n not in (2, 6)]
    first = succeeded[0]
    assert json.loads(first["Input"]) == {"batch": "b-1", "item": {"n": 0, "fail": False}}
    assert first["Status"] == "SUCCEEDED"
    assert first["InputDetails"] == first["OutputDetails"] == {"Included": True}
    machine_name = map_run_arn.split(":mapRun:")[1].split("/")[0]
    assert first["StateMachineArn"].endswith(f":stateMachine:{machine_name}/Probe")
    assert first["ExecutionArn"].endswith(f":execution:{machine_name}/Probe:{first['Name']}")
    assert first["StartDate"] <= first["StopDate"]
    # And each failed child has its error and cause, and no output
    failed = sorted(records["FAILED"], key=lambda record: json.loads(record["Input"])["item"]["n"])
    assert [(json.loads(record["Input"])["item"]["n"], record["Status"], record["Error"], record["Cause"])
            for record in failed] == [(2, "FAILED", "Boom", "the item asked to fail"),
                                      (6, "FAILED", "Boom", "the item asked to fail")]
    assert not any("Output" in record for record in failed)


def test_past_the_threshold_no_further_child_starts_and_the_rest_are_written_as_pending(
        probe_cloud: LocalCloud, bucket: str) -> None:
    # Given a distributed Map with a ResultWriter, no tolerance and one child at a time
    definition = distributed_map({}, bucket=bucket, max_concurrency=1)

    # When its first child fails
    outcome = run_map(probe_cloud, definition, failing={0}, items=5)

    # Then the Map Run fails without starting the other four, which the results list as PENDING
    assert (outcome.status, outcome.error) == ("FAILED", THRESHOLD_ERROR), outcome
    map_run = probe_cloud.aws.stepfunctions.list_map_runs(executionArn=outcome.execution_arn)["mapRuns"][0]
    map_run_id = map_run["mapRunArn"].split(":")[-1]
    _, records = results(probe_cloud, bucket, f"probe/{map_run_id}/manifest.json")
    assert [json.loads(record["Input"])["item"]["n"] for record in records["FAILED"]] == [0]
    assert records["SUCCEEDED"] == []
    assert [(json.loads(record["Input"])["item"]["n"], record["Status"]) for record in records["PENDING"]] == [
        (n, "PENDING") for n in range(1, 5)]


def test_a_catch_on_the_threshold_error_handles_the_failed_map_run(probe_cloud: LocalCloud) -> None:
    # Given a distributed Map tolerating no failure, whose Catch names States.ExceedToleratedFailureThreshold
    definition = distributed_map({"ToleratedFailureCount": 0}, catch=True)

    # When a child fails
    outcome = run_map(probe_cloud, definition, failing={5})

    # Then the Catch takes the error: the execution succeeds with the error and cause in its output
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.output["caught"] == {"Error": THRESHOLD_ERROR, "Cause": THRESHOLD_CAUSE}
    assert "MapRunFailed" in history_types(probe_cloud, outcome.execution_arn)


def test_children_still_running_when_the_threshold_is_passed_are_aborted(probe_cloud: LocalCloud, bucket: str) -> None:
    # Given a distributed Map of 6 items, 3 at a time, no tolerance: item 0 fails after 1 s while items 1
    # and 2 are in a 20 s Wait (state-map-distributed.html: past the threshold Step Functions stops the
    # Map Run and its running child workflow executions)
    state: dict[str, Any] = {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 3, "Label": "Abort", "End": True,
        "ItemSelector": {"item.$": "$$.Map.Item.Value"},
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Choose",
            "States": {
                "Choose": {"Type": "Choice", "Default": "Slow",
                           "Choices": [{"Variable": "$.item.fail", "BooleanEquals": True, "Next": "Pause"}]},
                "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Boom"},
                "Boom": {"Type": "Fail", "Error": "Boom", "Cause": "the item asked to fail"},
                "Slow": {"Type": "Wait", "Seconds": 20, "Next": "Done"},
                "Done": {"Type": "Pass", "End": True},
            },
        },
        "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                         "Parameters": {"Bucket": bucket, "Prefix": "abort"}},
    }
    sfn = probe_cloud.aws.stepfunctions
    machine = sfn.create_state_machine(name=f"probe-abort-{uuid.uuid4().hex[:10]}",
                                       definition=json.dumps({"StartAt": "Fan", "States": {"Fan": state}}),
                                       roleArn=ROLE_ARN)["stateMachineArn"]

    # When item 0 fails
    outcome = run_execution(sfn, machine, {"items": [{"n": n, "fail": n == 0} for n in range(6)]},
                            timeout_s=60, poll_interval_s=0.1)

    # Then the Map Run fails at once, without waiting for the 20 s children: they are ABORTED
    assert (outcome.status, outcome.error) == ("FAILED", THRESHOLD_ERROR), outcome
    assert outcome.duration_s < 15
    map_run = sfn.list_map_runs(executionArn=outcome.execution_arn)["mapRuns"][0]
    _, records = results(probe_cloud, bucket, f"abort/{map_run['mapRunArn'].split(':')[-1]}/manifest.json")
    statuses = {json.loads(record["Input"])["item"]["n"]: record["Status"]
                for file in records.values() for record in file}
    assert statuses == {0: "FAILED", 1: "ABORTED", 2: "ABORTED", 3: "PENDING", 4: "PENDING", 5: "PENDING"}
    assert records["SUCCEEDED"] == []
    assert sfn.describe_map_run(mapRunArn=map_run["mapRunArn"])["itemCounts"]["aborted"] == 2
