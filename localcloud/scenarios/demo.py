"""`make demo` (`python -m localcloud demo`): the whole suite on a fresh local cloud, reconciled.

1. start a local cloud on a free port (its own state directory) and deploy template.yaml;
2. orders: valid ones, malformed ones and exact duplicates into WorkQueue; wait until it drains;
   every message is accounted for by id (localcloud.scenarios.order_reconciliation): written, dead-lettered
   with a reason, or suppressed as a duplicate, and none lost;
3. stream: if StreamConsumerFunction is deployed, wait until AggregatesTable equals what ItemsTable
   implies (tools.reconcile_aggregates);
4. CPU benchmark: if CpuBenchmarkFunction is deployed, one quick run, results verified;
5. fan-out: if FanOutStateMachine is deployed, a small job (must count the primes right) and a job
   with an injected item failure (must be caught and reported, not fail the execution).
Workloads are detected by logical id, so the demo runs whatever the template has. Exit status 1 when
anything does not reconcile or fails.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from localcloud.aws.clients import LocalAws
from localcloud.cloud import LocalCloud
from localcloud.config import PROJECT_ROOT, CloudConfig
from localcloud.deploy.deployed_stack import DeployedStack
from localcloud.scenarios.order_reconciliation import OrderReconciliation, queue_depth, reconcile_orders
from localcloud.scenarios.order_traffic import SentMessage, generate_orders, send_orders, waves
from localcloud.stepfunctions.executions import run_execution

CPU_BENCHMARK_EVENT = PROJECT_ROOT / "events" / "cpu_benchmark" / "quick.json"
FANOUT_INPUTS = PROJECT_ROOT / "statemachines" / "inputs"
POLL_INTERVAL_S = 0.25


@dataclass(frozen=True)
class DemoOptions:
    orders: int = 300
    malformed: int = 20
    duplicates: int = 20
    # Longer than WorkQueue's VisibilityTimeout (181 s): a batch that fails once (a worker lost while
    # it starts on a loaded machine) comes back after it and is processed, as on AWS; the demo then
    # takes minutes instead of seconds, and says why if the queue still does not drain.
    timeout_s: float = 240.0
    json_output: bool = False


@dataclass
class Check:
    name: str
    ok: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


def wait_for_drain(
    aws: LocalAws, stack: DeployedStack, *, timeout_s: float, on_progress: Callable[[int], None] | None = None,
) -> bool:
    """Wait until WorkQueue holds nothing (visible or in flight); False when the time ran out."""
    deadline = time.monotonic() + timeout_s
    url = stack.queues["WorkQueue"].url
    while True:
        depth = queue_depth(aws, url)
        if on_progress is not None:
            on_progress(depth)
        if depth == 0:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_INTERVAL_S)


def run_demo(config: CloudConfig, options: DemoOptions, console: Console) -> int:
    started = time.monotonic()
    checks: list[Check] = []
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, transient=False, disable=options.json_output)
    cloud = LocalCloud(config)
    with progress:
        step = progress.add_task("starting moto, deploying template.yaml, starting pollers", total=1)
        try:
            cloud.start()
            progress.update(step, completed=1)
            stack = cloud.stack
            checks.append(_orders(cloud, options, progress))
            if "StreamConsumerFunction" in stack.functions and "AggregatesTable" in stack.tables:
                checks.append(_stream_aggregates(cloud, options, progress))
            if "CpuBenchmarkFunction" in stack.functions:
                checks.append(_cpu_benchmark(cloud, progress))
            if "FanOutStateMachine" in stack.state_machines:
                checks.extend(_fan_out(cloud, progress))
            checks.append(_runtime_health(cloud))
        finally:
            cloud.stop()
    elapsed = time.monotonic() - started
    ok = all(check.ok for check in checks)
    if options.json_output:
        print(json.dumps({"ok": ok, "elapsed_s": round(elapsed, 1),
                          "checks": [check.__dict__ for check in checks]}, indent=2, default=str))
    else:
        _render(checks, ok, elapsed, console)
    return 0 if ok else 1


def _orders(cloud: LocalCloud, options: DemoOptions, progress: Progress) -> Check:
    stack = cloud.stack
    messages = generate_orders(options.orders, malformed=options.malformed, duplicates=options.duplicates)
    total = len(messages)
    sending = progress.add_task("sending orders to WorkQueue (duplicates in a second wave)", total=total)
    processing = progress.add_task("WorkQueue -> SqsWorkerFunction -> ItemsTable / DLQ", total=total)
    sent: list[SentMessage] = []
    drained = True
    deadline = time.monotonic() + options.timeout_s
    for wave in waves(messages):
        sent += send_orders(cloud.aws.sqs, stack.queues["WorkQueue"].url, wave,
                            on_sent=lambda count: progress.advance(sending, count))
        sent_so_far = len(sent)

        def show(depth: int, sent_so_far: int = sent_so_far) -> None:
            progress.update(processing, completed=sent_so_far - depth)

        drained = drained and wait_for_drain(cloud.aws, stack, timeout_s=max(0.0, deadline - time.monotonic()),
                                             on_progress=show)
    report: OrderReconciliation = reconcile_orders(cloud.aws, stack, sent)
    summary = (f"sent {report.total_sent} = written {report.written} + dead-lettered {report.dead_lettered} "
               f"+ duplicates suppressed {report.suppressed}"
               + (f" + still queued {report.still_queued}" if report.still_queued else "")
               + f"; lost {len(report.lost)}, misrouted {len(report.misrouted)}")
    if not drained:
        summary += f" (WorkQueue did not drain within {options.timeout_s:.0f} s{_why_not_drained(cloud)})"
    expected = (report.written == options.orders and report.dead_lettered == options.malformed
                and report.suppressed == options.duplicates)
    return Check("orders reconcile", report.ok and drained and expected, summary, report.to_document())


def _why_not_drained(cloud: LocalCloud) -> str:
    """What the queue worker's mapping and function counted: a batch that failed is invisible again for
    WorkQueue's VisibilityTimeout, longer than the demo waits."""
    status = cloud.runtime_status()
    mappings = {name: stats for name, stats in status["pollers"].items() if "SqsWorkerFunction" in name}
    function = status["functions"].get("SqsWorkerFunction", {})
    failures = {name: {key: stats[key] for key in ("batches_failed", "records_reported_failed", "retries")}
                for name, stats in mappings.items()}
    exits = {key: function[key] for key in ("exits", "timeouts") if function.get(key)}
    return f"; mapping: {failures}; function: {exits or 'no exits or timeouts'}"


