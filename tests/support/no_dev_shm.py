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

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from localcloud.runtime.dev_shm import dev_shm_unavailable_reason, without_dev_shm

ShmMode = Literal["missing", "readonly"]

# "missing" is the local cloud's own technique (localcloud.runtime.dev_shm); "readonly" only mounts a tiny
# read-only tmpfs over /dev/shm.
_READONLY_DEV_SHM = """
set -e
mount -t tmpfs -o ro,size=4k tmpfs /dev/shm
"$@"
"""


def _wrapped(argv: Sequence[str], mode: ShmMode) -> list[str]:
    if mode == "missing":
        return without_dev_shm(argv)
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", _READONLY_DEV_SHM, "sh", *argv]


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
    return subprocess.run(
        _wrapped(argv, mode),
        env=None if env is None else dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def why_no_dev_shm_namespace() -> str | None:
    """None when run_without_dev_shm works here, else why not (for pytest.skip)."""
    return dev_shm_unavailable_reason()
