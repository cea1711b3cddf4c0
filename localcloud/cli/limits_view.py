"""The resource limits in force, as `up` summarises them (localcloud.runtime.resource_limits)."""

from __future__ import annotations

from typing import Any

from localcloud.runtime.subprocess_invoker import SubprocessInvoker


def limits_lines(invoker: Any) -> list[str]:
    """What `up` says about memory and CPU limits: what is on, and every limit asked for and not enforced."""
    if not isinstance(invoker, SubprocessInvoker):
        return ["  limits: sam local sets each container's memory to its MemorySize; CPU is not limited"]
    limits = invoker.limits
    if limits is None:
        return ["  limits: none (every worker has the whole machine)"]
    memory = "MemorySize, every function" if limits.memory else "off"
    if isinstance(limits.cpu, frozenset):
        cpu = f"MemorySize / 1769 vCPU for {', '.join(sorted(limits.cpu))}"
    else:
        cpu = "MemorySize / 1769 vCPU, every function" if limits.cpu == "all" else "off"

    lines = [f"  limits: memory {memory}; CPU {cpu} (`localcloud status` shows each function's)"]
    lines += [f"  [yellow]WARNING[/]: {warning}" for warning in limits.warnings(invoker.functions)]
    return lines
