"""What each memory size buys: CpuBenchmarkFunction run at a list of memory sizes, as AWS Lambda Power Tuning does.

    python -m tools.memory_sweep [--memory 512,1769,3538] [--stack-name lambda-suite-dev | --function-name NAME]
                                 [--event events/cpu_benchmark/sweep.json] [--out bench/results]
                                 [--endpoint-url URL] [--profile NAME] [--region us-east-1]

The same Lambda API calls on AWS and on the local cloud: for each size UpdateFunctionConfiguration
(MemorySize), the function_updated_v2 waiter (LastUpdateStatus Successful), and a RequestResponse
Invoke with the benchmark event (LogType Tail); the function's original MemorySize is put back at the
end, also after Ctrl-C (SIGINT) or SIGTERM. Per size it reports the cores the function saw, its
credited vCPU (memory / 1,769 MB), the serial time of the CPU work, the best process speed-up and at how
many workers, the thread speed-up, the I/O speed-up with threads, the billed duration, and the cost per
invoke and per million invokes from PRICES; then the cheapest, the fastest and the best cost x time.
Writes memory_sweep_<aws|local>.md, .json and .png to --out.

The default event (events/cpu_benchmark/sweep.json) is sized to finish at 128 MB within the template's
300 s timeout (about 0.07 vCPU there; the function refuses, before any work, an event its estimate says
cannot finish, and that size's row then says so); a bigger event (--event) times the larger sizes more
finely but needs a longer timeout at the small ones.

Billed duration: the REPORT line of the invoke's log tail where Lambda returns one (AWS); elsewhere
the handler's own timing rounded up to the millisecond, and the table says which. Against any endpoint
but AWS's (--endpoint-url, or AWS_ENDPOINT_URL as `make memory-sweep` sets it for the local cloud) the
figures are labelled predictions: they come from the CPU share the local cloud emulates, not from Lambda.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import boto3
import matplotlib as mpl
from botocore.config import Config
from botocore.exceptions import ClientError, WaiterError
from lambda_platform import credited_vcpus, visible_cores
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

mpl.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_lambda.type_defs import WaiterConfigTypeDef

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_EVENT = PROJECT_ROOT / "events" / "cpu_benchmark" / "sweep.json"
DEFAULT_OUT = PROJECT_ROOT / "bench" / "results"
DEFAULT_MEMORY_SIZES = (128, 256, 512, 1024, 1769, 3008, 3538, 5307, 7076, 10240)
BENCHMARK_LOGICAL_ID = "CpuBenchmarkFunction"
# The waiter's own pace (GetFunction once a second); a pool restart or an AWS update takes seconds.
WAITER_CONFIG: WaiterConfigTypeDef = {"Delay": 1, "MaxAttempts": 300}
# An invoke may run for the function's whole timeout (900 s at most): wait a little longer for its answer.
INVOKE_READ_TIMEOUT_S = 960
BILLED_DURATION = re.compile(r"Billed Duration: (\d+) ms")


@dataclass(frozen=True)
class PriceTable:
    """Lambda's on-demand list prices for one region and architecture, as published on a date."""

    region: str
    architecture: str
    usd_per_gb_second: float
    usd_per_request: float
    as_of: str
    source: str


# https://aws.amazon.com/lambda/pricing/ (first pricing tier: the first 6 billion GB-seconds a month),
# the same figures bench/aws_cost.py uses. No free tier is subtracted.
PRICES = PriceTable(region="us-east-1", architecture="x86_64", usd_per_gb_second=0.0000166667,
                    usd_per_request=0.20 / 1_000_000, as_of="2025-06", source="https://aws.amazon.com/lambda/pricing/")


