"""The resource limits in force, as `up` summarises them (localcloud.runtime.resource_limits)."""

from __future__ import annotations

from typing import Any

from localcloud.runtime.subprocess_invoker import SubprocessInvoker


def limits_lines(invoker: Any) -> list[str]:
    """What `up` says about memory and CPU limits (the invoker has logged, as a warning, each limit asked for
    and not enforced, and the functions whose cores are capped)."""
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

    warned = " (see the warnings above)" if limits.warnings(invoker.functions) else ""
    return [f"  limits: memory {memory}; CPU {cpu}{warned}; `localcloud status` shows each function's"]
