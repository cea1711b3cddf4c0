"""Fan-out scaling: do K equal-cost items with MaxConcurrency C finish within 1.25 x ceil(K/C) x one item?

    python bench/fanout_scaling.py [--map localcloud|threads] [--items 8] [--concurrency 2]
                                   [--memory-mb 1769] [--item-seconds 0.4] [--repeats 5] [--dev-shm]

--map localcloud (default): the real thing on one machine. template.yaml is deployed to the local
cloud (localcloud.cloud.LocalCloud: moto server, subprocess invoker) with FanOutMaxConcurrency = C and
FanOutWorkerMemorySize = --memory-mb, and FanOutStateMachine runs in moto's Step Functions interpreter
with its Lambda tasks routed to the functions' warm worker processes. The K items are the Split
function's own cost-balanced ranges of [0, n), n chosen (cost model, then one measured item) so that
an item takes about --item-seconds. The fan-out time is the inline Map state's wall time, from the
execution history (MapStateEntered -> MapStateExited).

--map threads: a stand-in without the local cloud: a thread pool of C threads in this process, each
running the worker's logic (fanout_item_worker.PrimeRangeWorker) on the next item, K identical ranges.
It leaves out invoke and Step Functions overheads.

Method (both): each repetition runs the K items one after another (sequential: K synchronous invokes
of the worker) and through the C-wide Map, alternating which goes first (ABBA). "One item" is the
median item duration of that repetition's sequential pass, so each ratio compares runs made under the
same machine load; the medians of the per-repetition ratios are reported: fan-out / (ceil(K/C) x item)
against the bound 1.25, and the speed-up sequential / fan-out against its ideal K / ceil(K/C).

Every item runs on this machine's cores (in Lambda each has its own), so the bound can only hold
while C x (processes per item) <= the cores here and nothing else is using them; the report gives the
load average and says when C x processes oversubscribes the cores. Writes bench/results/fanout_scaling.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
# The worker logs every item at INFO and its metrics would print EMF lines: keep the output readable.
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "fanout-scaling-bench")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "lambda-suite-bench")

from fanout_aggregate_config import FanOutAggregateConfig  # noqa: E402
from fanout_item_worker import PrimeRangeWorker, visible_cores, worker_processes  # noqa: E402
from fanout_report import compute_saved  # noqa: E402
from fanout_results import ItemOutcome  # noqa: E402
from lambda_platform import effective_vcpus  # noqa: E402
from prime_ranges import CostCurve  # noqa: E402

from lambda_toolkit.observability import metrics  # noqa: E402

BOUND_FACTOR = 1.25
# Thread stand-in: where its identical items sit (the sieve's cost per number is steady there).
ITEM_START = 10**9
TIMEOUT_MS = 900_000
# The Map is timed from its history events, so the poll cadence does not enter the figure; polling
# DescribeExecution every few milliseconds would itself slow moto (and the Map) down on 2 cores.
POLL_S = 0.25


@dataclass(frozen=True)
class Repetition:
    """One sequential pass and one fan-out pass, back to back, so they share the machine's load."""

    sequential_s: float
    fanout_s: float
    one_item_s: float  # median item duration of this repetition's sequential pass
    item_durations_ms: list[float]  # the fan-out pass's items, for the compute-saved figure


