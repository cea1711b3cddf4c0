"""tools.memory_sweep's logic: figures from a real benchmark report, costs, the recommendation, the files it
writes, and the original memory size restored when the sweep is interrupted (on in-process moto's Lambda).

The whole sweep against the local cloud, and a real Ctrl-C, are in tests/localcloud/scenarios/test_memory_sweep.py.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cpu_benchmark_models import CpuBenchmarkConfig
from cpu_benchmark_run import run_benchmark_event
from moto import mock_aws

from tools.memory_sweep import (
    PRICES,
    InvokeOutcome,
    SweepResult,
    SweepRow,
    billed_duration_ms,
    cost_per_invoke,
    main,
    parse_memory_sizes,
    recommend,
    row_from_report,
    run_sweep,
    write_results,
)

QUICK_CPU_EVENT: dict[str, Any] = {"workload": "primes", "size": 20_000, "workers": [1, 2],
                                   "modes": ["serial", "threads", "processes"], "repeats": 1}


@pytest.fixture(scope="module")
def real_report() -> dict[str, Any]:
    """What CpuBenchmarkFunction returns at 1,769 MB (its own code, run here)."""
    config = CpuBenchmarkConfig(AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1769, CPU_BENCHMARK_START_METHOD="fork")
    return run_benchmark_event(QUICK_CPU_EVENT, config=config, remaining_ms=lambda: 300_000)


def log_tail(*lines: str) -> str:
    return base64.b64encode("\n".join(lines).encode()).decode()


def test_the_billed_duration_comes_from_the_report_line_of_the_log_tail() -> None:
    # Given the log tail Lambda returns with LogType Tail
    tail = log_tail("START RequestId: 6f1e Version: $LATEST", "END RequestId: 6f1e",
                    "REPORT RequestId: 6f1e\tDuration: 1234.56 ms\tBilled Duration: 1235 ms\tMemory Size: 1769 MB")

    # When / Then its billed duration is read; no tail, or no REPORT line, gives none
    assert billed_duration_ms(tail) == 1235
    assert billed_duration_ms(None) is None
    assert billed_duration_ms(log_tail("START RequestId: 6f1e")) is None


def test_cost_is_gb_seconds_at_the_dated_price_plus_the_request() -> None:
    # Given 1,024 MB billed for one second: one GB-second
    # When / Then it costs one GB-second and one request at the price table's figures
    assert cost_per_invoke(1024, 1000) == pytest.approx(0.0000166667 + 0.0000002)
    assert PRICES.region == "us-east-1" and PRICES.architecture == "x86_64"
    assert PRICES.source == "https://aws.amazon.com/lambda/pricing/"


def test_a_row_holds_the_reports_figures_and_prefers_lambdas_billed_duration(real_report: dict[str, Any]) -> None:
    # Given the function's real report at 1,769 MB, with and without a REPORT line
    with_report_line = InvokeOutcome(real_report, billed_ms=2_001, error=None)
    without = InvokeOutcome(real_report, billed_ms=None, error=None)

    # When rows are made of them
    row, timed_row = row_from_report(1769, with_report_line), row_from_report(1769, without)

    # Then the figures are the report's, and the billed duration Lambda's where it gave one
    processes = real_report["best_speedup"]["processes"]
    assert (row.serial_s, row.process_speedup, row.process_workers) == (
        real_report["measurements"][0]["median_s"], processes["speedup"], processes["workers"])
    assert row.thread_speedup == real_report["best_speedup"]["threads"]["speedup"]
    assert (row.lambda_visible_cores, row.credited_vcpu, row.verified) == (2, 1.0, True)
    assert (row.billed_ms, row.billed_from) == (2_001, "REPORT line")
    assert row.usd_per_million == pytest.approx(cost_per_invoke(1769, 2_001) * 1e6)
    assert timed_row.billed_from == "handler timing"
    assert timed_row.billed_ms == -(-real_report["handler_duration_ms"] // 1)
    # And without an io section there is no I/O figure
    assert row.io_thread_speedup is None


def test_a_failed_invoke_is_a_row_with_its_error() -> None:
    # Given an invoke that failed (a size too small for the event in the function's timeout)
    outcome = InvokeOutcome(None, None, "BenchmarkInputError: too_large_for_remaining_time")

    # When / Then the row keeps the error and no figure
    row = row_from_report(128, outcome)
    assert not row.succeeded and row.serial_s is None and "too_large" in (row.error or "")


def row(memory_mb: int, billed_ms: int) -> SweepRow:
    cost = cost_per_invoke(memory_mb, billed_ms)
    return SweepRow(memory_mb=memory_mb, lambda_visible_cores=2, credited_vcpu=memory_mb / 1769, serial_s=1.0,
                    billed_ms=billed_ms, billed_from="REPORT line", usd_per_invoke=cost, usd_per_million=cost * 1e6,
                    verified=True)


def test_the_recommendation_names_the_cheapest_the_fastest_and_the_best_cost_times_time() -> None:
    # Given sizes where time falls with memory until one vCPU, then stays (single-threaded work)
    rows = [row(512, 3_460), row(1024, 1_730), row(1769, 1_000), row(3538, 1_000),
            SweepRow(memory_mb=128, lambda_visible_cores=2, credited_vcpu=0.07, error="timed out")]

    # When the recommendation is made
    recommendation = recommend(rows)

    # Then: cost is about flat up to 1,769 MB (the request price tips it to the shortest), 1,769 and
    # 3,538 MB are equally fast (less memory wins the tie), and the failed size is never picked
    assert recommendation.cheapest == 1769
    assert recommendation.fastest == 1769
    assert recommendation.best_cost_time == 1769
    assert recommend([]).cheapest is None


def test_memory_sizes_are_parsed_and_checked() -> None:
    # Given --memory as the README writes it
    # When / Then it is a list of sizes; a size Lambda does not offer is refused
    assert parse_memory_sizes("512,1769,3538") == [512, 1769, 3538]
    with pytest.raises(argparse.ArgumentTypeError, match="128-10,240"):
        parse_memory_sizes("64,512")


def test_the_results_are_a_table_a_json_document_and_a_chart(real_report: dict[str, Any], tmp_path: Path) -> None:
    # Given a sweep result with two sizes from the real report
    result = SweepResult(target="AWS", function_name="bench", original_memory_mb=3538, event=QUICK_CPU_EVENT,
                         rows=[row_from_report(1769, InvokeOutcome(real_report, 2_001, None)),
                               row_from_report(3538, InvokeOutcome(real_report, 1_101, None))])

    # When they are written
    markdown_path, json_path, png_path = write_results(result, tmp_path)

    # Then the table has a line per size, the price table's date and source, and the recommendation
    markdown = markdown_path.read_text()
    assert markdown_path.name == "memory_sweep_aws.md" and "measured on AWS Lambda" in markdown
    assert "| 1,769 | " in markdown and "| 3,538 | " in markdown
    assert "as of 2025-06 (https://aws.amazon.com/lambda/pricing/)" in markdown
    assert "best cost x time **" in markdown
    document = json.loads(json_path.read_text())
    assert [entry["memory_mb"] for entry in document["rows"]] == [1769, 3538]
    assert document["recommendation"]["fastest"] == 3538
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def moto_lambda() -> Iterator[Any]:
    with mock_aws(config={"lambda": {"use_docker": False}}):  # moto answers invokes itself
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "lambda.amazonaws.com"}}]}))
        client = boto3.client("lambda", region_name="us-east-1")
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("app.py", "def lambda_handler(event, context):\n    return event\n")
        client.create_function(FunctionName="bench", Runtime="python3.13", Role=role["Role"]["Arn"],
                               Handler="app.lambda_handler", Code={"ZipFile": archive.getvalue()}, MemorySize=256)
        yield client


class InterruptAtInvoke:
    """Ctrl-C as the sweep reaches its first invoke (after the first memory update)."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, str]] = []

    def started(self, memory_mb: int, step: str) -> None:
        self.steps.append((memory_mb, step))
        if step == "Invoke":
            raise KeyboardInterrupt

    def finished(self, row: SweepRow) -> None:
        raise AssertionError("no size may finish")


