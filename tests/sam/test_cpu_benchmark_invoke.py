"""`sam local invoke CpuBenchmarkFunction` in Docker: the Lambda runtime image has no /dev/shm
semantics of its own, so what matters is that the benchmark's processes mode runs there and reports
the function's memory settings from the template."""

from __future__ import annotations

from pathlib import Path

from localcloud.aws.endpoint import MotoEndpoint
from tests.support import sam_cli
from tests.support.events import EVENTS
from tests.support.template import properties, template


def test_the_quick_benchmark_runs_in_docker_with_verified_results(
    sam_build: Path, moto_endpoint: MotoEndpoint, tmp_path: Path
) -> None:
    # When the quick event runs in the Lambda container
    result = sam_cli.local_invoke("CpuBenchmarkFunction", EVENTS / "cpu_benchmark" / "quick.json",
                                  moto_endpoint.url, {}, tmp_path)

    # Then every mode ran with a verified result
    report = result.payload
    assert report["result"]["verified"] is True, result.logs
    assert {m["mode"] for m in report["measurements"]} == {"serial", "threads", "processes"}
    assert all(m["results_verified"] for m in report["measurements"])
    # ... and the report knows the memory size the template gives the function, and its vCPU credit
    memory_parameter = properties("CpuBenchmarkFunction")["MemorySize"]["Ref"]
    memory_mb = template()["Parameters"][memory_parameter]["Default"]
    assert report["environment"]["lambda_memory_mb"] == memory_mb
    assert report["environment"]["credited_vcpu"] == round(memory_mb / 1769, 2)


def test_bad_input_fails_the_invoke_with_a_clear_error_before_any_work(
    sam_build: Path, moto_endpoint: MotoEndpoint, tmp_path: Path
) -> None:
    # When an event names a workload that does not exist
    result = sam_cli.local_invoke("CpuBenchmarkFunction", EVENTS / "cpu_benchmark" / "bad_unknown_workload.json",
                                  moto_endpoint.url, {}, tmp_path)

    # Then Lambda reports the function's own error type and a message naming the field
    assert result.payload["errorType"] == "BenchmarkInputError", result.logs
    assert "workload" in result.payload["errorMessage"]
