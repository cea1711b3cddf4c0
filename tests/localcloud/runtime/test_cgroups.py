"""Where the cgroup controllers are (v1, v2, or the hybrid of both), and what happens when none is usable.

Read from /proc/self/mountinfo and /proc/self/cgroup as the kernel writes them (man 7 cgroups); the
texts below are those of the three layouts, with a v2 group's cgroup.controllers in a temporary folder.
"""

from __future__ import annotations

from pathlib import Path

from localcloud.deploy.deployed_stack import DeployedFunction
from localcloud.runtime.cgroups import Controller, find_controllers, parse_cpu_list
from localcloud.runtime.resource_limits import SandboxLimits, cgroups_unavailable_reason, cpu_quota_us

HYBRID_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
HYBRID_PROC_CGROUP = """\
4:memory:/process_api/8540
3:cpuset:/
1:cpu:/
0::/
"""


def function(memory_mb: int) -> DeployedFunction:
    return DeployedFunction(logical_id="Probe", name="probe", handler="app.handler",
                            arn="arn:aws:lambda:us-east-1:123456789012:function:probe", code_dir=Path("."),
                            timeout_s=3, memory_mb=memory_mb)


def test_cgroup_v1_controllers_are_found_in_their_own_hierarchies_beside_an_empty_unified_one() -> None:
    # When the hybrid layout is read (v1 controllers, a v2 tree with none of them)
    controllers = find_controllers(HYBRID_MOUNTINFO, HYBRID_PROC_CGROUP)

    # Then each controller is v1, its sandboxes go below this process's own group in that hierarchy
    assert controllers == {
        "memory": Controller("memory", 1, Path("/sys/fs/cgroup/memory/process_api/8540")),
        "cpu": Controller("cpu", 1, Path("/sys/fs/cgroup/cpu")),
        "cpuset": Controller("cpuset", 1, Path("/sys/fs/cgroup/cpuset")),
    }


def test_cgroup_v2_controllers_are_those_of_this_processs_group(tmp_path: Path) -> None:
    # Given the unified hierarchy only, this process in user.slice/app.scope with memory and cpu available
    group = tmp_path / "user.slice" / "app.scope"
    group.mkdir(parents=True)
    (group / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    mountinfo = f"25 23 0:22 / {tmp_path} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"

    # When the controllers are found
    controllers = find_controllers(mountinfo, "0::/user.slice/app.scope\n")

    # Then all three are v2, in that group
    assert controllers == {name: Controller(name, 2, group) for name in ("memory", "cpu", "cpuset")}


def test_a_v2_group_without_delegated_controllers_offers_none(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("\n")
    assert find_controllers(f"25 23 0:22 / {tmp_path} rw - cgroup2 cgroup2 rw\n", "0::/\n") == {}


def test_without_cgroups_one_warning_names_what_is_not_enforced_and_status_shows_it() -> None:
    # Given a machine with no usable cgroup controller, memory and CPU limits asked for
    limits = SandboxLimits(memory=True, cpu="all", function_ids=["Probe"], controllers={})

    # When the invoker's warnings and status are read
    warnings = limits.warnings({"Probe": function(512)})
    status = limits.status({"Probe": function(512)})

    # Then each limit not enforced is said, with why; none is planned; the check names the controllers
    assert warnings == [
        "memory limits NOT enforced (functions may use more than their MemorySize and are never killed for it): "
        "memory cgroup: no such cgroup controller is mounted",
        "CPU limits NOT enforced (functions get this machine's whole CPU): cpu cgroup: no such cgroup controller "
        "is mounted; cpuset cgroup: no such cgroup controller is mounted",
    ]
    assert status["Probe"]["memory"].startswith("NOT enforced: memory cgroup")
    assert status["Probe"]["cpu"].startswith("NOT enforced: cpu cgroup")
    assert limits.group_for(function(512)) is None
    assert "memory cgroup: no such cgroup controller is mounted" in (cgroups_unavailable_reason({}) or "")


def test_limits_not_asked_for_are_not_warned_about() -> None:
    limits = SandboxLimits(memory=False, cpu="off", function_ids=["Probe"], controllers={})
    assert limits.warnings({"Probe": function(512)}) == []
    assert limits.status({"Probe": function(512)})["Probe"] == {
        "memory": "not limited (--memory-limits off)", "cpu": "not limited (--cpu-limits)"}


def test_the_cfs_quota_is_memory_over_1769_of_the_period() -> None:
    # 1,769 MB is one vCPU: the whole 100 ms period; 128 MB gets 7.24 ms of it; 10,240 MB 5.79 periods
    assert cpu_quota_us(1769) == 100_000
    assert cpu_quota_us(128) == 7_236
    assert cpu_quota_us(10_240) == 578_859


def test_kernel_cpu_lists_are_read_as_cpu_numbers() -> None:
    assert parse_cpu_list("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11]
