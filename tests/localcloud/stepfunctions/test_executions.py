"""Step Functions executions: moto's interpreter, with lambda:invoke tasks run by the local invokers."""

from __future__ import annotations

import json

import pytest

from localcloud.cloud import LocalCloud
from localcloud.stepfunctions.executions import run_execution, state_machine_arn
from tests.support.events import EVENTS
from tests.support.requirements import require_resources

pytestmark = pytest.mark.localcloud


def test_a_map_of_lambda_tasks_and_a_caught_task_error_run_to_success(probe_cloud: LocalCloud) -> None:
    # Given ProbeStateMachine: a Map (MaxConcurrency from a substitution) of SleeperFunction, then a
    # FailingFunction task whose error is caught
    machine = state_machine_arn(probe_cloud.stack, "ProbeStateMachine")
    items = [{"sleep_s": 0.1}, {"sleep_s": 0}, {"sleep_s": 0.2}]

    # When it is executed
    outcome = run_execution(probe_cloud.aws.stepfunctions, machine, {"items": items, "reason": "caught"},
                            timeout_s=60)

    # Then it succeeds with every item's function result and the caught error in the output
    assert outcome.status == "SUCCEEDED", outcome
    assert [entry["slept_s"] for entry in outcome.output["slept"]] == [0.1, 0, 0.2]
    assert outcome.output["caught"]["Error"] == "OrderRejectedError"
    assert json.loads(outcome.output["caught"]["Cause"])["errorMessage"] == "rejected: caught"


def test_a_task_that_times_out_fails_the_execution_with_lambdas_error(probe_cloud: LocalCloud) -> None:
    # Given an item that makes SleeperFunction (Timeout 1 s) time out: nothing catches it
    machine = state_machine_arn(probe_cloud.stack, "ProbeStateMachine")

    # When it is executed
    outcome = run_execution(probe_cloud.aws.stepfunctions, machine, {"items": [{"sleep_s": 3}], "reason": "x"},
                            timeout_s=60)

    # Then the execution fails with the function's timeout error
    assert outcome.status == "FAILED"
    assert outcome.error == "Sandbox.Timedout"


def test_the_fan_out_state_machine_counts_primes_correctly(local_cloud: LocalCloud) -> None:
    require_resources("state machine", local_cloud.stack.state_machines, "FanOutStateMachine")
    # Given the small job the fan-out's own inputs hold
    job = json.loads((EVENTS.parent / "statemachines" / "inputs" / "small_job.json").read_text())

    # When the template's state machine runs it
    outcome = run_execution(local_cloud.aws.stepfunctions, state_machine_arn(local_cloud.stack, "FanOutStateMachine"),
                            job, timeout_s=120)

    # Then Split -> Map -> Aggregate ran in the local cloud's functions and the count is the known one
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.output["matches_known_value"] is True
    assert outcome.output["items_succeeded"] == job["k"]