@dataclass(frozen=True)
class SweepRow:
    """One memory size's figures (None where the invoke failed; ``error`` then says why)."""

    memory_mb: int
    lambda_visible_cores: int
    credited_vcpu: float
    cores_seen: int | None = None
    serial_s: float | None = None
    process_speedup: float | None = None
    process_workers: int | None = None
    thread_speedup: float | None = None
    io_thread_speedup: float | None = None
    io_process_speedup: float | None = None
    billed_ms: int | None = None
    billed_from: str | None = None  # "REPORT line" or "handler timing"
    usd_per_invoke: float | None = None
    usd_per_million: float | None = None
    verified: bool | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.billed_ms is not None


@dataclass(frozen=True)
class Recommendation:
    cheapest: int | None
    fastest: int | None
    best_cost_time: int | None


@dataclass
class SweepResult:
    target: str  # "AWS" or "local cloud"
    function_name: str
    original_memory_mb: int
    event: dict[str, Any]
    rows: list[SweepRow] = field(default_factory=list)
    interrupted: bool = False

    @property
    def predicted(self) -> bool:
        return self.target != "AWS"


class SweepProgress(Protocol):
    def started(self, memory_mb: int, step: str) -> None: ...

    def finished(self, row: SweepRow) -> None: ...


class NoProgress:
    def started(self, memory_mb: int, step: str) -> None:
        return None

    def finished(self, row: SweepRow) -> None:
        return None


# --- the Lambda calls --------------------------------------------------------------------------------------------


def current_memory(lambda_client: LambdaClient, function_name: str) -> int:
    return int(lambda_client.get_function_configuration(FunctionName=function_name)["MemorySize"])


def set_memory(lambda_client: LambdaClient, function_name: str, memory_mb: int,
               waiter_config: WaiterConfigTypeDef | None = None) -> None:
    """UpdateFunctionConfiguration, then wait until LastUpdateStatus is Successful (WaiterError if Failed)."""
    lambda_client.update_function_configuration(FunctionName=function_name, MemorySize=memory_mb)
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=function_name,
                                                         WaiterConfig=waiter_config or WAITER_CONFIG)


def restore_memory(lambda_client: LambdaClient, function_name: str, memory_mb: int,
                   waiter_config: WaiterConfigTypeDef | None = None) -> None:
    """Put the original MemorySize back, after any update still in progress (Lambda refuses a second one)."""
    with contextlib.suppress(WaiterError):  # a Failed update leaves the function free for the next
        lambda_client.get_waiter("function_updated_v2").wait(FunctionName=function_name,
                                                             WaiterConfig=waiter_config or WAITER_CONFIG)
    if current_memory(lambda_client, function_name) != memory_mb:
        set_memory(lambda_client, function_name, memory_mb, waiter_config)


@dataclass(frozen=True)
class InvokeOutcome:
    report: dict[str, Any] | None
    billed_ms: int | None  # from the REPORT line of the log tail, when Lambda sent one
    error: str | None


def invoke_benchmark(lambda_client: LambdaClient, function_name: str, event: dict[str, Any]) -> InvokeOutcome:
    response = lambda_client.invoke(FunctionName=function_name, InvocationType="RequestResponse",
                                    LogType="Tail", Payload=json.dumps(event).encode())
    billed = billed_duration_ms(response.get("LogResult"))
    text = response["Payload"].read().decode(errors="replace")
    try:
        document = json.loads(text)
    except ValueError:
        return InvokeOutcome(None, billed, f"the answer is not JSON: {text[:200]!r}")
    if "FunctionError" in response:
        return InvokeOutcome(None, billed, f"{document.get('errorType')}: {document.get('errorMessage')}")
    if not isinstance(document, dict) or "measurements" not in document:
        return InvokeOutcome(None, billed, f"the answer is not a benchmark report: {text[:200]!r}")
    return InvokeOutcome(document, billed, None)


def billed_duration_ms(log_result: str | None) -> int | None:
    """Billed Duration from the REPORT line of an Invoke's LogResult (base64 of the log's last 4 KB)."""
    if not log_result:
        return None
    match = BILLED_DURATION.search(base64.b64decode(log_result).decode(errors="replace"))
    return int(match.group(1)) if match else None


