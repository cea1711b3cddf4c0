"""The environment report: cgroup quotas, Lambda's memory-to-CPU rule, and what psutil may not know."""

from __future__ import annotations

from pathlib import Path

import cpu_environment
import psutil
import pytest
from cpu_environment import (
    cgroup_cpu_quota,
    collect_environment,
    cpu_frequency,
    credited_vcpu,
    usable_cpus,
    visible_cores_at,
)


def test_cgroup_v2_quota_is_read_from_cpu_max(tmp_path: Path) -> None:
    # Given a cgroup v2 limit of two CPUs
    (tmp_path / "cpu.max").write_text("200000 100000\n")

    # When the quota is read
    quota = cgroup_cpu_quota(tmp_path)

    # Then it is 2 CPUs, from v2
    assert quota is not None
    assert (quota.version, quota.cpus) == ("v2", 2.0)


def test_cgroup_v2_without_limit_is_none(tmp_path: Path) -> None:
    # Given an unlimited cgroup v2
    (tmp_path / "cpu.max").write_text("max 100000\n")

    # When / Then there is no quota
    assert cgroup_cpu_quota(tmp_path) is None


def test_cgroup_v1_quota_is_read_from_cfs_files(tmp_path: Path) -> None:
    # Given a cgroup v1 limit of half a CPU
    folder = tmp_path / "cpu,cpuacct"
    folder.mkdir()
    (folder / "cpu.cfs_quota_us").write_text("50000\n")
    (folder / "cpu.cfs_period_us").write_text("100000\n")

    # When the quota is read
    quota = cgroup_cpu_quota(tmp_path)

    # Then it is half a CPU, from v1
    assert quota is not None
    assert (quota.version, quota.cpus) == ("v1", 0.5)


def test_cgroup_v1_minus_one_means_no_limit(tmp_path: Path) -> None:
    # Given an unlimited cgroup v1
    folder = tmp_path / "cpu"
    folder.mkdir()
    (folder / "cpu.cfs_quota_us").write_text("-1\n")
    (folder / "cpu.cfs_period_us").write_text("100000\n")

    # When / Then there is no quota
    assert cgroup_cpu_quota(tmp_path) is None


def test_no_cgroup_files_means_no_quota(tmp_path: Path) -> None:
    # Given no cgroup files at all
    # When / Then there is no quota
    assert cgroup_cpu_quota(tmp_path) is None


@pytest.mark.parametrize(("memory_mb", "vcpu", "visible"), [
    (128, 0.072, 2), (1769, 1.0, 2), (3008, 1.7, 2), (3538, 2.0, 3), (7076, 4.0, 4), (10240, 5.789, 6),
])
def test_lambda_credits_cpu_by_memory(memory_mb: int, vcpu: float, visible: int) -> None:
    # Given a configured memory size
    # When / Then the credited vCPU is memory / 1769 and the visible cores follow the measured table
    assert credited_vcpu(memory_mb) == pytest.approx(vcpu, abs=0.001)
    assert visible_cores_at(memory_mb) == visible


def test_usable_cpus_is_the_tightest_limit() -> None:
    # Given 2 visible cores at 1024 MB (0.58 vCPU) and no quota
    # When / Then the credited share is what can be used
    assert usable_cpus(visible=2, quota=None, credited=credited_vcpu(1024)) == pytest.approx(0.579)
    # and outside Lambda the cores and the quota decide
    assert usable_cpus(visible=4, quota=1.5, credited=None) == 1.5
    assert usable_cpus(visible=2, quota=None, credited=None) == 2.0


@pytest.mark.parametrize("behaviour", ["returns None", "raises"])
def test_cpu_frequency_may_be_unknown(monkeypatch: pytest.MonkeyPatch, behaviour: str) -> None:
    # Given a psutil that knows no frequency, as on VMs and arm64
    def no_frequency() -> None:
        if behaviour == "raises":
            raise NotImplementedError("no cpufreq")

    monkeypatch.setattr(psutil, "cpu_freq", no_frequency)

    # When / Then the report says null instead of failing
    assert cpu_frequency() is None


def test_the_report_reads_lambda_memory_and_dev_shm(tmp_path: Path) -> None:
    # Given a 1024 MB function, a cgroup root without limits, and no /dev/shm
    # When the environment is collected
    report = collect_environment(lambda_memory_mb=1024, start_method="spawn", cgroup_root=tmp_path,
                                 dev_shm=tmp_path / "shm")

    # Then it shows Lambda's credit, the missing /dev/shm, and the chosen start method
    assert report.lambda_memory_mb == 1024
    assert report.credited_vcpu == pytest.approx(0.579)
    assert report.usable_cpus == pytest.approx(0.579)
    assert report.lambda_visible_cores_at_memory == 2
    assert report.dev_shm_exists is False
    assert report.start_method == "spawn"
    assert report.cgroup_cpu_quota is None
    assert report.logical_cores == psutil.cpu_count()


def test_semaphore_probe_reports_the_os_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a machine where sem_open fails as it does in Lambda
    class NoSemaphores:
        def Lock(self) -> None:
            raise OSError(38, "Function not implemented")

    monkeypatch.setattr(cpu_environment.multiprocessing, "get_context", lambda method=None: NoSemaphores())

    # When / Then the probe says why
    assert cpu_environment.posix_semaphore_error() == "OSError: [Errno 38] Function not implemented"
