"""Contract: an inline Map runs at most 40 iterations at once, whatever MaxConcurrency says.

step-functions/latest/dg/state-map-inline.html: "In Inline mode, the Map state supports up to 40
concurrent iterations"; MaxConcurrency 0 means no limit of its own. The probe state machine
(tests/localcloud/templates/inline_map_concurrency.asl.json) holds each iteration in a 1 s Wait; the
execution history's WaitStateEntered / WaitStateExited events show how many were held at once.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from localcloud.cloud import LocalCloud
from localcloud.stepfunctions.executions import run_execution

pytestmark = pytest.mark.localcloud

PROBE = Path(__file__).parents[1] / "templates" / "inline_map_concurrency.asl.json"
ROLE_ARN = "arn:aws:iam::123456789012:role/probe-inline-map"


def most_iterations_at_once(cloud: LocalCloud, max_concurrency: int, items: int) -> int:
    sfn = cloud.aws.stepfunctions
    definition = PROBE.read_text().replace("${MaxConcurrency}", str(max_concurrency))
    machine = sfn.create_state_machine(name=f"probe-inline-{uuid.uuid4().hex[:10]}", definition=definition,
                                       roleArn=ROLE_ARN)["stateMachineArn"]
    outcome = run_execution(sfn, machine, {"items": list(range(items))}, timeout_s=120, poll_interval_s=0.2)
    assert outcome.status == "SUCCEEDED", outcome
    assert len(outcome.output) == items
    events = sfn.get_execution_history(executionArn=outcome.execution_arn, maxResults=1000)["events"]
    changes = sorted((event["timestamp"], 1 if event["type"] == "WaitStateEntered" else -1)
                     for event in events if event["type"] in ("WaitStateEntered", "WaitStateExited"))
    assert sum(1 for _, change in changes if change == 1) == items
    held = most = 0
    for _, change in changes:  # an exit sorts before an entry at the same instant: never overcounted
        held += change
        most = max(most, held)
    return most


@pytest.mark.parametrize("max_concurrency", [0, 100])
def test_an_inline_map_runs_at_most_40_iterations_at_once(probe_cloud: LocalCloud, max_concurrency: int) -> None:
    # Given an inline Map over 90 items with MaxConcurrency 0 (no limit of its own) or 100
    # When it runs / Then never more than 40 iterations ran at once (and 40 did)
    assert most_iterations_at_once(probe_cloud, max_concurrency, items=90) == 40


def test_an_inline_map_below_40_keeps_its_max_concurrency(probe_cloud: LocalCloud) -> None:
    assert most_iterations_at_once(probe_cloud, 7, items=20) == 7
