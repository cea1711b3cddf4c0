"""Run a command the way AWS Lambda runs code: with no usable /dev/shm.

Lambda has no /dev/shm, so POSIX semaphores (sem_open) fail and with them multiprocessing.Pool, Queue,
Lock, Manager and ProcessPoolExecutor. To reproduce that here, the command runs in a private mount
namespace (unshare --mount, root only) where /dev is replaced:

- ``missing`` (default, closest to Lambda): a fresh tmpfs /dev holding only null, zero, full, random,
  urandom, tty and the fd links, so /dev/shm does not exist. glibc then fails sem_open with ENOENT;
  Lambda's sandbox reports ENOSYS (38); either way multiprocessing raises OSError.
- ``readonly``: a read-only, tiny tmpfs mounted over /dev/shm; sem_open fails with EROFS (30).

Nothing changes outside the namespace: the mounts vanish with the command.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Literal

ShmMode = Literal["missing", "readonly"]

# The host /dev is bind-mounted to a temporary directory long enough to bind the few device nodes a
# Python process needs into the new /dev, then detached; "$@" is the command, unquoted by nobody.
_HIDE_DEV_SHM: dict[ShmMode, str] = {
    "missing": """
set -e
host_dev=$(mktemp -d)
trap 'rmdir "$host_dev"' EXIT
mount --rbind /dev "$host_dev"
mount -t tmpfs -o mode=755,size=64k tmpfs /dev
for node in null zero full random urandom tty; do
    touch "/dev/$node"
    mount --bind "$host_dev/$node" "/dev/$node"
done
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
umount -l "$host_dev"
"$@"
""",
    "readonly": """
set -e
mount -t tmpfs -o ro,size=4k tmpfs /dev/shm
"$@"
""",
}


def run_without_dev_shm(
    argv: Sequence[str],
    *,
    mode: ShmMode = "missing",
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout_s: float = 180,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with /dev/shm hidden; raises RuntimeError if no namespace can be made here."""
    reason = why_no_dev_shm_namespace()
    if reason is not None:
        raise RuntimeError(reason)
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", _HIDE_DEV_SHM[mode], "sh", *argv]
    return subprocess.run(
        command,
        env=None if env is None else dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@cache
def why_no_dev_shm_namespace() -> str | None:
    """None when run_without_dev_shm works here, else why not (for pytest.skip)."""
    if not sys.platform.startswith("linux"):
        return f"mount namespaces are Linux-only (platform {sys.platform})"
    missing = [tool for tool in ("unshare", "mount", "sh") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not installed"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", _HIDE_DEV_SHM["missing"], "sh",
         "test", "!", "-e", "/dev/shm"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        return (f"cannot hide /dev/shm in a private mount namespace (needs root or CAP_SYS_ADMIN): "
                f"exit {probe.returncode}: {probe.stderr.strip()}")
    return None