def test_an_interrupted_sweep_puts_the_original_memory_size_back(moto_lambda: Any) -> None:
    # Given a function at 256 MB, and a sweep interrupted once it has set 512 MB
    progress = InterruptAtInvoke()

    # When the sweep runs
    with pytest.raises(KeyboardInterrupt):
        run_sweep(moto_lambda, "bench", [512, 1024], QUICK_CPU_EVENT, target="AWS", progress=progress)

    # Then it had changed the memory size, and it put the original back before the interrupt went on
    assert progress.steps == [(512, "UpdateFunctionConfiguration"), (512, "Invoke")]
    assert moto_lambda.get_function_configuration(FunctionName="bench")["MemorySize"] == 256


def test_the_command_records_a_size_whose_invoke_fails_and_still_writes_its_results(
        moto_lambda: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a function that answers something other than a benchmark report (moto's own stand-in runtime)
    # When the command sweeps it at one size
    exit_code = main(["--function-name", "bench", "--memory", "512", "--out", str(tmp_path)])

    # Then the size is a failed row with the reason, the exit code says so, and the memory size is back
    assert exit_code == 1
    document = json.loads((tmp_path / "memory_sweep_aws.json").read_text())
    assert document["rows"][0]["memory_mb"] == 512 and document["rows"][0]["error"]
    assert document["recommendation"] == {"cheapest": None, "fastest": None, "best_cost_time": None}
    assert moto_lambda.get_function_configuration(FunctionName="bench")["MemorySize"] == 256
    assert "cheapest -, fastest -, best cost x time -" in capsys.readouterr().out
