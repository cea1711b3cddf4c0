"""tools.memory_sweep end to end on the local cloud: the real CpuBenchmarkFunction at two memory sizes.

The sweep's own Lambda calls (UpdateFunctionConfiguration, the function_updated_v2 waiter, Invoke) go to
the local cloud's moto endpoint, as `make memory-sweep` sends them; the function reports the memory its
new workers were started with. What a size buys in CPU (the figures) is not asserted here: without the
sandbox's CPU limits every size gets the whole machine, and figures come from sweep runs, not tests.
The second test interrupts a real sweep process with SIGINT, as Ctrl-C does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud.aws.endpoint import free_port
from localcloud.cloud import LocalCloud
from tests.localcloud.conftest import cloud_config
from tests.localcloud.waiting import wait_for
from tools.memory_sweep import invoke_benchmark, run_sweep, set_memory, write_results

pytestmark = pytest.mark.localcloud

# Small and quick: one repeat of each mode, CPU and I/O.
SMALL_EVENT: dict[str, Any] = {
    "workload": "primes", "size": 20_000, "workers": [1, 2], "modes": ["serial", "threads", "processes"],
    "repeats": 1, "io": {"requests": 16, "workers": [1, 4], "modes": ["serial", "threads"], "repeats": 1},
}
# Long enough at any size to be interrupted mid-invoke: serial only, the largest primes size, 3 repeats.
SLOW_EVENT: dict[str, Any] = {"workload": "primes", "size": 3_000_000, "workers": [1], "modes": ["serial"],
                              "repeats": 3}


@pytest.fixture(scope="module")
def sweep_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    config = cloud_config(Path(tmp_path_factory.mktemp("sweep-cloud")), stack_name="sweep", start_pollers=False)
    with LocalCloud(config) as cloud:
        yield cloud


def test_the_sweep_runs_the_benchmark_at_each_size_and_restores_the_memory_size(
        sweep_cloud: LocalCloud, tmp_path: Path) -> None:
    # Given CpuBenchmarkFunction at the template's memory size
    lambda_client = sweep_cloud.aws.lambda_client
    name = sweep_cloud.stack.functions["CpuBenchmarkFunction"].name
    original = lambda_client.get_function_configuration(FunctionName=name)["MemorySize"]

    # When the sweep runs it at 256 and 1,769 MB
    result = run_sweep(lambda_client, name, [256, 1769], SMALL_EVENT, target="local cloud",
                       waiter_config={"Delay": 1, "MaxAttempts": 60})
    paths = write_results(result, tmp_path)

    # Then each size ran, verified, with both halves measured and its cost from the handler's timing
    assert [row.memory_mb for row in result.rows] == [256, 1769]
    assert all(row.succeeded and row.verified for row in result.rows), result.rows
    assert all(row.io_thread_speedup is not None and row.process_speedup is not None for row in result.rows)
    assert {row.billed_from for row in result.rows} == {"handler timing"}  # no LogResult locally
    assert [row.credited_vcpu for row in result.rows] == [0.145, 1.0]
    # And the memory size went back to the original
    assert lambda_client.get_function_configuration(FunctionName=name)["MemorySize"] == original
    # And the table, the JSON and the chart are written, labelled as predictions
    markdown, document = paths[0].read_text(), json.loads(paths[1].read_text())
    assert "PREDICTIONS of the local cloud" in markdown
    assert document["predicted"] is True and len(document["rows"]) == 2
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_benchmark_worker_sees_the_memory_size_the_sweep_set(sweep_cloud: LocalCloud) -> None:
    # Given the benchmark at 512 MB through the sweep's own step
    lambda_client = sweep_cloud.aws.lambda_client
    name = sweep_cloud.stack.functions["CpuBenchmarkFunction"].name
    original = lambda_client.get_function_configuration(FunctionName=name)["MemorySize"]
    set_memory(lambda_client, name, 512, {"Delay": 1, "MaxAttempts": 60})
    try:
        # When it is invoked
        outcome = invoke_benchmark(lambda_client, name, SMALL_EVENT)
    finally:
        set_memory(lambda_client, name, original, {"Delay": 1, "MaxAttempts": 60})

    # Then the function's report knows its 512 MB (AWS_LAMBDA_FUNCTION_MEMORY_SIZE of its new worker)
    assert outcome.error is None, outcome.error
    assert outcome.report is not None
    assert outcome.report["environment"]["lambda_memory_mb"] == 512
    assert outcome.report["environment"]["credited_vcpu"] == 0.289


def test_ctrl_c_during_a_sweep_restores_the_original_memory_size(sweep_cloud: LocalCloud, tmp_path: Path) -> None:
    # Given a sweep process working on CpuBenchmarkFunction with a slow event
    lambda_client = sweep_cloud.aws.lambda_client
    name = sweep_cloud.stack.functions["CpuBenchmarkFunction"].name
    original = lambda_client.get_function_configuration(FunctionName=name)["MemorySize"]
    event = tmp_path / "slow.json"
    event.write_text(json.dumps(SLOW_EVENT))
    environment = {**os.environ, "AWS_ENDPOINT_URL": sweep_cloud.config.endpoint_url,
                   "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    sweep = subprocess.Popen(
        [sys.executable, "-m", "tools.memory_sweep", "--function-name", name, "--memory", "1024,2048",
         "--event", str(event), "--out", str(tmp_path / "results")],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # When Ctrl-C reaches it while the first size's invoke runs
        wait_for(lambda: sweep_cloud.runtime_status()["functions"].get("CpuBenchmarkFunction", {}).get("in_flight"),
                 timeout_s=60, what="the sweep's first invoke is running")
        assert lambda_client.get_function_configuration(FunctionName=name)["MemorySize"] == 1024
        sweep.send_signal(signal.SIGINT)
        output, _ = sweep.communicate(timeout=120)
    finally:
        if sweep.poll() is None:
            sweep.kill()

    # Then it exits as interrupted, and the function is back at its original memory size, update finished
    assert sweep.returncode == 130, output.decode(errors="replace")
    assert b"back at its original MemorySize" in output
    configuration = lambda_client.get_function_configuration(FunctionName=name)
    assert (configuration["MemorySize"], configuration["LastUpdateStatus"]) == (original, "Successful")
    assert not (tmp_path / "results").exists()  # an interrupted sweep writes no table


def test_make_memory_sweep_runs_on_a_local_cloud_of_its_own_and_takes_it_down(tmp_path: Path) -> None:
    """`make memory-sweep` as README.md shows it (MEMORY=, EVENT=; OUT= keeps the committed results)."""
    # Given a small benchmark input and a port of the test's own
    event = tmp_path / "event.json"
    event.write_text(json.dumps(SMALL_EVENT))
    port = free_port()
    root = Path(__file__).resolve().parents[3]

    # When the make target sweeps two sizes
    completed = subprocess.run(
        ["make", "--no-print-directory", "memory-sweep", "MEMORY=512,1769", f"EVENT={event}", f"OUT={tmp_path}",
         f"SWEEP_PORT={port}"], cwd=root, capture_output=True, text=True, timeout=600, check=False)

    # Then it started its own local cloud with CPU limits on the benchmark, swept both sizes, wrote the
    # table, and took the cloud down
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    rows = json.loads((tmp_path / "memory_sweep_local.json").read_text())["rows"]
    assert [row["memory_mb"] for row in rows] == [512, 1769]
    assert (tmp_path / "memory_sweep_local.png").stat().st_size > 0
    assert "local cloud stopped" in completed.stdout
    assert "CpuBenchmarkFunction" in completed.stdout  # up's summary names the function whose CPU it limits