class ThreadsBench:
    """The stand-in: C threads in this process, K identical ranges (see the module docstring)."""

    name = "thread-pool Map stand-in (no Step Functions, no invoke overhead)"

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.worker = PrimeRangeWorker(safety_margin_ms=0)
        width = self._calibrate_width()
        self.items = [{"index": i, "start": ITEM_START, "stop": ITEM_START + width} for i in range(args.items)]
        self.description = f"K identical ranges [{ITEM_START}, {ITEM_START + width})"

    def _invoke(self, item: dict[str, int]) -> float:
        started = time.perf_counter()
        self.worker.handle({"job_id": "bench", "item": item}, memory_mb=self.args.memory_mb, cores=visible_cores(),
                           remaining_ms=lambda: TIMEOUT_MS)
        return time.perf_counter() - started

    def _calibrate_width(self) -> int:
        width = 2_000_000
        for _ in range(6):
            item = {"index": 0, "start": ITEM_START, "stop": ITEM_START + width}
            # The fastest of three: a calibration that caught a burst of load would size items too small.
            took = min(self._invoke(item) for _ in range(3))
            if 0.8 * self.args.item_seconds <= took <= 1.2 * self.args.item_seconds:
                break
            width = max(100_000, int(width * self.args.item_seconds / max(took, 1e-3)))
        return width

    def sequential(self) -> tuple[float, list[float]]:
        started = time.perf_counter()
        durations = [self._invoke(item) for item in self.items]
        metrics.clear_metrics()
        return time.perf_counter() - started, durations

    def fanout(self) -> tuple[float, list[float], dict[str, Any] | None]:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=self.args.concurrency) as pool:
            durations = list(pool.map(self._invoke, self.items))
        metrics.clear_metrics()
        return time.perf_counter() - started, durations, None