# --- figures -----------------------------------------------------------------------------------------------------


def cost_per_invoke(memory_mb: int, billed_ms: int, prices: PriceTable = PRICES) -> float:
    """GB-seconds billed (memory in GB x billed seconds) at the GB-second price, plus the request price."""
    return memory_mb / 1024 * billed_ms / 1000 * prices.usd_per_gb_second + prices.usd_per_request


def _best(report_part: dict[str, Any] | None, mode: str) -> dict[str, Any] | None:
    if not report_part:
        return None
    best: dict[str, Any] | None = report_part.get("best_speedup", {}).get(mode)
    return best


def cores_seen(environment: dict[str, Any]) -> int | None:
    """The cores the function may run on: its CPU affinity (a cpuset narrows it; os.cpu_count() does not see
    that before Python 3.13), else os.cpu_count()."""
    affinity = environment.get("cpu_affinity")
    return len(affinity) if affinity else environment.get("os_cpu_count")


def row_from_report(memory_mb: int, outcome: InvokeOutcome, prices: PriceTable = PRICES) -> SweepRow:
    """One memory size's figures from the benchmark's report (and the invoke's billed duration)."""
    base = SweepRow(memory_mb=memory_mb, lambda_visible_cores=visible_cores(memory_mb),
                    credited_vcpu=round(credited_vcpus(memory_mb), 3))
    report = outcome.report
    if report is None:
        return replace(base, error=outcome.error)
    billed, billed_from = outcome.billed_ms, "REPORT line"
    if billed is None and report.get("handler_duration_ms") is not None:
        billed, billed_from = math.ceil(report["handler_duration_ms"]), "handler timing"
    processes, threads = _best(report, "processes"), _best(report, "threads")
    io_threads, io_processes = _best(report.get("io"), "threads"), _best(report.get("io"), "processes")
    io_verified = report["io"]["result"]["verified"] if report.get("io") else True
    return replace(
        base,
        cores_seen=cores_seen(report["environment"]),
        serial_s=report["measurements"][0]["median_s"],
        process_speedup=processes["speedup"] if processes else None,
        process_workers=processes["workers"] if processes else None,
        thread_speedup=threads["speedup"] if threads else None,
        io_thread_speedup=io_threads["speedup"] if io_threads else None,
        io_process_speedup=io_processes["speedup"] if io_processes else None,
        billed_ms=billed,
        billed_from=billed_from if billed is not None else None,
        usd_per_invoke=cost_per_invoke(memory_mb, billed, prices) if billed is not None else None,
        usd_per_million=cost_per_invoke(memory_mb, billed, prices) * 1_000_000 if billed is not None else None,
        verified=bool(report["result"]["verified"] and io_verified),
        error=None if billed is not None else "no billed duration: neither a REPORT line nor the handler's timing",
    )


def recommend(rows: Sequence[SweepRow]) -> Recommendation:
    """The cheapest, the fastest and the best cost x time among the sizes that ran (ties: less memory)."""
    ran = [row for row in rows if row.succeeded and row.usd_per_invoke is not None and row.billed_ms is not None]
    if not ran:
        return Recommendation(None, None, None)

    def pick(key: Callable[[SweepRow], float]) -> int:
        return min(ran, key=lambda row: (key(row), row.memory_mb)).memory_mb

    return Recommendation(
        cheapest=pick(lambda row: row.usd_per_invoke or 0.0),
        fastest=pick(lambda row: float(row.billed_ms or 0)),
        best_cost_time=pick(lambda row: (row.usd_per_invoke or 0.0) * (row.billed_ms or 0)),
    )


