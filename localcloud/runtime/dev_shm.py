"""Start a command without /dev/shm, as Lambda runs functions (tests/support/no_dev_shm.py's technique).

Lambda has no /dev/shm: POSIX semaphores fail, and with them multiprocessing.Pool, Queue, Lock, Manager
and ProcessPoolExecutor (multiprocessing.Process with Pipe works). The command runs in a private mount
namespace (`unshare --mount`, root or CAP_SYS_ADMIN) whose /dev is a fresh tmpfs holding only the
device nodes a Python process needs, so /dev/shm does not exist; nothing changes outside it.

The workers' sandbox (localcloud.runtime.sandbox) hides /dev/shm with the same steps, together with
its read-only code folder and private /tmp; this command prefix hides /dev/shm alone, for commands
that must see the host's /tmp (the CPU benchmark's tests write their results there).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Sequence
from functools import cache

# The host /dev is bind-mounted to a temporary directory just long enough to bind the few device
# nodes into the new /dev, then detached and removed (shell steps, shared with localcloud.runtime.sandbox).
HIDE_DEV_SHM_STEPS = """
host_dev=$(mktemp -d)
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
rmdir "$host_dev"
"""
# The command then replaces the shell (exec), so signals and exit statuses are the command's own.
_HIDE_DEV_SHM = f'set -e\n{HIDE_DEV_SHM_STEPS}exec "$@"\n'


def without_dev_shm(argv: Sequence[str]) -> list[str]:
    """``argv`` wrapped so that it runs with no /dev/shm (check dev_shm_unavailable_reason first)."""
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", _HIDE_DEV_SHM, "sh", *argv]


@cache
def dev_shm_unavailable_reason() -> str | None:
    """None when without_dev_shm works on this machine, else why not."""
    if not sys.platform.startswith("linux"):
        return f"mount namespaces are Linux-only (platform {sys.platform})"
    missing = [tool for tool in ("unshare", "mount", "sh") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not installed"
    probe = subprocess.run(without_dev_shm(["test", "!", "-e", "/dev/shm"]), capture_output=True, text=True,
                           timeout=30, check=False)
    if probe.returncode != 0:
        return (f"cannot hide /dev/shm in a private mount namespace (needs root or CAP_SYS_ADMIN): "
                f"exit {probe.returncode}: {probe.stderr.strip()}")
    return None
