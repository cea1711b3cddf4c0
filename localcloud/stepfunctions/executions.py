"""Step Functions executions on the local cloud: start one, wait for its end, report the outcome.

The execution runs in moto's ASL interpreter (localcloud.motoserver switches it on); its lambda:invoke tasks
reach the local cloud's invokers through the control server, so the state machine calls the same
warm functions the pollers do.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from localcloud.deploy.deployed_stack import DeployedStack

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

FINAL_STATUSES = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


@dataclass(frozen=True)
class ExecutionOutcome:
    execution_arn: str
    status: str  # SUCCEEDED | FAILED | TIMED_OUT | ABORTED, or RUNNING when the wait ran out
    output: Any = None
    error: str | None = None
    cause: str | None = None
    duration_s: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    def to_document(self) -> dict[str, Any]:
        return {"execution_arn": self.execution_arn, "status": self.status, "output": self.output,
                "error": self.error, "cause": self.cause, "duration_s": round(self.duration_s, 3)}


def state_machine_arn(stack: DeployedStack, name: str) -> str:
    """A state machine's ARN from its logical id (or its name, or its ARN)."""
    if name in stack.state_machines:
        return stack.state_machines[name].arn
    for machine in stack.state_machines.values():
        if name in (machine.name, machine.arn):
            return machine.arn
    known = ", ".join(stack.state_machines) or "none"
    raise KeyError(f"no state machine {name!r} in {stack.stack_name} (it has: {known})")


def run_execution(
    sfn: SFNClient,
    machine_arn: str,
    execution_input: Any,
    *,
    name: str | None = None,
    timeout_s: float = 300.0,
    poll_interval_s: float = 0.2,
) -> ExecutionOutcome:
    started = time.monotonic()
    execution_arn = sfn.start_execution(
        stateMachineArn=machine_arn, name=name or f"localcloud-{uuid.uuid4().hex[:12]}",
        input=json.dumps(execution_input),
    )["executionArn"]
    deadline = started + timeout_s
    while True:
        description = sfn.describe_execution(executionArn=execution_arn)
        status = description["status"]
        if status in FINAL_STATUSES or time.monotonic() > deadline:
            break
        time.sleep(poll_interval_s)
    output = description.get("output")
    return ExecutionOutcome(
        execution_arn=execution_arn,
        status=status,
        output=json.loads(output) if output else None,
        error=description.get("error"),
        cause=description.get("cause"),
        duration_s=time.monotonic() - started,
    )
