"""Without /dev/shm, as in AWS Lambda: multiprocessing.Pool fails, parallel_map and the benchmark work.

The probe runs in a child process inside a private mount namespace where /dev/shm is gone (or made
read-only); see tests/support/no_dev_shm.py. Skipped only where such a namespace cannot be made.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.no_dev_shm import ShmMode, run_without_dev_shm, why_no_dev_shm_namespace
from tests.support.requirements import require_facility

ROOT = Path(__file__).resolve().parents[3]
PROBE = "tests.unit.cpu_benchmark.no_dev_shm_probe"

# What sem_open fails with when /dev/shm is missing (ENOENT here, ENOSYS in Lambda), not writable
# (EROFS) or not permitted (EACCES).
SEMAPHORE_ERRNOS = {errno.ENOENT, errno.ENOSYS, errno.EROFS, errno.EACCES}



@pytest.fixture(autouse=True)
def _hidden_dev_shm_possible() -> None:
    require_facility(why_no_dev_shm_namespace())


def _probe(mode: ShmMode, output: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        # The child must import what this pytest process imports, from the same places.
        "PYTHONPATH": os.pathsep.join(path for path in sys.path if path),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    completed = run_without_dev_shm([sys.executable, "-m", PROBE, str(output)], mode=mode, env=env, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr[-4000:]
    seen: dict[str, Any] = json.loads(output.read_text())
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["missing", "readonly"])
def test_without_dev_shm_pool_fails_but_parallel_map_and_the_benchmark_work(
    mode: ShmMode, tmp_path: Path
) -> None:
    # Given a process that cannot use /dev/shm, as in Lambda
    # When it tries multiprocessing.Pool, ProcessPoolExecutor, parallel_map and the benchmark
    seen = _probe(mode, tmp_path / "seen.json")

    # Then Pool and ProcessPoolExecutor fail with an OSError from sem_open
    assert seen["dev_shm_exists"] is (mode == "readonly")
    for failure in (seen["pool_failure"], seen["executor_failure"]):
        assert failure is not None, "multiprocessing worked although /dev/shm was hidden"
        assert failure["errno"] in SEMAPHORE_ERRNOS, failure
    # and parallel_map still counts pi(20000) = 2262 under every start method
    assert seen["parallel_map_primes_below_20000"] == {"fork": 2262, "forkserver": 2262, "spawn": 2262}
    # and the benchmark handler logic runs every mode and verifies its result
    benchmark = seen["benchmark"]
    assert benchmark["result"]["verified"] is True
    assert benchmark["result"]["value"] == 9592
    assert ["processes", 2] in benchmark["modes"]
    assert benchmark["environment"]["posix_semaphores_usable"] is False
    assert benchmark["environment"]["dev_shm_exists"] is (mode == "readonly")
    assert any("POSIX semaphores are unusable here" in note for note in benchmark["notes"])