class LocalCloudBench:
    """FanOutStateMachine in the local cloud, compared with K synchronous invokes of its worker."""

    name = "FanOutStateMachine in the local cloud (moto Step Functions + subprocess invoker)"

    def __init__(self, args: argparse.Namespace, cloud: Any) -> None:
        self.args = args
        self.cloud = cloud
        self.sfn = cloud.aws.client("stepfunctions")
        self.state_machine_arn = cloud.stack.state_machines["FanOutStateMachine"].arn
        self.n = self._calibrate_n()
        self.items = self._split(self.n)
        self.description = f"the Split's {args.items} cost-balanced ranges of [0, {self.n})"

    def _invoke(self, function: str, event: Any) -> tuple[float, Any]:
        result = self.cloud.invoke(function, event)
        if result.failed:
            raise SystemExit(f"{function} failed in the local cloud: {result.error}")
        return result.duration_ms / 1000, result.payload

    def _split(self, n: int) -> list[dict[str, int]]:
        _, output = self._invoke("FanOutSplitFunction", {"job": {"n": n, "k": self.args.items},
                                                         "execution_name": f"bench-split-{uuid.uuid4().hex[:8]}"})
        if output["mode"] != "INLINE":
            raise SystemExit(
                f"the Split chose {output['mode']} for k={self.args.items}; the bench times the inline Map"
            )
        items: list[dict[str, int]] = output["items"]
        return items

    def _model_item_seconds(self, n: int) -> float:
        items: int = self.args.items
        memory_mb: int = self.args.memory_mb
        return float(CostCurve.up_to(n).total_ns) / 1e9 / items / effective_vcpus(memory_mb)

    def _n_for(self, item_seconds: float) -> int:
        low, high = self.args.items, 2**53 - 1
        while high - low > max(1, low // 1000):
            middle = (low + high) // 2
            low, high = (middle, high) if self._model_item_seconds(middle) < item_seconds else (low, middle)
        return high

    def _calibrate_n(self) -> int:
        """n from the cost model, corrected once by one measured item (the model is fitted elsewhere)."""
        n = self._n_for(self.args.item_seconds)
        item = self._split(n)[-1]
        measured = min(self._invoke("FanOutWorkerFunction", {"job_id": "calibration", "item": item})[0]
                       for _ in range(3))
        return self._n_for(self.args.item_seconds * self.args.item_seconds / measured)

    def sequential(self) -> tuple[float, list[float]]:
        started = time.perf_counter()
        durations = [self._invoke("FanOutWorkerFunction", {"job_id": "bench", "item": item})[0]
                     for item in self.items]
        return time.perf_counter() - started, durations

    def fanout(self) -> tuple[float, list[float], dict[str, Any] | None]:
        execution = self.sfn.start_execution(
            stateMachineArn=self.state_machine_arn, name=f"bench-{uuid.uuid4().hex[:12]}",
            input=json.dumps({"job_id": "bench", "n": self.n, "k": self.args.items}),
        )["executionArn"]
        while (described := self.sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
            time.sleep(POLL_S)
        if described["status"] != "SUCCEEDED":
            raise SystemExit(f"the execution ended {described['status']}: {described.get('cause')}")
        report: dict[str, Any] = json.loads(described["output"])
        if report["items_failed"] or (report["known_prime_count"] and not report["matches_known_value"]):
            raise SystemExit(f"the fan-out reported failures or a wrong count: {report}")
        events = self.sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
        entered = next(e["timestamp"] for e in events if e["type"] == "MapStateEntered")
        exited = next(e["timestamp"] for e in events if e["type"] == "MapStateExited")
        durations = [entry["duration_ms"] / 1000 for entry in report["item_durations_ms"]]
        return (exited - entered).total_seconds(), durations, report


@contextmanager
def local_cloud(args: argparse.Namespace) -> Iterator[Any]:
    from localcloud.aws.endpoint import free_port  # noqa: PLC0415
    from localcloud.cloud import LocalCloud  # noqa: PLC0415 - the threads stand-in must run without it
    from localcloud.config import CloudConfig  # noqa: PLC0415

    # A state directory of its own: a local cloud someone else runs (.localcloud/) is left alone.
    with tempfile.TemporaryDirectory(prefix="fanout-bench-") as state_dir:
        config = CloudConfig(
            port=free_port(), state_dir=Path(state_dir), start_pollers=False,
            # One warm worker process per concurrent item, as Lambda would give each its own sandbox.
            max_concurrency=args.concurrency, dev_shm=args.dev_shm,
            parameters={"Stage": "dev", "FanOutMaxConcurrency": str(args.concurrency),
                        "FanOutWorkerMemorySize": str(args.memory_mb)},
        )
        with LocalCloud(config) as cloud:
            yield cloud


def measure(bench: ThreadsBench | LocalCloudBench, args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    # Warm-up, not timed: every worker process the fan-out will use is started once.
    bench.fanout()
    waves = math.ceil(args.items / args.concurrency)
    repetitions: list[Repetition] = []
    reports: list[dict[str, Any] | None] = []
    for repeat in range(args.repeats):
        passes: dict[str, Any] = {}
        order: list[tuple[str, Callable[[], Any]]] = [("sequential", bench.sequential), ("fanout", bench.fanout)]
        for name, run in order if repeat % 2 == 0 else reversed(order):
            passes[name] = run()
        sequential_s, sequential_items = passes["sequential"]
        fanout_s, fanout_items, report = passes["fanout"]
        repetitions.append(Repetition(sequential_s, fanout_s, statistics.median(sequential_items),
                                      [d * 1000 for d in fanout_items]))
        reports.append(report)
    over_ideal = statistics.median(r.fanout_s / (waves * r.one_item_s) for r in repetitions)
    typical_index = sorted(range(len(repetitions)), key=lambda i: repetitions[i].fanout_s)[len(repetitions) // 2]
    typical = repetitions[typical_index]
    saved = (reports[typical_index] or {}).get("compute_saved") or compute_saved(
        [ItemOutcome(index=i, succeeded=True, prime_count=0, duration_ms=d)
         for i, d in enumerate(typical.item_durations_ms)],
        "INLINE",
        FanOutAggregateConfig(FANOUT_BUCKET_NAME="bench-bucket", FANOUT_MAX_CONCURRENCY=args.concurrency,
                              FANOUT_WORKER_MEMORY_MB=args.memory_mb),
    )
    durations = typical.item_durations_ms
    return {
        "map": bench.name,
        "items_description": bench.description,
        "items": args.items,
        "concurrency": args.concurrency,
        "memory_mb": args.memory_mb,
        "processes_per_item": worker_processes(args.memory_mb, visible_cores()),
        "cores_here": visible_cores(),
        "repeats": args.repeats,
        "one_item_s": statistics.median(r.one_item_s for r in repetitions),
        "sequential_s": statistics.median(r.sequential_s for r in repetitions),
        "fanout_s": statistics.median(r.fanout_s for r in repetitions),
        "bound_met": over_ideal <= BOUND_FACTOR,
        "fanout_over_ideal": over_ideal,
        "speedup": statistics.median(r.sequential_s / r.fanout_s for r in repetitions),
        "ideal_speedup": args.items / waves,
        "straggler_ratio": max(durations) / statistics.median(durations),
        "repetitions": [(r.sequential_s, r.fanout_s, r.one_item_s) for r in repetitions],
        "compute_saved": saved,
        # Other work on the machine takes cores from the fan-out first; the 1-minute load says how much.
        "load_average": (load_before, os.getloadavg()[0]),
    }


def report(figures: dict[str, Any]) -> str:
    saved = figures["compute_saved"]
    oversubscribed = figures["concurrency"] * figures["processes_per_item"] > figures["cores_here"]
    lines = [
        "# Fan-out scaling",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {sys.version.split()[0]}, "
        f"{figures['cores_here']} visible cores, 1-minute load average {figures['load_average'][0]:.2f} before / "
        f"{figures['load_average'][1]:.2f} after (this run adds up to C x processes per item).",
        "",
        f"**Map: {figures['map']}.**",
        "",
        f"- K = {figures['items']} items ({figures['items_description']}), MaxConcurrency C = "
        f"{figures['concurrency']}, worker memory {figures['memory_mb']} MB = {figures['processes_per_item']} "
        f"process(es) per item, {figures['repeats']} repetitions (ABBA) after a warm-up",
        f"- one item: {figures['one_item_s']:.3f} s (median over the repetitions of their sequential pass's median)",
        f"- sequential: {figures['sequential_s']:.3f} s; fan-out: {figures['fanout_s']:.3f} s (medians)",
        f"- fan-out / (ceil(K/C) x one item) = {figures['fanout_over_ideal']:.3f} (median of the repetitions' "
        f"ratios) against the bound {BOUND_FACTOR}: **{'MET' if figures['bound_met'] else 'NOT MET'}**",
        f"- speed-up sequential / fan-out: {figures['speedup']:.2f}x (median of the repetitions' ratios; "
        f"ideal {figures['ideal_speedup']:.2f}x); straggler ratio slowest / median item "
        f"{figures['straggler_ratio']:.2f}",
        f"- the one orchestrating Lambda it replaces would wait {saved['orchestrator_wait_ms'] / 1000:.3f} s = "
        f"{saved['orchestrator_gb_seconds']:.4f} GB-s at {saved['orchestrator_memory_mb']} MB; Step Functions "
        f"instead: {saved['state_transitions']} transitions (${saved['step_functions_usd']:.6f} vs "
        f"${saved['orchestrator_usd']:.6f})",
    ]
    if oversubscribed:
        lines += ["", f"Note: C x processes per item = {figures['concurrency'] * figures['processes_per_item']} "
                      f"exceeds the {figures['cores_here']} cores here, so the items compete for CPU (in "
                      "Lambda each has its own): the bound is not expected to hold in this configuration."]
    lines += ["", "| repetition | sequential (s) | fan-out (s) | one item (s) |", "|---|---|---|---|"]
    lines += [f"| {i + 1} | {seq:.3f} | {fan:.3f} | {item:.3f} |"
              for i, (seq, fan, item) in enumerate(figures["repetitions"])]
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--map", choices=["localcloud", "threads"], default="localcloud")
    parser.add_argument("--items", type=int, default=8, help="K, the number of items (<= 40: inline Map)")
    parser.add_argument("--concurrency", type=int, default=2, help="C, the Map's MaxConcurrency")
    parser.add_argument("--memory-mb", type=int, default=1769,
                        help="worker memory; 1769 MB = 1 vCPU = 1 process per item")
    parser.add_argument("--item-seconds", type=float, default=0.4, help="target duration of one item")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dev-shm", action="store_true",
                        help="local cloud: give workers the host's /dev/shm (Lambda has none)")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write bench/results/")
    args = parser.parse_args(argv)
    if not (1 <= args.items <= 40) or args.concurrency < 1 or args.repeats < 1:
        parser.error("--items must be 1..40 (an inline Map), --concurrency and --repeats >= 1")
    if args.map == "threads":
        figures = measure(ThreadsBench(args), args)
    else:
        with local_cloud(args) as cloud:
            figures = measure(LocalCloudBench(args, cloud), args)
    text = report(figures)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "fanout_scaling.md").write_text(text)
    return 0 if figures["bound_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
