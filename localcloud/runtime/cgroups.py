"""Linux control groups for the sandboxes: where the memory, cpu and cpuset controllers are, and one group per worker.

Either hierarchy is used, per controller, as the machine mounts it:
- cgroup v1: one hierarchy per controller (``/sys/fs/cgroup/memory``, ``cpu``, ``cpuset``); a
  controller mounted there is used there, even when a cgroup v2 tree is mounted beside it (the hybrid
  layout), since a controller is active in one hierarchy only;
- cgroup v2 (the unified hierarchy): the controllers listed in this process's group's
  ``cgroup.controllers``, usable for child groups once its ``cgroup.subtree_control`` enables them
  (a delegated group, e.g. a systemd unit with Delegate=yes).

Sandbox groups are created below this process's own group in each hierarchy (never above it: the
machine's own limits on this process keep holding its sandboxes), as
``<own group>/localcloud-<pid>-<n>/<function>-<n>``. The group of the local cloud's process is written to
``<state dir>/cgroups.json`` so that `localcloud down` can remove what a killed `up` left behind.

A worker joins its group before its interpreter starts: its command is prefixed with a shell that
writes its own pid into each group's ``cgroup.procs`` and then execs the command (as cgexec does), so
everything the function allocates or forks is counted from the start.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

logger = logging.getLogger("localcloud.invokers")

CONTROLLERS = ("memory", "cpu", "cpuset")
CgroupVersion = Literal[1, 2]
CFS_PERIOD_US = 100_000  # the kernel's default CFS period
MIN_CFS_QUOTA_US = 1_000  # the smallest quota the kernel accepts
CGROUPS_FILE = "cgroups.json"
RELEASE_TIMEOUT_S = 5.0

# Writes its pid into every cgroup.procs named before "--", then becomes the command after it.
_JOIN_AND_EXEC = ('while [ "$1" != -- ]; do echo $$ > "$1" || { echo "cannot join cgroup $1" >&2; exit 125; }; '
                  'shift; done; shift; unset OLDPWD PWD; exec "$@"')  # the shell's PWD is not the function's


class CgroupError(OSError):
    """A group could not be created or configured."""


@dataclass(frozen=True)
class Controller:
    """Where one controller can make sandbox groups for this process: its hierarchy and this process's group."""

    name: str
    version: CgroupVersion
    own_group: Path


@dataclass(frozen=True)
class MountedHierarchy:
    version: CgroupVersion
    root: str  # the hierarchy path mounted (mountinfo's root field)
    mount_point: Path
    controllers: frozenset[str]  # v1: its controllers; v2: empty (read from cgroup.controllers)


def parse_mountinfo(text: str) -> list[MountedHierarchy]:
    """The cgroup hierarchies of /proc/self/mountinfo (v1 ``cgroup`` and v2 ``cgroup2`` mounts)."""
    hierarchies = []
    for line in text.splitlines():
        before, separator, after = line.partition(" - ")
        if not separator:
            continue
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        if tail[0] == "cgroup":
            options = frozenset(tail[2].split(",")) & frozenset(CONTROLLERS)
            hierarchies.append(MountedHierarchy(1, fields[3], Path(_unescape(fields[4])), options))
        elif tail[0] == "cgroup2":
            hierarchies.append(MountedHierarchy(2, fields[3], Path(_unescape(fields[4])), frozenset()))
    return hierarchies


def _unescape(path: str) -> str:
    # mountinfo escapes spaces, tabs, newlines and backslashes as octal.
    return path.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def parse_proc_cgroup(text: str) -> tuple[dict[str, str], str | None]:
    """/proc/<pid>/cgroup: each v1 controller's group path, and the v2 group path (or None)."""
    v1: dict[str, str] = {}
    v2: str | None = None
    for line in text.splitlines():
        hierarchy_id, _, rest = line.partition(":")
        names, _, path = rest.partition(":")
        if hierarchy_id == "0" and names == "":
            v2 = path
        for name in names.split(","):
            if name in CONTROLLERS:
                v1[name] = path
    return v1, v2


def _group_dir(hierarchy: MountedHierarchy, group_path: str) -> Path | None:
    """The directory of a group path inside a mounted hierarchy, or None when the mount does not show it."""
    root = hierarchy.root.rstrip("/")
    if root and not (group_path == root or group_path.startswith(root + "/")):
        return None
    return hierarchy.mount_point / group_path[len(root):].lstrip("/")


def find_controllers(mountinfo: str, proc_cgroup: str) -> dict[str, Controller]:
    """Where each of memory, cpu and cpuset is, for the process these two files describe."""
    hierarchies = parse_mountinfo(mountinfo)
    v1_paths, v2_path = parse_proc_cgroup(proc_cgroup)
    found: dict[str, Controller] = {}
    for hierarchy in hierarchies:
        if hierarchy.version != 1:
            continue
        for name in hierarchy.controllers:
            group = _group_dir(hierarchy, v1_paths.get(name, "/"))
            if group is not None and name not in found:
                found[name] = Controller(name, 1, group)
    unified = next((h for h in hierarchies if h.version == 2), None)
    if unified is not None and v2_path is not None:
        group = _group_dir(unified, v2_path)
        available = _read(group / "cgroup.controllers").split() if group is not None else []
        for name in CONTROLLERS:
            if name in available and name not in found and group is not None:
                found[name] = Controller(name, 2, group)
    return found


