"""Resolve a deployed stack's outputs (queue URLs, table names) for the tools."""

from __future__ import annotations

from typing import Any


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
