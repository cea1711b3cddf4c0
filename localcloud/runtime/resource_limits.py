"""What a function's MemorySize buys in the local sandbox: a hard memory limit, a CPU share and visible cores.

Lambda (lambda/latest/dg/configuration-memory.html) gives a function memory up to its MemorySize and
CPU in proportion to it, "at 1,769 MB, a function has the equivalent of one vCPU", on the cores its
size shows (layers/common/lambda_platform.py: 2 up to 3,008 MB, ... 6 at 10,240). Past its memory the
runtime is killed and the invoke fails with Runtime.ExitError "signal: killed"
(lambda/latest/dg/troubleshooting-invocation.html). The subprocess invoker gives each worker a cgroup
of its own (localcloud.runtime.cgroups) that enforces:

- memory: a hard limit of MemorySize, no swap; the kernel's OOM killer ends the worker past it, and
  the REPORT's Max Memory Used is the group's peak. On by default for every function
  (`up --memory-limits off` turns it off): a function that passes its memory locally would be killed
  on AWS, so the default is AWS's behaviour;
- CPU: a CFS quota of MemorySize / 1,769 vCPU per 100 ms period, and a cpuset of the cores Lambda
  shows at that size, capped by this machine's (said so at `up` and in `status`). Off by default
  (`up --cpu-limits all|FUNCTION[,FUNCTION...]` turns it on): a 128 MB function gets 7 % of a core,
  and the local cloud is meant to stay fast when nobody measures CPU.

Without root or without the controllers, nothing is silently different: one warning names what is
not enforced and why, and `status` shows it for each function. os.cpu_count() inside a worker stays
the host's count (the cpuset sets the affinity, which os.sched_getaffinity and
os.process_cpu_count() report).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lambda_platform import MB_PER_VCPU, credited_vcpus, visible_cores

from localcloud.deploy.deployed_stack import DeployedFunction
from localcloud.runtime.cgroups import (
    CFS_PERIOD_US,
    MIN_CFS_QUOTA_US,
    CgroupError,
    CgroupTree,
    Controller,
    GroupSettings,
    SandboxGroup,
    allowed_cpus,
    controller_unusable_reason,
    detect_controllers,
    record_groups,
)

logger = logging.getLogger("localcloud.invokers")

CpuLimitChoice = Literal["off", "all"] | frozenset[str]
MIB = 1024 * 1024


class LimitsRefused(ValueError):
    """A limits option that cannot be honoured here (an unknown function, the Docker invoker)."""


def parse_cpu_limits(text: str) -> CpuLimitChoice:
    """`--cpu-limits`: off, all, or a comma-separated list of function logical ids."""
    value = text.strip()
    if value in ("off", "all"):
        return "off" if value == "off" else "all"
    names = frozenset(name.strip() for name in value.split(",") if name.strip())
    if not names:
        raise ValueError(f"--cpu-limits takes off, all or FUNCTION[,FUNCTION...], not {text!r}")
    return names


def cpu_quota_us(memory_mb: int) -> int:
    """The CFS quota per 100 ms period that gives memory / 1,769 vCPU."""
    return max(MIN_CFS_QUOTA_US, math.ceil(CFS_PERIOD_US * memory_mb / MB_PER_VCPU))


@dataclass(frozen=True)
class FunctionLimits:
    """What one function's sandboxes get here, and what Lambda would give it."""

    memory_mb: int
    memory_enforced: bool
    cpu_enforced: bool
    cpus: tuple[int, ...]  # the cores its sandboxes are given (empty when the CPU is not limited)
    lambda_cores: int

    @property
    def credited_vcpus(self) -> float:
        return credited_vcpus(self.memory_mb)

    @property
    def capped_by_host(self) -> bool:
        return self.cpu_enforced and len(self.cpus) < self.lambda_cores

    def group_settings(self) -> GroupSettings:
        return GroupSettings(memory_bytes=self.memory_mb * MIB if self.memory_enforced else None,
                             cpu_quota_us=cpu_quota_us(self.memory_mb) if self.cpu_enforced else None,
                             cpus=self.cpus if self.cpu_enforced else None)