def detect_controllers() -> dict[str, Controller]:
    """This process's controllers (empty off Linux or without cgroups)."""
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text()
        proc_cgroup = Path("/proc/self/cgroup").read_text()
    except OSError:
        return {}
    return find_controllers(mountinfo, proc_cgroup)


def controller_unusable_reason(controller: Controller) -> str | None:
    """None when sandbox groups can be made under ``controller.own_group``, else why not."""
    if os.geteuid() != 0 and not os.access(controller.own_group, os.W_OK):
        return f"{controller.own_group} is not writable (needs root, or a cgroup delegated to this user)"
    if not os.access(controller.own_group, os.W_OK):
        return f"{controller.own_group} is not writable (mounted read-only?)"
    if controller.version == 2:
        return _v2_delegation_problem(controller)
    return None


def _v2_delegation_problem(controller: Controller) -> str | None:
    subtree = controller.own_group / "cgroup.subtree_control"
    if controller.name in _read(subtree).split():
        return None
    try:
        _write(subtree, f"+{controller.name}")
    except OSError as error:
        # The "no internal processes" rule: a group holding processes cannot enable controllers for children.
        return (f"cgroup v2: cannot enable {controller.name} in {subtree} ({error.strerror}); run the local "
                f"cloud in a delegated group (e.g. systemd-run --scope -p Delegate=yes)")
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


@dataclass(frozen=True)
class GroupSettings:
    """What one sandbox's group enforces; None: that controller is left alone."""

    memory_bytes: int | None = None
    cpu_quota_us: int | None = None
    cpus: tuple[int, ...] | None = None


