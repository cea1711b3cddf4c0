"""Orders through the local cloud's pipeline against a plain loop making the same AWS calls.

    python bench/localcloud_pipeline.py [--orders 1000] [--warmup 50]

Local cloud: N orders sent to WorkQueue; the SQS poller (the template's mapping: batches of 10,
MaximumConcurrency 5) invokes SqsWorkerFunction in warm worker processes (the default invoker), which
writes each order to ItemsTable. Direct loop: the same number of new orders sent to a queue nobody
polls, then one process receives 10 at a time, calls the same handler in-process (same code, same
environment, same endpoint) and deletes what succeeded: the AWS calls the pipeline makes, without
pollers, worker processes or invokes. Both start warm (a warm-up run first) and run with the rest of
the local cloud running (the stream consumer reads ItemsTable's stream in both).

Reported for each: orders/s (first send to last write) and the median time from an order's send to
its written_at in ItemsTable; overhead = local cloud total time / direct total time (target <= 1.5).
Writes bench/results/localcloud_pipeline.md.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

from localcloud.aws.clients import LocalAws  # noqa: E402
from localcloud.aws.endpoint import free_port  # noqa: E402
from localcloud.cloud import LocalCloud  # noqa: E402
from localcloud.config import CloudConfig  # noqa: E402
from localcloud.deploy.deployed_stack import DeployedFunction  # noqa: E402
from localcloud.event_sources.sqs import lambda_sqs_record  # noqa: E402
from localcloud.runtime.environment import sandbox_environment  # noqa: E402
from localcloud.runtime.worker_main import LambdaContext  # noqa: E402
from localcloud.scenarios.order_reconciliation import queue_depth  # noqa: E402
from localcloud.scenarios.order_traffic import SentMessage, generate_orders, send_orders  # noqa: E402

OVERHEAD_TARGET = 1.5
POLL_INTERVAL_S = 0.25
TIMEOUT_S = 600.0


@dataclass(frozen=True)
class RunResult:
    name: str
    orders: int
    total_s: float
    latencies_s: list[float]

    @property
    def orders_per_s(self) -> float:
        return self.orders / self.total_s

    @property
    def median_latency_s(self) -> float:
        return statistics.median(self.latencies_s)

    @property
    def p90_latency_s(self) -> float:
        return statistics.quantiles(self.latencies_s, n=10)[-1]


def written_at(aws: LocalAws, table: str, order_ids: set[str]) -> dict[str, float]:
    """order_id -> written_at (epoch s) for the given orders found in ItemsTable."""
    found: dict[str, float] = {}
    request: dict[str, Any] = {"TableName": table, "ProjectionExpression": "order_id, written_at"}
    while True:
        page = aws.dynamodb.scan(**request)
        for item in page["Items"]:
            order_id = item["order_id"]["S"]
            if order_id in order_ids:
                found[order_id] = datetime.fromisoformat(item["written_at"]["S"]).timestamp()
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def measure(name: str, aws: LocalAws, table: str, sent: list[SentMessage], first_send: float) -> RunResult:
    order_ids = {message.order_key[1] for message in sent if message.order_key}
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        found = written_at(aws, table, order_ids)
        if len(found) == len(order_ids):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: only {len(found)} of {len(order_ids)} orders written in {TIMEOUT_S} s")
        time.sleep(POLL_INTERVAL_S)
    sent_at = {message.order_key[1]: message.sent_at for message in sent if message.order_key}
    latencies = [found[order_id] - sent_at[order_id] for order_id in order_ids]
    return RunResult(name, len(order_ids), max(found.values()) - first_send, latencies)


def run_local_cloud(cloud: LocalCloud, orders: int, seed: int) -> RunResult:
    stack = cloud.stack
    messages = generate_orders(orders, seed=seed)
    first_send = time.time()
    sent = send_orders(cloud.aws.sqs, stack.queues["WorkQueue"].url, messages)
    result = measure("local cloud", cloud.aws, stack.tables["ItemsTable"].name, sent, first_send)
    while queue_depth(cloud.aws, stack.queues["WorkQueue"].url):  # the last deletes, before the next run
        time.sleep(POLL_INTERVAL_S)
    return result


class DirectLoop:
    """SqsWorkerFunction's handler called in this process, fed by a plain receive/delete loop."""

    log: Any

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        function = cloud.stack.functions["SqsWorkerFunction"]
        self.queue_url = cloud.aws.sqs.create_queue(QueueName="bench-direct-orders")["QueueUrl"]
        self.queue_arn = cloud.aws.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.handler_module = self._load_handler(function)

    def _load_handler(self, function: DeployedFunction) -> ModuleType:
        # The environment the worker processes get (variables, endpoint, credentials), then the import,
        # as a cold start would do it: the module reads its configuration at import.
        environment = sandbox_environment(function, endpoint_url=self.cloud.config.endpoint_url,
                                          region=self.cloud.stack.region)
        os.environ.update({k: v for k, v in environment.items() if k not in ("PYTHONPATH", "PATH")})
        spec = importlib.util.spec_from_file_location("sqs_worker_app", Path(str(function.code_dir)) / "app.py")
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {function.code_dir}/app.py")
        module = importlib.util.module_from_spec(spec)
        # Powertools' logger binds sys.stdout when the module creates it: point it at a file, as the
        # worker processes' output goes to theirs, so neither path pays for a terminal.
        self.log = open(self.cloud.config.log_dir / "direct-loop.log", "a")  # noqa: SIM115 - open for the run
        stdout, sys.stdout = sys.stdout, self.log
        try:
            spec.loader.exec_module(module)
        finally:
            sys.stdout = stdout
        return module

    def run(self, orders: int, seed: int) -> RunResult:
        sqs = self.cloud.aws.sqs
        function = self.cloud.stack.functions["SqsWorkerFunction"]
        messages = generate_orders(orders, seed=seed)
        first_send = time.time()
        sent = send_orders(sqs, self.queue_url, messages)
        while True:
            received = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                           MessageSystemAttributeNames=["All"],
                                           MessageAttributeNames=["All"]).get("Messages", [])
            if not received:
                break
            event = {"Records": [lambda_sqs_record(message, queue_arn=self.queue_arn, region=self.cloud.stack.region)
                                 for message in received]}
            context = LambdaContext(f"direct-{time.monotonic_ns()}",
                                    int((time.time() + function.timeout_s) * 1000), function.arn)
            with contextlib.redirect_stdout(self.log):  # EMF metrics are printed: to the log, as in a worker
                response = self.handler_module.lambda_handler(event, context)
            failed = {failure["itemIdentifier"] for failure in response.get("batchItemFailures", [])}
            done = [message for message in received if message["MessageId"] not in failed]
            if done:
                sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(done)])
        return measure("direct loop", self.cloud.aws, self.cloud.stack.tables["ItemsTable"].name, sent, first_send)