class SandboxLimits:
    """The subprocess invoker's resource limits: which apply to which function, and one cgroup per worker."""

    def __init__(self, *, memory: bool, cpu: CpuLimitChoice, function_ids: Iterable[str],
                 state_dir: Path | None = None, controllers: Mapping[str, Controller] | None = None) -> None:
        known = set(function_ids)
        if isinstance(cpu, frozenset) and (unknown := sorted(cpu - known)):
            raise LimitsRefused(f"--cpu-limits names {', '.join(unknown)}, which the stack does not have "
                                f"(its functions: {', '.join(sorted(known))})")
        self.memory = memory
        self.cpu = cpu
        self.state_dir = state_dir
        found = dict(detect_controllers() if controllers is None else controllers)
        self.unavailable: dict[str, str] = {}  # controller -> why it cannot be used here
        for name in ("memory", "cpu", "cpuset"):
            controller = found.get(name)
            reason = "no such cgroup controller is mounted" if controller is None else controller_unusable_reason(
                controller)
            if reason is not None:
                self.unavailable[name] = reason
                found.pop(name, None)
        self.tree = CgroupTree(found)
        self.host_cpus = tuple(allowed_cpus(found))
        self._recorded: list[Path] = []

    def cpu_wanted(self, logical_id: str) -> bool:
        return self.cpu == "all" or (isinstance(self.cpu, frozenset) and logical_id in self.cpu)

    def memory_problem(self) -> str | None:
        """Why memory limits are not enforced although asked for (None: they are, or were not asked)."""
        if self.memory and "memory" in self.unavailable:
            return f"memory cgroup: {self.unavailable['memory']}"
        return None

    def cpu_problem(self) -> str | None:
        missing = [f"{name} cgroup: {self.unavailable[name]}" for name in ("cpu", "cpuset") if name in self.unavailable]
        return "; ".join(missing) if self.cpu != "off" and missing else None

    def plan(self, function: DeployedFunction) -> FunctionLimits:
        cpu = self.cpu_wanted(function.logical_id) and self.cpu_problem() is None
        lambda_cores = visible_cores(function.memory_mb)
        memory = self.memory and self.memory_problem() is None
        return FunctionLimits(memory_mb=function.memory_mb, memory_enforced=memory, cpu_enforced=cpu,
                              cpus=self.host_cpus[:lambda_cores] if cpu else (),
                              lambda_cores=lambda_cores)

    def group_for(self, function: DeployedFunction) -> SandboxGroup | None:
        """A new cgroup for one worker of ``function``; None when it gets no limits, CgroupError when refused."""
        settings = self.plan(function).group_settings()
        if settings == GroupSettings():
            return None
        group = self.tree.create(function.logical_id, settings)
        self._record()
        return group

    def _record(self) -> None:
        roots = self.tree.roots
        if self.state_dir is not None and roots != self._recorded:
            record_groups(self.state_dir, roots)
            self._recorded = roots

    def warnings(self, functions: Mapping[str, DeployedFunction]) -> list[str]:
        """One line per limit asked for and not enforced, and one naming the functions whose cores are capped."""
        lines = []
        if (problem := self.memory_problem()) is not None:
            lines.append(f"memory limits NOT enforced (functions may use more than their MemorySize and are never "
                         f"killed for it): {problem}")
        if (problem := self.cpu_problem()) is not None:
            lines.append(f"CPU limits NOT enforced (functions get this machine's whole CPU): {problem}")
        capped = {logical_id: limits for logical_id, function in sorted(functions.items())
                  if (limits := self.plan(function)).capped_by_host}
        if capped:
            lines.append(f"visible cores capped by this machine's {len(self.host_cpus)}: " + ", ".join(
                f"{logical_id} ({limits.memory_mb} MB: {limits.lambda_cores} in Lambda)"
                for logical_id, limits in capped.items()))
        return lines

    def status(self, functions: Mapping[str, DeployedFunction]) -> dict[str, dict[str, str]]:
        """For each function, the memory and CPU limits in force, in words."""
        return {logical_id: {"memory": self._memory_words(function), "cpu": self._cpu_words(function)}
                for logical_id, function in functions.items()}

    def _memory_words(self, function: DeployedFunction) -> str:
        if not self.memory:
            return "not limited (--memory-limits off)"
        if (problem := self.memory_problem()) is not None:
            return f"NOT enforced: {problem}"
        return f"{function.memory_mb} MB hard limit, no swap"

    def _cpu_words(self, function: DeployedFunction) -> str:
        if not self.cpu_wanted(function.logical_id):
            return "not limited (--cpu-limits)"
        if (problem := self.cpu_problem()) is not None:
            return f"NOT enforced: {problem}"
        limits = self.plan(function)
        cap = (f" (capped by this machine: {limits.lambda_cores} in Lambda)" if limits.capped_by_host else "")
        return (f"{limits.credited_vcpus:.2f} vCPU quota ({cpu_quota_us(limits.memory_mb)} us per "
                f"{CFS_PERIOD_US} us), {len(limits.cpus)} cores{cap}")

    def release_all(self) -> None:
        self.tree.release_all()
        if self.state_dir is not None:
            (self.state_dir / "cgroups.json").unlink(missing_ok=True)


def cgroups_unavailable_reason(controllers: Mapping[str, Controller] | None = None) -> str | None:
    """None when memory, cpu and cpuset groups can all be made here, else why not (each controller's reason)."""
    limits = SandboxLimits(memory=True, cpu="all", function_ids=(), controllers=controllers)
    problems = [problem for problem in (limits.memory_problem(), limits.cpu_problem()) if problem]
    return "; ".join(problems) or None


def docker_refusals(*, memory: bool, cpu: CpuLimitChoice) -> None:
    """The Docker invoker: sam local sets each container's memory to MemorySize and has no CPU option."""
    if cpu != "off":
        raise LimitsRefused("--cpu-limits is not possible with --invoker docker: sam local start-lambda (SAM CLI "
                            "1.170) creates each container with MemorySize as its memory limit and offers no CPU "
                            "setting; use the subprocess invoker to emulate the CPU share")
    if not memory:
        raise LimitsRefused("--memory-limits off is not possible with --invoker docker: sam local start-lambda "
                            "always limits each container's memory to the function's MemorySize")


def docker_status(functions: Mapping[str, DeployedFunction]) -> dict[str, dict[str, str]]:
    return {logical_id: {"memory": f"{function.memory_mb} MB (sam local: the container's memory limit)",
                         "cpu": "not limited (sam local has no CPU setting)"}
            for logical_id, function in functions.items()}


__all__ = ["CgroupError", "FunctionLimits", "LimitsRefused", "SandboxLimits", "cgroups_unavailable_reason",
           "cpu_quota_us", "docker_refusals", "docker_status", "parse_cpu_limits"]
