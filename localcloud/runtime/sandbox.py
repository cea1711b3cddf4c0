"""The file system a function's worker sees, as a Lambda execution environment has it.

Lambda runs a function with:
- no /dev/shm: POSIX semaphores fail, and with them multiprocessing.Pool, Queue, Lock, Manager and
  ProcessPoolExecutor (multiprocessing.Process with Pipe works);
- its code (/var/task, LAMBDA_TASK_ROOT) and its layers (/opt) read-only: a write there fails with
  EROFS (OSError 30, "Read-only file system");
- /tmp writable and private, bounded by the function's EphemeralStorage (512 MB unless set): a write
  past it fails with ENOSPC.

Each worker runs in a private mount namespace (`unshare --mount`, root or CAP_SYS_ADMIN) that makes
it so: /dev becomes a fresh tmpfs holding only the device nodes a Python process needs (unless
/dev/shm is asked back: `localcloud up --dev-shm`), /tmp a tmpfs of EphemeralStorage's size, and the
code folder and every layer folder read-only bind mounts of themselves. Nothing changes outside the
namespace: the same folders stay writable for everyone else. Where no such namespace can be made
(no root, not Linux), workers run on the host's file system and one warning says what is not enforced.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from localcloud.deploy.deployed_stack import DeployedFunction
from localcloud.runtime.dev_shm import HIDE_DEV_SHM_STEPS

logger = logging.getLogger("localcloud.invokers")

# What a namespace cannot give a worker where none can be made; named in the one warning.
NOT_ENFORCED = ("no /dev/shm", "a read-only code directory and layers", "a private /tmp bounded by EphemeralStorage")

# Positional parameters: $1 hide /dev/shm (1/0), $2 /tmp size in MB, $3 the working directory,
# $4 how many read-only folders follow, then those folders, then the command.
# - /dev/shm goes as localcloud.runtime.dev_shm takes it away (a fresh /dev of the few device nodes).
# - The shell stands in the host /tmp (cd) while a tmpfs covers it, so a folder that lives under the
#   host /tmp (a template in a temporary directory) is still reachable by a relative path and bound
#   into the new /tmp (--no-canonicalize: mount must not resolve that path through the new /tmp).
# - The working directory is entered again at the end: the one inherited from Popen is the writable
#   folder under the read-only bind. The shell's own PWD and OLDPWD are not the function's variables.
# - The command then replaces the shell (exec), so signals and exit statuses are the command's own.
_SANDBOX_SCRIPT = f"""
set -e
hide_dev_shm=$1 tmp_mb=$2 workdir=$3 count=$4
shift 4
if [ "$hide_dev_shm" = 1 ]; then
{HIDE_DEV_SHM_STEPS}fi
cd /tmp
mount -t tmpfs -o "mode=1777,size=${{tmp_mb}}m" tmpfs /tmp
while [ "$count" -gt 0 ]; do
    folder=$1
    shift
    count=$((count - 1))
    case "$folder" in
        /tmp/*)
            mkdir -p "$folder"
            mount --no-canonicalize --bind "./${{folder#/tmp/}}" "$folder" ;;
        *)
            mount --bind "$folder" "$folder" ;;
    esac
    mount -o remount,bind,ro "$folder"
done
cd "$workdir"
unset OLDPWD PWD
exec "$@"
"""


@dataclass(frozen=True)
class Sandbox:
    """How workers are started: in a mount namespace (``isolated``), and with /dev/shm or without."""

    isolated: bool
    dev_shm: bool = False

    def wrap(self, argv: Sequence[str], function: DeployedFunction) -> list[str]:
        """``argv`` as it runs in the function's sandbox (unchanged when the sandbox is not isolated)."""
        if not self.isolated:
            return list(argv)
        if function.code_dir is None:
            raise ValueError(f"{function.logical_id} has no local code folder")
        read_only: list[Path | str] = [function.code_dir, *function.layer_dirs, *_interpreter_folders_under_tmp()]
        folders = list(dict.fromkeys(str(Path(folder).resolve()) for folder in read_only))
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", _SANDBOX_SCRIPT, "sh",
                "0" if self.dev_shm else "1", str(function.ephemeral_storage_mb), str(function.code_dir),
                str(len(folders)), *folders, *argv]


def _interpreter_folders_under_tmp() -> list[str]:
    """The interpreter's own folders when they live under /tmp (a virtualenv there): the new /tmp covers
    them, so they are bound into it (read-only, as Lambda's /var/lang is)."""
    prefixes = dict.fromkeys(str(Path(prefix).resolve()) for prefix in (sys.prefix, sys.base_prefix))
    return [prefix for prefix in prefixes if prefix.startswith("/tmp/")]


def choose_sandbox(*, dev_shm: bool) -> Sandbox:
    """The sandbox this machine allows: isolated where a mount namespace can be made, else one warning
    naming what is not enforced (never a silent difference)."""
    reason = sandbox_unavailable_reason()
    if reason is None:
        return Sandbox(isolated=True, dev_shm=dev_shm)
    not_enforced = [item for item in NOT_ENFORCED if not (dev_shm and item == "no /dev/shm")]
    logger.warning("functions run without Lambda's sandbox (%s): not enforced: %s", reason, "; ".join(not_enforced))
    return Sandbox(isolated=False, dev_shm=True)


@cache
def sandbox_unavailable_reason() -> str | None:
    """None when this machine can start workers in the sandbox, else why not."""
    if not sys.platform.startswith("linux"):
        return f"mount namespaces are Linux-only (platform {sys.platform})"
    missing = [tool for tool in ("unshare", "mount", "sh") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not installed"
    with tempfile.TemporaryDirectory(prefix="localcloud-sandbox-probe-") as folder:
        probe_function = DeployedFunction(logical_id="SandboxProbe", name="sandbox-probe", arn="", handler="",
                                          code_dir=Path(folder), timeout_s=1, memory_mb=128)
        check = f'test ! -e /dev/shm && ! touch {folder}/written 2>/dev/null && touch /tmp/written'
        probe = subprocess.run(Sandbox(isolated=True).wrap(["sh", "-c", check], probe_function),
                               capture_output=True, text=True, timeout=30, check=False, cwd=folder)
    if probe.returncode != 0:
        return (f"cannot make a private mount namespace (needs root or CAP_SYS_ADMIN): "
                f"exit {probe.returncode}: {probe.stderr.strip() or 'the probe saw the host file system'}")
    return None