# --- the sweep ---------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """While the configuration is put back, a second Ctrl-C must not leave the function half restored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_sweep(lambda_client: LambdaClient, function_name: str, memory_sizes: Sequence[int], event: dict[str, Any],
              *, target: str, progress: SweepProgress | None = None, prices: PriceTable = PRICES,
              waiter_config: WaiterConfigTypeDef | None = None) -> SweepResult:
    """Each memory size in turn; the original MemorySize is restored whatever happens (KeyboardInterrupt too).

    An invoke that fails (a size too small for the event in the function's timeout, say) is a row with its
    error, and the sweep goes on; an update that fails (WaiterError) or an interrupt stops it.
    """
    progress = progress or NoProgress()
    result = SweepResult(target=target, function_name=function_name,
                         original_memory_mb=current_memory(lambda_client, function_name), event=event)
    try:
        for memory_mb in memory_sizes:
            progress.started(memory_mb, "UpdateFunctionConfiguration")
            set_memory(lambda_client, function_name, memory_mb, waiter_config)
            progress.started(memory_mb, "Invoke")
            row = row_from_report(memory_mb, invoke_benchmark(lambda_client, function_name, event), prices)
            result.rows.append(row)
            progress.finished(row)
    except KeyboardInterrupt:
        result.interrupted = True
        raise
    finally:
        with interrupts_deferred():
            restore_memory(lambda_client, function_name, result.original_memory_mb, waiter_config)
    return result


# --- what it writes ----------------------------------------------------------------------------------------------

TABLE_COLUMNS = ("memory MB", "cores seen (Lambda)", "credited vCPU", "serial s", "best processes",
                 "threads", "I/O threads", "I/O processes", "billed ms", "$ per invoke", "$ per 1M invokes")


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def table_line(row: SweepRow) -> str:
    if not row.succeeded:
        return f"| {row.memory_mb:,} | ({row.lambda_visible_cores}) | {row.credited_vcpu:.2f} | failed: {row.error} |"
    processes = f"{_x(row.process_speedup)} at {row.process_workers}" if row.process_speedup else "-"
    cells = [f"{row.memory_mb:,}", f"{row.cores_seen} ({row.lambda_visible_cores})", f"{row.credited_vcpu:.2f}",
             f"{row.serial_s:.3f}", processes, _x(row.thread_speedup), _x(row.io_thread_speedup),
             _x(row.io_process_speedup), f"{row.billed_ms:,}", f"{row.usd_per_invoke:.8f}",
             f"{row.usd_per_million:.2f}"]
    return "| " + " | ".join(cells) + " |"


def markdown(result: SweepResult, recommendation: Recommendation, prices: PriceTable, generated_at: str) -> str:
    kind = ("PREDICTIONS of the local cloud, from the CPU share it emulates (memory / 1,769 MB vCPU), not Lambda's "
            "measurements" if result.predicted else "measured on AWS Lambda")
    sources = sorted({row.billed_from for row in result.rows if row.billed_from})
    lines = [
        f"# What each memory size buys: {result.function_name} on {result.target}",
        "",
        f"{generated_at}, `python -m tools.memory_sweep`; {kind}.",
        f"Event: `{json.dumps(result.event)}`.",
        f"Prices: {prices.architecture} in {prices.region} as of {prices.as_of} ({prices.source}): "
        f"${prices.usd_per_gb_second:.10f} per GB-second, ${prices.usd_per_request * 1e6:.2f} per million requests.",
        f"Billed duration from: {', '.join(sources) or '-'}. Original MemorySize {result.original_memory_mb} MB, "
        "restored at the end." + (" The sweep was interrupted." if result.interrupted else ""),
        "",
        "| " + " | ".join(TABLE_COLUMNS) + " |",
        "|" + "---|" * len(TABLE_COLUMNS),
        *(table_line(row) for row in result.rows),
        "",
        "Recommendation (among the sizes that ran): cheapest "
        f"**{_mb(recommendation.cheapest)}**, fastest **{_mb(recommendation.fastest)}**, "
        f"best cost x time **{_mb(recommendation.best_cost_time)}**.",
        "",
        "Columns: cores seen = the CPUs the function may run on (its affinity), Lambda's number for that size in "
        "brackets; "
        "serial s = median time of the CPU work on one core; best processes = the highest process speed-up "
        "and at how many workers (lambda_toolkit.parallel_map); threads = the best thread speed-up on the same "
        "CPU work (the GIL keeps it near 1x); I/O = the speed-up of DynamoDB GetItems spread over threads or "
        "processes; billed ms and cost are the whole benchmark invoke's.",
    ]
    return "\n".join(lines) + "\n"


