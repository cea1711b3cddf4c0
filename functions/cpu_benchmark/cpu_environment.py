"""What CPU and memory this process really gets, and what multiprocessing can use here.

os.cpu_count() counts the cores the kernel shows, not the CPU time the function is allowed: in Lambda
the share is memory / 1769 vCPU while at least 2 cores are visible, and a container may also be held
back by a cgroup quota or a CPU affinity mask. The report puts those figures side by side.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
from pathlib import Path

import psutil
from pydantic import BaseModel

# Lambda credits one vCPU-second per second at this much memory (MB).
MB_PER_VCPU = 1769

# (largest memory size in MB, cores Lambda shows at that size), measured; see AWS_SEMANTICS.md.
VISIBLE_CORES_BY_MEMORY = ((3008, 2), (5307, 3), (7076, 4), (8845, 5), (10240, 6))

CGROUP_ROOT = Path("/sys/fs/cgroup")
DEV_SHM = Path("/dev/shm")  # noqa: S108 - only checked for existence


class CgroupCpuQuota(BaseModel):
    version: str
    quota_us: int
    period_us: int
    cpus: float


class CpuFrequency(BaseModel):
    current_mhz: float
    min_mhz: float | None
    max_mhz: float | None


class EnvironmentReport(BaseModel):
    os_cpu_count: int | None
    logical_cores: int | None
    physical_cores: int | None
    cpu_affinity: list[int] | None
    cgroup_cpu_quota: CgroupCpuQuota | None
    cpu_freq: CpuFrequency | None
    memory_total_bytes: int
    memory_available_bytes: int
    lambda_memory_mb: int | None
    credited_vcpu: float | None
    lambda_visible_cores_at_memory: int | None
    usable_cpus: float
    python_version: str
    python_implementation: str
    default_start_method: str
    start_method: str
    dev_shm_exists: bool
    posix_semaphores_usable: bool
    posix_semaphore_error: str | None


def collect_environment(
    *,
    lambda_memory_mb: int | None,
    start_method: str | None,
    cgroup_root: Path = CGROUP_ROOT,
    dev_shm: Path = DEV_SHM,
) -> EnvironmentReport:
    memory = psutil.virtual_memory()
    affinity = cpu_affinity()
    quota = cgroup_cpu_quota(cgroup_root)
    credited = credited_vcpu(lambda_memory_mb)
    semaphore_error = posix_semaphore_error()
    return EnvironmentReport(
        os_cpu_count=os.cpu_count(),
        logical_cores=psutil.cpu_count(logical=True),
        physical_cores=psutil.cpu_count(logical=False),
        cpu_affinity=affinity,
        cgroup_cpu_quota=quota,
        cpu_freq=cpu_frequency(),
        memory_total_bytes=memory.total,
        memory_available_bytes=memory.available,
        lambda_memory_mb=lambda_memory_mb,
        credited_vcpu=credited,
        lambda_visible_cores_at_memory=visible_cores_at(lambda_memory_mb),
        usable_cpus=usable_cpus(
            visible=len(affinity) if affinity else (os.cpu_count() or 1),
            quota=quota.cpus if quota else None,
            credited=credited,
        ),
        python_version=platform.python_version(),
        python_implementation=platform.python_implementation(),
        default_start_method=multiprocessing.get_start_method(allow_none=True)
        or multiprocessing.get_context().get_start_method(),
        start_method=multiprocessing.get_context(start_method).get_start_method(),
        dev_shm_exists=dev_shm.is_dir(),
        posix_semaphores_usable=semaphore_error is None,
        posix_semaphore_error=semaphore_error,
    )


def cpu_affinity() -> list[int] | None:
    if not hasattr(os, "sched_getaffinity"):
        return None
    return sorted(os.sched_getaffinity(0))


def cgroup_cpu_quota(root: Path = CGROUP_ROOT) -> CgroupCpuQuota | None:
    """The CFS quota of this cgroup (v2 cpu.max, else v1 cfs_quota_us), or None when unlimited."""
    cpu_max = _read(root / "cpu.max")
    if cpu_max is not None:
        quota, _, period = cpu_max.partition(" ")
        if quota == "max" or not period:
            return None
        return _quota("v2", int(quota), int(period))
    for folder in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        quota_text = _read(root / folder / "cpu.cfs_quota_us")
        period_text = _read(root / folder / "cpu.cfs_period_us")
        if quota_text is not None and period_text is not None:
            quota_us = int(quota_text)
            return None if quota_us < 0 else _quota("v1", quota_us, int(period_text))
    return None


def _quota(version: str, quota_us: int, period_us: int) -> CgroupCpuQuota:
    return CgroupCpuQuota(version=version, quota_us=quota_us, period_us=period_us, cpus=quota_us / period_us)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cpu_frequency() -> CpuFrequency | None:
    # psutil returns None, or raises, on VMs and arm64 without cpufreq data (Lambda among them).
    try:
        frequency = psutil.cpu_freq()
    except (OSError, NotImplementedError, RuntimeError):
        return None
    if frequency is None or not frequency.current:
        return None
    return CpuFrequency(
        current_mhz=frequency.current,
        min_mhz=frequency.min or None,
        max_mhz=frequency.max or None,
    )


def credited_vcpu(lambda_memory_mb: int | None) -> float | None:
    return None if lambda_memory_mb is None else round(lambda_memory_mb / MB_PER_VCPU, 3)


def visible_cores_at(lambda_memory_mb: int | None) -> int | None:
    if lambda_memory_mb is None:
        return None
    for largest_mb, cores in VISIBLE_CORES_BY_MEMORY:
        if lambda_memory_mb <= largest_mb:
            return cores
    return VISIBLE_CORES_BY_MEMORY[-1][1]


def usable_cpus(*, visible: int, quota: float | None, credited: float | None) -> float:
    """The most CPU this process can burn per second: the tightest of cores, quota and Lambda credit."""
    limits = [float(visible)] + [limit for limit in (quota, credited) if limit is not None]
    return round(min(limits), 3)


def posix_semaphore_error() -> str | None:
    """Why multiprocessing.Pool/Queue/Lock cannot work here (no usable /dev/shm), or None if they can."""
    try:
        # The fork context unlinks the semaphore at once, so this probe leaves nothing behind and
        # starts no resource tracker.
        multiprocessing.get_context("fork").Lock()
    except OSError as error:
        return f"{type(error).__name__}: {error}"
    return None