def _stream_aggregates(cloud: LocalCloud, options: DemoOptions, progress: Progress) -> Check:
    # Imported only when the stream consumer is deployed: it loads the consumer's own modules.
    from tools.reconcile_aggregates import reconcile  # noqa: PLC0415

    dynamodb = cloud.aws.resource("dynamodb")
    items = dynamodb.Table(cloud.stack.tables["ItemsTable"].name)
    aggregates = dynamodb.Table(cloud.stack.tables["AggregatesTable"].name)
    task = progress.add_task("ItemsTable stream -> StreamConsumerFunction -> AggregatesTable", total=None)
    deadline = time.monotonic() + options.timeout_s
    while True:
        report = reconcile(items, aggregates)
        if report.ok or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    progress.update(task, total=1, completed=1)
    summary = (f"{report.customers_checked} customer aggregates from {report.orders_scanned} orders: "
               f"{len(report.differences)} difference(s), {len(report.invalid_orders)} invalid order(s)")
    return Check("stream aggregates reconcile", report.ok, summary, report.to_document())


def _cpu_benchmark(cloud: LocalCloud, progress: Progress) -> Check:
    task = progress.add_task("CpuBenchmarkFunction (events/cpu_benchmark/quick.json)", total=1)
    result = cloud.invoke("CpuBenchmarkFunction", json.loads(CPU_BENCHMARK_EVENT.read_text()))
    progress.update(task, completed=1)
    if result.failed or not isinstance(result.payload, dict):
        return Check("CPU benchmark", False, f"invoke failed: {result.error}", {"error": result.error})
    report = result.payload
    best = ", ".join(f"{mode} x{measurement['speedup']:.2f} ({measurement['workers']} workers)"
                     for mode, measurement in report.get("best_speedup", {}).items())
    verified = bool(report.get("result", {}).get("verified"))
    return Check("CPU benchmark", verified,
                 f"results verified: {verified}; best speed-up: {best or 'n/a'}; {result.duration_ms / 1000:.1f} s",
                 {"best_speedup": report.get("best_speedup"), "result": report.get("result")})


def _fan_out(cloud: LocalCloud, progress: Progress) -> list[Check]:
    machine = cloud.stack.state_machines["FanOutStateMachine"].arn
    checks = []
    for input_name, expect_failed_items in (("small_job.json", 0), ("failing_item_job.json", 1)):
        path = FANOUT_INPUTS / input_name
        if not path.is_file():
            continue
        task = progress.add_task(f"FanOutStateMachine ({input_name})", total=1)
        outcome = run_execution(cloud.aws.stepfunctions, machine, json.loads(path.read_text()), timeout_s=120)
        progress.update(task, completed=1)
        output = outcome.output if isinstance(outcome.output, dict) else {}
        failed_items = int(output.get("items_failed", -1))
        ok = outcome.succeeded and failed_items == expect_failed_items and (
            expect_failed_items > 0 or output.get("matches_known_value") is True)
        summary = (f"{outcome.status} in {outcome.duration_s:.1f} s: {output.get('item_count')} items "
                   f"({output.get('mode')}), prime count {output.get('prime_count')}, "
                   f"failed items {failed_items} (expected {expect_failed_items})")
        if not outcome.succeeded:
            summary = f"{outcome.status}: {outcome.error}: {(outcome.cause or '')[:300]}"
        checks.append(Check(f"fan-out {input_name}", ok, summary, outcome.to_document()))
    return checks


def _runtime_health(cloud: LocalCloud) -> Check:
    status = cloud.runtime_status()
    errors = status["poller_errors"]
    timeouts = {name: stats["timeouts"] for name, stats in status["functions"].items() if stats.get("timeouts")}
    summary = (f"pollers: {len(status['pollers'])} running, {len(errors)} died; "
               f"function timeouts: {timeouts or 'none'}")
    return Check("local cloud health", not errors, summary, {"pollers": status["pollers"],
                                                             "functions": status["functions"]})


def _render(checks: list[Check], ok: bool, elapsed: float, console: Console) -> None:
    table = Table(title="lambda-suite on the local cloud", title_justify="left", show_lines=True)
    table.add_column("check")
    table.add_column("result")
    table.add_column("figures")
    for check in checks:
        table.add_row(check.name, "[green]OK[/]" if check.ok else "[red]FAILED[/]", check.summary)
    console.print(table)
    verdict = "[bold green]everything reconciles[/]" if ok else "[bold red]something does not reconcile[/]"
    console.print(f"{verdict} ({elapsed:.0f} s)")