def invoke_overhead_ms(cloud: LocalCloud, direct: DirectLoop, repeats: int) -> tuple[float, float]:
    """Median ms of an empty-batch invoke through the invoker, and of the same handler call in-process."""
    function = cloud.stack.functions["SqsWorkerFunction"]
    event: dict[str, Any] = {"Records": []}
    through_invoker, in_process = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        cloud.invoke("SqsWorkerFunction", event)
        through_invoker.append((time.perf_counter() - started) * 1000)
        context = LambdaContext("overhead", int((time.time() + function.timeout_s) * 1000), function.arn)
        started = time.perf_counter()
        with contextlib.redirect_stdout(direct.log):
            direct.handler_module.lambda_handler(event, context)
        in_process.append((time.perf_counter() - started) * 1000)
    return statistics.median(through_invoker), statistics.median(in_process)


def render(local: RunResult, direct: RunResult, overhead: tuple[float, float], args: argparse.Namespace) -> str:
    ratio = local.total_s / direct.total_s
    latency_ratio = local.median_latency_s / direct.median_latency_s
    verdict = "PASS" if ratio <= OVERHEAD_TARGET else "FAIL"
    lines = [
        "# Local cloud pipeline against a direct loop",
        "",
        f"Generated by `python bench/localcloud_pipeline.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"{args.orders} orders per run after a {args.warmup}-order warm-up, {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}. Time runs from the first send to the last `written_at` in ItemsTable.",
        "",
        "| run | orders | total s | orders/s | median send->written s | p90 s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for result in (local, direct):
        lines.append(f"| {result.name} | {result.orders} | {result.total_s:.2f} | {result.orders_per_s:.1f} | "
                     f"{result.median_latency_s:.3f} | {result.p90_latency_s:.3f} |")
    lines += ["", f"- {verdict}: overhead (local cloud total / direct total) {ratio:.2f} (target <= "
              f"{OVERHEAD_TARGET}); median latency ratio {latency_ratio:.2f}",
              f"- One warm invoke (empty batch) through the subprocess invoker: median {overhead[0]:.2f} ms; the "
              f"same handler call in-process: {overhead[1]:.2f} ms; per-invoke overhead "
              f"{overhead[0] - overhead[1]:.2f} ms ({args.invokes} invokes).",
              "- The pipeline runs SqsWorkerFunction in up to 5 concurrent batches (the mapping's "
              "MaximumConcurrency) where the loop runs one; both are bound by the single moto server process."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--invokes", type=int, default=200, help="empty-batch invokes for the per-invoke overhead")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/results alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="localcloud-bench-") as state_dir, \
            LocalCloud(CloudConfig(port=free_port(), state_dir=Path(state_dir))) as cloud:
        direct = DirectLoop(cloud)
        print("warming up both paths...", flush=True)
        run_local_cloud(cloud, args.warmup, seed=1)
        direct.run(args.warmup, seed=2)
        print(f"local cloud: {args.orders} orders...", flush=True)
        local_result = run_local_cloud(cloud, args.orders, seed=3)
        print(f"direct loop: {args.orders} orders...", flush=True)
        direct_result = direct.run(args.orders, seed=4)
        print(f"per-invoke overhead: {args.invokes} empty-batch invokes...", flush=True)
        overhead = invoke_overhead_ms(cloud, direct, args.invokes)
    ratio = local_result.total_s / direct_result.total_s
    report = render(local_result, direct_result, overhead, args)
    print(report)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "localcloud_pipeline.md").write_text(report)
    return 0 if ratio <= OVERHEAD_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
