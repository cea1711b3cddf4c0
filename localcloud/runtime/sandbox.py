"""The file system a function's worker sees, as a Lambda execution environment has it.

Lambda runs a function with:
- no /dev/shm: POSIX semaphores fail, and with them multiprocessing.Pool, Queue, Lock, Manager and
  ProcessPoolExecutor (multiprocessing.Process with Pipe works);
- its code (/var/task, LAMBDA_TASK_ROOT) and its layers (/opt) read-only: a write there fails with
  EROFS (OSError 30, "Read-only file system");
- /tmp writable and private, bounded by the function's EphemeralStorage (512 MB unless set): a write
  past it fails with ENOSPC. It is a block volume, not memory: what a function writes there does not
  count against its MemorySize.

Each worker runs in a private mount namespace (`unshare --mount`, root or CAP_SYS_ADMIN) that makes
it so: /dev becomes a fresh tmpfs holding only the device nodes a Python process needs (unless
/dev/shm is asked back: `localcloud up --dev-shm`), /tmp a fresh ext4 file system on a sparse loop
image whose free space is EphemeralStorage (a tmpfs only where no loop device can be had: its pages
would be charged to the worker's memory cgroup, so a function filling /tmp would be killed for memory,
which Lambda never does; the warning says so), and the code folder and every layer folder read-only
bind mounts of themselves. Nothing changes outside the
namespace: the same folders stay writable for everyone else. Where no such namespace can be made
(no root, not Linux), workers run on the host's file system and one warning says what is not enforced.
"""

from __future__ import annotations

import logging
import math
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from localcloud.deploy.deployed_stack import DeployedFunction
from localcloud.runtime.dev_shm import HIDE_DEV_SHM_STEPS

logger = logging.getLogger("localcloud.invokers")

# What a namespace cannot give a worker where none can be made; named in the one warning.
NOT_ENFORCED = ("no /dev/shm", "a read-only code directory and layers", "a private /tmp bounded by EphemeralStorage")
# What /tmp is in a worker: ext4 on a loop image; a tmpfs where no loop device can be had; the host's
# own /tmp where no sandbox can be made.
TmpFilesystem = Literal["ext4", "tmpfs", "host"]
TMP_ON_TMPFS = "/tmp is a tmpfs (no loop device here): what a function writes there counts against its memory"

# ext4 keeps back min(2 % of the blocks, 4,096 clusters of 4 KiB = 16 MiB) for delayed allocation and
# spends 1/256 of the image on inode tables (one 256-byte inode per 64 KiB): the image is sized so that
# the free space a function sees (statvfs f_bavail) is EphemeralStorage.
_EXT4_DELALLOC_SHARE = 0.02
_EXT4_DELALLOC_CAP_MIB = 16
_EXT4_INODE_TABLE_SHARE = 1 / 256

# Positional parameters: $1 hide /dev/shm (1/0), $2 the /tmp file system: the path of mkfs.ext4 (the
# workers' PATH is Lambda's, without sbin) or "tmpfs", $3 its size in KiB, $4 the working directory,
# $5 how many read-only folders follow, then those folders, then the command.
# - /dev/shm goes as localcloud.runtime.dev_shm takes it away (a fresh /dev of the few device nodes).
# - The shell stands in the host /tmp (cd) while the new /tmp covers it, so a folder that lives under the
#   host /tmp (a template in a temporary directory) is still reachable by a relative path and bound
#   into the new /tmp (--no-canonicalize: mount must not resolve that path through the new /tmp).
# - The ext4 image is a sparse file in the host /tmp, deleted as soon as it is mounted: the loop device
#   holds it open, and mount -o loop detaches it (autoclear) when the namespace's last process exits.
#   /tmp is mounted before /dev is replaced: the new /dev has no loop devices.
# - The working directory is entered again at the end: the one inherited from Popen is the writable
#   folder under the read-only bind. The shell's own PWD and OLDPWD are not the function's variables.
# - The command then replaces the shell (exec), so signals and exit statuses are the command's own.
_SANDBOX_SCRIPT = f"""
set -e
hide_dev_shm=$1 mkfs_ext4=$2 tmp_kib=$3 workdir=$4 count=$5
shift 5
cd /tmp
if [ "$mkfs_ext4" != tmpfs ]; then
    image=$(mktemp ./.localcloud-tmp-XXXXXXXX)
    trap 'rm -f "$image"' EXIT
    truncate -s "${{tmp_kib}}K" "$image"
    "$mkfs_ext4" -q -F -m 0 -O ^has_journal,^resize_inode -i 65536 "$image"
    mount -o loop "$image" /tmp
    rm -f "$image"
    rmdir /tmp/lost+found
    chmod 1777 /tmp
else
    mount -t tmpfs -o "mode=1777,size=${{tmp_kib}}k" tmpfs /tmp
fi
if [ "$hide_dev_shm" = 1 ]; then
{HIDE_DEV_SHM_STEPS}fi
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
    tmp_filesystem: TmpFilesystem = "ext4"

    def wrap(self, argv: Sequence[str], function: DeployedFunction) -> list[str]:
        """``argv`` as it runs in the function's sandbox (unchanged when the sandbox is not isolated)."""
        if not self.isolated:
            return list(argv)
        if function.code_dir is None:
            raise ValueError(f"{function.logical_id} has no local code folder")
        read_only: list[Path | str] = [function.code_dir, *function.layer_dirs, *_interpreter_folders_under_tmp()]
        folders = list(dict.fromkeys(str(Path(folder).resolve()) for folder in read_only))
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", _SANDBOX_SCRIPT, "sh",
                "0" if self.dev_shm else "1", self._mkfs_argument(),
                str(self._tmp_size_kib(function.ephemeral_storage_mb)), str(function.code_dir),
                str(len(folders)), *folders, *argv]

    def _mkfs_argument(self) -> str:
        return (shutil.which("mkfs.ext4") or "mkfs.ext4") if self.tmp_filesystem == "ext4" else "tmpfs"

    def _tmp_size_kib(self, ephemeral_storage_mb: int) -> int:
        if self.tmp_filesystem != "ext4":
            return ephemeral_storage_mb * 1024
        return ext4_image_kib(ephemeral_storage_mb)


