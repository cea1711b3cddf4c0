"""Lambda's file system in the local sandbox: no /dev/shm, a read-only code folder and layers, and a
private /tmp bounded by EphemeralStorage (localcloud.runtime.sandbox, worker_main)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from localcloud.runtime.sandbox import sandbox_unavailable_reason
from tests.localcloud.runtime.function_pools import COMMON_LAYER, FUNCTIONS, PoolFactory
from tests.support.requirements import require_facility

pytestmark = pytest.mark.localcloud


@pytest.fixture
def sandboxed(function_pool: PoolFactory) -> PoolFactory:
    """function_pool, on a machine that can make the sandbox."""
    require_facility(sandbox_unavailable_reason())
    return function_pool


def test_no_dev_shm_multiprocessing_pool_fails_with_errno_38_and_parallel_map_works(
    sandboxed: PoolFactory,
) -> None:
    """Lambda has no /dev/shm: multiprocessing.Pool fails with "OSError: [Errno 38] Function not
    implemented", Process + Pipe works. https://aws.amazon.com/blogs/compute/parallel-processing-in-python-with-aws-lambda/
    and https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html"""
    # Given a function in the default sandbox
    pool = sandboxed("sandbox_probe", layer_dirs=(COMMON_LAYER,))

    # When it starts a multiprocessing.Pool and a parallel_map
    result = pool.invoke({"layer_dir": str(COMMON_LAYER)})

    # Then /dev/shm is gone, the Pool fails as in Lambda, and parallel_map (Process + Pipe) computes
    assert result.error is None, result.error
    assert result.payload["dev_shm_exists"] is False
    assert result.payload["pool"] == {"errno": errno.ENOSYS, "message": "[Errno 38] Function not implemented"}
    assert result.payload["parallel_map"] == {"ok": [0, 1, 4, 9]}


def test_dev_shm_comes_back_only_when_asked(sandboxed: PoolFactory) -> None:
    """`localcloud up --dev-shm`: the host's /dev/shm for code that must run locally with a Pool
    (Lambda itself never has one: https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html)."""
    # Given a function whose sandbox keeps /dev/shm
    pool = sandboxed("sandbox_probe", layer_dirs=(COMMON_LAYER,), dev_shm=True)

    # When it starts a multiprocessing.Pool
    result = pool.invoke({"layer_dir": str(COMMON_LAYER)})

    # Then the Pool works, and the rest of the sandbox stays (the code folder is still read-only)
    assert result.error is None, result.error
    assert result.payload["dev_shm_exists"] is True
    assert result.payload["pool"] == {"ok": [0, 1, 4, 9]}
    assert result.payload["write_code_dir"]["errno"] == errno.EROFS


def test_the_code_directory_and_layers_are_read_only_erofs(sandboxed: PoolFactory) -> None:
    """LAMBDA_TASK_ROOT (/var/task) and the layers (/opt) are read-only; only /tmp is writable:
    "OSError: [Errno 30] Read-only file system". https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html
    and https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html"""
    # Given a function with a layer, in the default sandbox
    pool = sandboxed("sandbox_probe", layer_dirs=(COMMON_LAYER,))

    # When it writes into its code folder (by its absolute path and relative to its working directory),
    # its layer and /tmp
    result = pool.invoke({"layer_dir": str(COMMON_LAYER)})

    # Then the code folder and the layer refuse with EROFS as on Lambda, /tmp takes the write
    assert result.error is None, result.error
    written = FUNCTIONS / "sandbox_probe" / "written.txt"
    read_only = {"errno": errno.EROFS, "message": f"[Errno 30] Read-only file system: '{written}'"}
    assert result.payload["write_code_dir"] == read_only
    assert result.payload["write_relative"]["errno"] == errno.EROFS
    assert result.payload["write_layer"]["errno"] == errno.EROFS
    assert result.payload["write_tmp"] == {"ok": "written"}
    # And only inside the sandbox: the folder is the developer's, writable outside it
    assert os.access(FUNCTIONS / "sandbox_probe", os.W_OK)


def test_tmp_is_private_and_bounded_by_ephemeral_storage_enospc(sandboxed: PoolFactory) -> None:
    """/tmp holds EphemeralStorage (512 MB to 10,240 MB, default 512 MB); a write past it fails with
    ENOSPC. https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html"""
    # Given a function with the default EphemeralStorage (512 MB)
    pool = sandboxed("sandbox_probe", layer_dirs=(COMMON_LAYER,))
    assert pool.function.ephemeral_storage_mb == 512

    # When it writes 500 MB to /tmp, then 513 MB
    within = pool.invoke({"layer_dir": str(COMMON_LAYER), "fill_tmp_mb": 500})
    past = pool.invoke({"layer_dir": str(COMMON_LAYER), "fill_tmp_mb": 513})

    # Then /tmp is 512 MB: the first write fits, the second fails with "No space left on device"
    assert within.error is None and past.error is None, (within.error, past.error)
    assert within.payload["tmp_size_mb"] == 512
    assert within.payload["fill_tmp"] == {"ok": 500}
    assert past.payload["fill_tmp"]["errno"] == errno.ENOSPC
    # And the host's /tmp never saw the function's file
    assert not Path("/tmp/written.txt").exists()


def test_ephemeral_storage_sets_the_size_of_tmp(sandboxed: PoolFactory) -> None:
    """EphemeralStorage.Size is the size of /tmp. https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html"""
    # Given a function with 1,024 MB of ephemeral storage
    pool = sandboxed("sandbox_probe", layer_dirs=(COMMON_LAYER,), ephemeral_storage_mb=1024)

    # When it looks at /tmp, Then /tmp is that size
    result = pool.invoke({"layer_dir": str(COMMON_LAYER)})
    assert result.error is None, result.error
    assert result.payload["tmp_size_mb"] == 1024


def test_where_no_mount_namespace_can_be_made_one_warning_names_what_is_not_enforced(tmp_path: Path) -> None:
    """Never a silent difference from Lambda: without root the sandbox cannot be made, and the local
    cloud says which of Lambda's rules it does not enforce (issue 13)."""
    require_facility(None if shutil.which("setpriv") else "setpriv (util-linux) is not installed")
    # Given a process without root (user nobody), which cannot make a mount namespace
    script = ("import logging; logging.basicConfig(format='%(levelname)s %(message)s');"
              "from localcloud.runtime.sandbox import choose_sandbox; print(choose_sandbox(dev_shm=False))")

    # When it chooses the workers' sandbox
    completed = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
                                "-c", script], capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path)

    # Then the workers run on the host's file system, and one warning names every rule not enforced
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "Sandbox(isolated=False, dev_shm=True, tmp_filesystem='host')"
    warnings = [line for line in completed.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1, completed.stderr
    for rule in ("no /dev/shm", "a read-only code directory and layers", "a private /tmp bounded by EphemeralStorage"):
        assert rule in warnings[0]


def test_tmp_is_a_block_volume_where_a_loop_device_can_be_had_else_a_tmpfs_and_one_warning(tmp_path: Path) -> None:
    """Lambda's /tmp is a block volume: what a function writes there is not memory. A tmpfs /tmp would
    be charged to the worker's memory limit, so the sandbox mounts an ext4 loop image and says so
    when it cannot (no mkfs.ext4 or loop device). https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html"""
    require_facility(sandbox_unavailable_reason())
    script = ("import logging; logging.basicConfig(format='%(levelname)s %(message)s');"
              "from localcloud.runtime.sandbox import choose_sandbox; print(choose_sandbox(dev_shm=False))")

    # When the sandbox is chosen on this machine, and again with mkfs.ext4 out of reach (PATH without sbin)
    with_loop = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                               check=False, cwd=tmp_path)
    without_mkfs = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                                  check=False, cwd=tmp_path, env={**os.environ, "PATH": "/usr/bin:/bin"})

    # Then /tmp is ext4 here with no warning, and a tmpfs without mkfs.ext4, with one warning saying
    # that /tmp then counts against memory
    assert with_loop.stdout.strip() == "Sandbox(isolated=True, dev_shm=False, tmp_filesystem='ext4')", with_loop.stderr
    assert "WARNING" not in with_loop.stderr
    assert without_mkfs.stdout.strip() == "Sandbox(isolated=True, dev_shm=False, tmp_filesystem='tmpfs')"
    warnings = [line for line in without_mkfs.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "counts against its memory" in warnings[0], without_mkfs.stderr