def _mb(memory_mb: int | None) -> str:
    return "-" if memory_mb is None else f"{memory_mb:,} MB"


def chart(result: SweepResult, path: Path) -> None:
    """Speed-ups and serial time against memory (left), cost per million invokes (right)."""
    rows = [row for row in result.rows if row.succeeded]
    memory = [row.memory_mb for row in rows]
    figure, (speed, cost) = plt.subplots(1, 2, figsize=(12, 4.8))
    speed.plot(memory, [row.process_speedup or 0 for row in rows], "o-", label="best processes (CPU)")
    speed.plot(memory, [row.thread_speedup or 0 for row in rows], "s-", label="threads (CPU)")
    speed.plot(memory, [row.io_thread_speedup or 0 for row in rows], "^-", label="threads (I/O)")
    speed.plot(memory, [min(row.credited_vcpu, row.lambda_visible_cores) for row in rows], "k:",
               label="usable vCPU on Lambda")
    speed.set_ylabel("speed-up over serial")
    speed.set_ylim(bottom=0)
    serial = speed.twinx()
    serial.plot(memory, [row.serial_s or 0 for row in rows], "r--", label="serial time (s)")
    serial.set_ylabel("serial time of the CPU work (s)", color="red")
    serial.set_ylim(bottom=0)
    handles, labels = speed.get_legend_handles_labels()
    serial_handles, serial_labels = serial.get_legend_handles_labels()
    speed.legend(handles + serial_handles, labels + serial_labels, loc="upper left", fontsize="small")
    cost.plot(memory, [row.usd_per_million or 0 for row in rows], "o-", color="green")
    cost.set_ylabel("$ per million invokes")
    cost.set_ylim(bottom=0)
    for axes in (speed, cost):
        _memory_axis(axes, memory)
    label = "prediction (local cloud, emulated CPU share)" if result.predicted else "measured on AWS"
    figure.suptitle(f"{result.function_name}: what each memory size buys - {label}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _memory_axis(axes: Any, memory: Sequence[int]) -> None:
    """Memory on a log scale, labelled with the sizes that ran (not powers of ten)."""
    axes.set_xscale("log")
    axes.set_xticks(list(memory), [f"{size:,}" for size in memory], rotation=45)
    axes.minorticks_off()
    axes.set_xlabel("memory (MB)")


def write_results(result: SweepResult, out_dir: Path, prices: PriceTable = PRICES) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"memory_sweep_{'local' if result.predicted else 'aws'}"
    generated_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    recommendation = recommend(result.rows)
    paths = [stem.with_suffix(".md"), stem.with_suffix(".json"), stem.with_suffix(".png")]
    paths[0].write_text(markdown(result, recommendation, prices, generated_at))
    paths[1].write_text(json.dumps({
        "generated_at": generated_at, "target": result.target, "predicted": result.predicted,
        "function_name": result.function_name, "original_memory_mb": result.original_memory_mb,
        "interrupted": result.interrupted, "event": result.event, "prices": asdict(prices),
        "rows": [asdict(row) for row in result.rows], "recommendation": asdict(recommendation),
    }, indent=2) + "\n")
    chart(result, paths[2])
    return paths


# --- the command -------------------------------------------------------------------------------------------------


def parse_memory_sizes(text: str) -> list[int]:
    sizes = [int(part) for part in text.split(",") if part.strip()]
    out_of_range = [size for size in sizes if not 128 <= size <= 10_240]
    if not sizes or out_of_range:
        raise argparse.ArgumentTypeError(f"memory sizes are 128-10,240 MB, comma-separated; got {text!r}")
    return sizes


def benchmark_function_name(cloudformation: CloudFormationClient, stack_name: str) -> str:
    resource = cloudformation.describe_stack_resource(StackName=stack_name, LogicalResourceId=BENCHMARK_LOGICAL_ID)
    return resource["StackResourceDetail"]["PhysicalResourceId"]


class RichProgress:
    """A progress bar over the memory sizes, with the step under way and each size's key figures."""

    def __init__(self, total: int) -> None:
        self.console = Console(stderr=True, soft_wrap=True)  # whole lines: logs and tests grep them
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), console=self.console)
        self._task = self._progress.add_task("memory sweep", total=total)

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()

    def started(self, memory_mb: int, step: str) -> None:
        self._progress.update(self._task, description=f"{memory_mb:>6,} MB: {step}")

    def finished(self, row: SweepRow) -> None:
        self._progress.advance(self._task)
        summary = (f"serial {row.serial_s:.3f} s, processes {_x(row.process_speedup)}, I/O threads "
                   f"{_x(row.io_thread_speedup)}, billed {row.billed_ms} ms"
                   if row.succeeded else f"failed: {row.error}")
        self._progress.console.print(f"{row.memory_mb:>6,} MB  {summary}")


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.memory_sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--memory", type=parse_memory_sizes, default=list(DEFAULT_MEMORY_SIZES),
                        help="comma-separated sizes in MB (default %(default)s)")
    parser.add_argument("--stack-name", default="lambda-suite-dev", help="find CpuBenchmarkFunction in this stack")
    parser.add_argument("--function-name", help="the function to sweep (instead of --stack-name)")
    parser.add_argument("--event", type=Path, default=DEFAULT_EVENT, help="benchmark input (default %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the table and chart go")
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"),
                        help="an endpoint other than AWS's (the local cloud's); default $AWS_ENDPOINT_URL")
    parser.add_argument("--profile", help="AWS profile (default: boto3's own lookup)")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                        or PRICES.region)
    args = parser.parse_args(argv)
    session = boto3.session.Session(profile_name=args.profile, region_name=args.region)
    # Tools make their own clients: an invoke may run 900 s, far past the layer's 10 s read timeout.
    config = Config(read_timeout=INVOKE_READ_TIMEOUT_S, retries={"mode": "standard", "max_attempts": 3})
    lambda_client = session.client("lambda", endpoint_url=args.endpoint_url, config=config)
    function_name = args.function_name or benchmark_function_name(
        session.client("cloudformation", endpoint_url=args.endpoint_url), args.stack_name)
    event = json.loads(args.event.read_text())
    target = "local cloud" if args.endpoint_url else "AWS"
    # Ctrl-C and `kill` both restore the configuration, also when started where SIGINT was ignored
    # (a background job of a non-interactive shell, as `make` under a script may be).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    progress = RichProgress(len(args.memory))
    try:
        with progress:
            result = run_sweep(lambda_client, function_name, args.memory, event, target=target, progress=progress)
    except KeyboardInterrupt:
        progress.console.print(f"interrupted: {function_name} is back at its original MemorySize")
        return 130
    except (ClientError, WaiterError) as error:
        progress.console.print(f"the sweep stopped: {error}; {function_name} is back at its original MemorySize")
        return 1
    for path in write_results(result, args.out):
        progress.console.print(f"wrote {path}")
    recommendation = recommend(result.rows)
    print(f"cheapest {_mb(recommendation.cheapest)}, fastest {_mb(recommendation.fastest)}, "
          f"best cost x time {_mb(recommendation.best_cost_time)}"
          + (" (local cloud predictions)" if result.predicted else ""))
    return 0 if all(row.succeeded for row in result.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