class SandboxGroup:
    """One worker's group in every hierarchy it needs: joined before the worker starts, removed after it ends."""

    def __init__(self, directories: dict[str, tuple[CgroupVersion, Path]]) -> None:
        self.directories = directories
        self._released = False

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """``argv`` prefixed so that its process joins this group before it runs."""
        procs = sorted({str(path / "cgroup.procs") for _, path in self.directories.values()})
        return ["sh", "-c", _JOIN_AND_EXEC, "sh", *procs, "--", *argv]

    @property
    def memory_peak_file(self) -> Path | None:
        """The file holding the group's peak memory use (v1 memory.max_usage_in_bytes, v2 memory.peak)."""
        if "memory" not in self.directories:
            return None
        version, path = self.directories["memory"]
        return path / ("memory.max_usage_in_bytes" if version == 1 else "memory.peak")

    def peak_memory_mb(self) -> int | None:
        peak_file = self.memory_peak_file
        text = _read(peak_file) if peak_file is not None else ""
        return int(text) // (1024 * 1024) if text.isdigit() else None

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of this group for passing its memory limit."""
        if "memory" not in self.directories:
            return False
        version, path = self.directories["memory"]
        text = _read(path / ("memory.oom_control" if version == 1 else "memory.events"))
        counts = dict(line.split()[:2] for line in text.splitlines() if len(line.split()) >= 2)
        return counts.get("oom_kill", "0") != "0"

    def release(self) -> None:
        """Kill whatever is left in the group (a child that left the worker's process group) and remove it."""
        if self._released:
            return
        self._released = True
        for _, path in self.directories.values():
            remove_group(path)


def remove_group(path: Path, timeout_s: float = RELEASE_TIMEOUT_S) -> None:
    """Remove a group (its children first), killing the processes still in it; logged, never raised."""
    if not path.is_dir():
        return
    for child in sorted((entry for entry in path.iterdir() if entry.is_dir()), reverse=True):
        remove_group(child, timeout_s)
    deadline = time.monotonic() + timeout_s
    while True:
        for pid in _pids(path):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as error:
            if error.errno != errno.EBUSY or time.monotonic() > deadline:
                logger.warning("could not remove cgroup %s: %s", path, error)
                return
        time.sleep(0.02)  # killed processes leave the group when they are reaped


def _pids(path: Path) -> list[int]:
    return [int(pid) for pid in _read(path / "cgroup.procs").split()]


_TREES = itertools.count(1)


class CgroupTree:
    """One invoker's groups: ``localcloud-<pid>-<n>`` under this process's group of each controller (n: one
    tree per invoker, so that two clouds in one process, as in the tests, never remove each other's)."""

    def __init__(self, controllers: dict[str, Controller]) -> None:
        self.controllers = controllers
        self.name = f"localcloud-{os.getpid()}-{next(_TREES)}"
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._roots: dict[str, Path] = {}

    def root(self, name: str) -> Path:
        """The local cloud's own group in ``name``'s hierarchy, created on first use."""
        with self._lock:
            if name not in self._roots:
                controller = self.controllers[name]
                root = controller.own_group / self.name
                root.mkdir(exist_ok=True)
                if controller.version == 1 and name == "cpuset":
                    _inherit_cpuset(controller.own_group, root)
                if controller.version == 2:
                    _write(root / "cgroup.subtree_control", " ".join(f"+{n}" for n in sorted(self.controllers)
                                                                     if self.controllers[n].version == 2))
                self._roots[name] = root
            return self._roots[name]

    @property
    def roots(self) -> list[Path]:
        with self._lock:
            return sorted(set(self._roots.values()))

    def create(self, label: str, settings: GroupSettings) -> SandboxGroup:
        """A new group for one sandbox, configured with ``settings`` (CgroupError when the kernel refuses)."""
        name = f"{label}-{next(self._numbers)}"
        directories: dict[str, tuple[CgroupVersion, Path]] = {}
        wanted = [c for c, value in (("memory", settings.memory_bytes), ("cpu", settings.cpu_quota_us),
                                     ("cpuset", settings.cpus)) if value is not None]
        group = SandboxGroup(directories)
        try:
            for controller_name in wanted:
                controller = self.controllers[controller_name]
                path = self.root(controller_name) / name
                path.mkdir(exist_ok=True)
                directories[controller_name] = (controller.version, path)
                _configure(controller, path, settings)
        except OSError as error:
            group.release()
            raise CgroupError(error.errno, f"cgroup {name}: {error}") from error
        return group

    def release_all(self) -> None:
        for root in self.roots:
            remove_group(root)
        with self._lock:
            self._roots.clear()


def _inherit_cpuset(parent: Path, child: Path) -> None:
    # cgroup v1 cpuset: a group takes no process until its cpus and mems are set.
    for key in ("cpuset.cpus", "cpuset.mems"):
        if not _read(child / key):
            _write(child / key, _read(parent / key))


def _configure(controller: Controller, path: Path, settings: GroupSettings) -> None:
    if controller.name == "memory" and settings.memory_bytes is not None:
        _configure_memory(controller.version, path, settings.memory_bytes)
    elif controller.name == "cpu" and settings.cpu_quota_us is not None:
        if controller.version == 1:
            _write(path / "cpu.cfs_period_us", str(CFS_PERIOD_US))
            _write(path / "cpu.cfs_quota_us", str(settings.cpu_quota_us))
        else:
            _write(path / "cpu.max", f"{settings.cpu_quota_us} {CFS_PERIOD_US}")
    elif controller.name == "cpuset" and settings.cpus is not None:
        cpus = ",".join(str(cpu) for cpu in settings.cpus)
        if controller.version == 1:
            _write(path / "cpuset.mems", _read(path.parent / "cpuset.mems"))
        _write(path / "cpuset.cpus", cpus)


def _configure_memory(version: CgroupVersion, path: Path, limit: int) -> None:
    """A hard limit with no swap: past it the kernel's OOM killer ends the sandbox, as Lambda does."""
    if version == 1:
        _write(path / "memory.limit_in_bytes", str(limit))
        swap_limit = path / "memory.memsw.limit_in_bytes"  # present only with swap accounting
        if swap_limit.exists():
            _write(swap_limit, str(limit))  # memory + swap = memory: no swap
        else:
            _write(path / "memory.swappiness", "0")
        return
    _write(path / "memory.max", str(limit))
    for key, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
        # memory.oom.group: the whole sandbox is killed at once, as Lambda ends the environment.
        if (path / key).exists():
            _write(path / key, value)


def parse_cpu_list(text: str) -> list[int]:
    """A kernel CPU list ("0-3,8") as CPU numbers."""
    cpus: list[int] = []
    for part in text.split(","):
        if not part.strip():
            continue
        first, _, last = part.strip().partition("-")
        cpus += range(int(first), int(last or first) + 1)
    return cpus


def allowed_cpus(controllers: dict[str, Controller]) -> list[int]:
    """The CPUs the sandboxes may be given: the cpuset of this process's group, else its affinity."""
    cpuset = controllers.get("cpuset")
    if cpuset is not None:
        text = _read(cpuset.own_group / ("cpuset.effective_cpus" if cpuset.version == 2 else "cpuset.cpus"))
        if text:
            return parse_cpu_list(text)
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def record_groups(state_dir: Path, roots: Iterable[Path]) -> None:
    """Write where the local cloud's groups are, for `localcloud down` after an `up` that was killed."""
    path = state_dir / CGROUPS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": os.getpid(), "groups": [str(root) for root in roots]}))


def release_recorded_groups(state_dir: Path) -> list[Path]:
    """Remove the groups a local cloud recorded (and the record); the groups that were still there."""
    path = state_dir / CGROUPS_FILE
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    left = [Path(group) for group in recorded.get("groups", []) if Path(group).is_dir()]
    for group in left:
        remove_group(group)
    path.unlink(missing_ok=True)
    return left