def ext4_image_kib(free_mib: int) -> int:
    """The size of an ext4 image (made as _SANDBOX_SCRIPT makes it) with ``free_mib`` MiB free."""
    filesystem_mib = free_mib / (1 - _EXT4_DELALLOC_SHARE)  # 2 % kept back, while that is under the cap
    if filesystem_mib * _EXT4_DELALLOC_SHARE >= _EXT4_DELALLOC_CAP_MIB:
        filesystem_mib = free_mib + _EXT4_DELALLOC_CAP_MIB
    return math.ceil(filesystem_mib * 1024 / (1 - _EXT4_INODE_TABLE_SHARE)) + 256


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
        tmp_filesystem = sandbox_tmp_filesystem()
        if tmp_filesystem != "ext4":
            logger.warning("functions run in Lambda's sandbox, but %s (Lambda's /tmp does not)", TMP_ON_TMPFS)
        return Sandbox(isolated=True, dev_shm=dev_shm, tmp_filesystem=tmp_filesystem)
    not_enforced = [item for item in NOT_ENFORCED if not (dev_shm and item == "no /dev/shm")]
    logger.warning("functions run without Lambda's sandbox (%s): not enforced: %s", reason, "; ".join(not_enforced))
    return Sandbox(isolated=False, dev_shm=True, tmp_filesystem="host")


@cache
def sandbox_unavailable_reason() -> str | None:
    """None when this machine can start workers in the sandbox, else why not."""
    if not sys.platform.startswith("linux"):
        return f"mount namespaces are Linux-only (platform {sys.platform})"
    missing = [tool for tool in ("unshare", "mount", "sh") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not installed"
    probe = _probe(Sandbox(isolated=True, tmp_filesystem="tmpfs"))
    if probe.returncode != 0:
        return (f"cannot make a private mount namespace (needs root or CAP_SYS_ADMIN): "
                f"exit {probe.returncode}: {probe.stderr.strip() or 'the probe saw the host file system'}")
    return None


@cache
def sandbox_tmp_filesystem() -> TmpFilesystem:
    """ext4 where a sandbox can mount a loop image (mkfs.ext4 and a loop device), else tmpfs."""
    if shutil.which("mkfs.ext4") is None:
        return "tmpfs"
    return "ext4" if _probe(Sandbox(isolated=True, tmp_filesystem="ext4")).returncode == 0 else "tmpfs"


def _probe(sandbox: Sandbox) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="localcloud-sandbox-probe-") as folder:
        probe_function = DeployedFunction(logical_id="SandboxProbe", name="sandbox-probe", arn="", handler="",
                                          code_dir=Path(folder), timeout_s=1, memory_mb=128)
        check = f'test ! -e /dev/shm && ! touch {folder}/written 2>/dev/null && touch /tmp/written'
        return subprocess.run(sandbox.wrap(["sh", "-c", check], probe_function),
                              capture_output=True, text=True, timeout=30, check=False, cwd=folder)

