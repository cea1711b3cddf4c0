"""Orders end to end through the local cloud (send -> ItemsTable -> AggregatesTable, reconciled) against the moto floor.

    python bench/end_to_end_throughput.py [--orders 600] [--warmup 50] [--no-write]

Local cloud: N orders sent to WorkQueue; the SQS poller invokes SqsWorkerFunction (one conditional put
per new order into ItemsTable), the stream poller invokes StreamConsumerFunction on ItemsTable's stream
(AggregatesTable). Done when tools.reconcile_aggregates.reconcile finds AggregatesTable equal to the
recomputation from ItemsTable and every order is in ItemsTable (checked every POLL_INTERVAL_S once the
stream mapping has checkpointed a record per order: its own counter, no AWS call; the check's scans
would otherwise take the moto server's time from the run being measured).

Moto floor, in the same run against the same moto server: one process makes the same AWS calls with
no pollers, invokers or worker processes. N orders sent to a queue nobody polls; receive 10, call
SqsWorkerFunction's handler in-process (writing a copy of ItemsTable, same schema and stream), delete;
then read that copy's stream (GetRecords, the mapping's batch size) and call StreamConsumerFunction's
handler in-process on each batch (writing a copy of AggregatesTable); then reconcile the copies.

Printed and written to bench/results/end_to_end_throughput.md: orders/s of both, and the ratio
local cloud orders/s / floor orders/s (above 1 when the pipeline's concurrency beats one process).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from localcloud.aws.clients import LocalAws
from localcloud.aws.endpoint import free_port
from localcloud.cloud import LocalCloud
from localcloud.config import CloudConfig
from localcloud.deploy.deployed_stack import DeployedFunction
from localcloud.event_sources.dynamodb_streams import lambda_dynamodb_record
from localcloud.event_sources.sqs import lambda_sqs_record
from localcloud.runtime.environment import sandbox_environment
from localcloud.runtime.worker_main import LambdaContext
from localcloud.scenarios.order_traffic import generate_orders, send_orders
from tools.reconcile_aggregates import ReconcileReport, reconcile

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
POLL_INTERVAL_S = 0.5
TIMEOUT_S = 600.0
TARGET_ORDERS_PER_S = 150.0
STREAM_BATCH = 100  # StreamConsumerFunction's mapping BatchSize in template.yaml


@dataclass(frozen=True)
class Run:
    name: str
    orders: int
    total_s: float

    @property
    def orders_per_s(self) -> float:
        return self.orders / self.total_s


def tables(aws: LocalAws, items: str, aggregates: str) -> tuple[Any, Any]:
    resource = aws.resource("dynamodb")
    return resource.Table(items), resource.Table(aggregates)


def check(aws: LocalAws, items: str, aggregates: str, expected_orders: int) -> ReconcileReport | None:
    report = reconcile(*tables(aws, items, aggregates))
    return report if report.ok and report.orders_scanned >= expected_orders else None


def stream_records_completed(cloud: LocalCloud) -> int:
    """Records ItemsTable's stream mapping has checkpointed past: the poller's own counter, no AWS call."""
    pollers = cloud.pollers
    stats = pollers.stats() if pollers is not None else {}
    return sum(counters["records_completed"] for name, counters in stats.items() if "StreamConsumerFunction" in name)


def run_local_cloud(cloud: LocalCloud, orders: int, seed: int, already: int) -> Run:
    stack = cloud.stack
    items, aggregates = stack.tables["ItemsTable"].name, stack.tables["AggregatesTable"].name
    started = time.time()
    send_orders(cloud.aws.sqs, stack.queues["WorkQueue"].url, generate_orders(orders, seed=seed))
    deadline = time.monotonic() + TIMEOUT_S
    # The full reconcile scans both tables through the same moto server the pipeline uses, so it runs
    # only once the stream mapping has been through a record per order (one INSERT each): polled every
    # POLL_INTERVAL_S, scans would take server time from the run they measure.
    while stream_records_completed(cloud) < already + orders or \
            check(cloud.aws, items, aggregates, already + orders) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"local cloud: not reconciled after {TIMEOUT_S} s")
        time.sleep(POLL_INTERVAL_S)
    return Run("local cloud", orders, time.time() - started)


class Floor:
    """The pipeline's AWS calls from one process: both handlers in-process, on copies of both tables."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        aws = cloud.aws
        self.queue_url = aws.sqs.create_queue(QueueName="bench-floor-orders")["QueueUrl"]
        self.queue_arn = aws.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.items = self._copy_table(cloud.stack.tables["ItemsTable"].name, "bench-floor-items")
        self.aggregates = self._copy_table(cloud.stack.tables["AggregatesTable"].name, "bench-floor-aggregates")
        self.stream_arn = aws.dynamodb.describe_table(TableName=self.items)["Table"]["LatestStreamArn"]
        self.iterator: str | None = None
        self.log = open(cloud.config.log_dir / "floor.log", "a")  # noqa: SIM115 - open for the run
        self.worker = self._load("SqsWorkerFunction", {"ITEMS_TABLE_NAME": self.items})
        self.consumer = self._load("StreamConsumerFunction", {"AGGREGATES_TABLE_NAME": self.aggregates})

    def _copy_table(self, source: str, name: str) -> str:
        table = self.cloud.aws.dynamodb.describe_table(TableName=source)["Table"]
        arguments: dict[str, Any] = {"TableName": name, "KeySchema": table["KeySchema"],
                                     "AttributeDefinitions": table["AttributeDefinitions"],
                                     "BillingMode": "PAY_PER_REQUEST"}
        if "StreamSpecification" in table:
            arguments["StreamSpecification"] = table["StreamSpecification"]
        self.cloud.aws.dynamodb.create_table(**arguments)
        return name

    def _load(self, logical_id: str, overrides: dict[str, str]) -> ModuleType:
        # The environment its worker processes get, pointed at the copies; modules read it at import.
        function: DeployedFunction = self.cloud.stack.functions[logical_id]
        environment = sandbox_environment(function, endpoint_url=self.cloud.config.endpoint_url,
                                          region=self.cloud.stack.region)
        os.environ.update({k: v for k, v in environment.items() if k not in ("PYTHONPATH", "PATH")} | overrides)
        spec = importlib.util.spec_from_file_location(f"floor_{logical_id}", Path(str(function.code_dir)) / "app.py")
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {function.code_dir}/app.py")
        module = importlib.util.module_from_spec(spec)
        with contextlib.redirect_stdout(self.log):  # Powertools binds sys.stdout at import: a file, as in a worker
            spec.loader.exec_module(module)
        return module

    def _call(self, module: ModuleType, logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
        function = self.cloud.stack.functions[logical_id]
        context = LambdaContext(f"floor-{time.monotonic_ns()}", int((time.time() + function.timeout_s) * 1000),
                                function.arn)
        with contextlib.redirect_stdout(self.log):
            response: dict[str, Any] = module.lambda_handler(event, context) or {}
        return response

    def run(self, orders: int, seed: int, already: int) -> Run:
        sqs, region = self.cloud.aws.sqs, self.cloud.stack.region
        started = time.time()
        send_orders(sqs, self.queue_url, generate_orders(orders, seed=seed))
        while received := sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                              MessageSystemAttributeNames=["All"],
                                              MessageAttributeNames=["All"]).get("Messages", []):
            event = {"Records": [lambda_sqs_record(message, queue_arn=self.queue_arn, region=region)
                                 for message in received]}
            failed = {failure["itemIdentifier"]
                      for failure in self._call(self.worker, "SqsWorkerFunction", event).get("batchItemFailures", [])}
            done = [message for message in received if message["MessageId"] not in failed]
            if done:
                sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(done)])
        self._consume_stream()
        if check(self.cloud.aws, self.items, self.aggregates, already + orders) is None:
            raise RuntimeError("moto floor: the copies do not reconcile")
        return Run("moto floor", orders, time.time() - started)

    def _consume_stream(self) -> None:
        streams = self.cloud.aws.client("dynamodbstreams")
        if self.iterator is None:
            shard = streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"][0]
            self.iterator = streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard["ShardId"],
                                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while True:
            page = streams.get_records(ShardIterator=self.iterator, Limit=STREAM_BATCH)
            self.iterator = page["NextShardIterator"]
            if not page["Records"]:
                return
            event = {"Records": [lambda_dynamodb_record(record, stream_arn=self.stream_arn,
                                                        region=self.cloud.stack.region).record
                                 for record in page["Records"]]}
            if self._call(self.consumer, "StreamConsumerFunction", event).get("batchItemFailures"):
                raise RuntimeError("moto floor: the stream consumer reported failures")


def render(runs: list[tuple[Run, Run]], args: argparse.Namespace) -> str:
    lines = [
        "# End to end throughput: local cloud against the moto floor",
        "",
        f"Generated by `python bench/end_to_end_throughput.py --orders {args.orders} --rounds {args.rounds}` on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"after a {args.warmup}-order warm-up. Time runs from the first send until AggregatesTable reconciles "
        f"with ItemsTable (checked every {POLL_INTERVAL_S} s once the stream mapping has checkpointed a record per "
        "order) with every order written.",
        "",
        "| round | local cloud s | local cloud orders/s | moto floor s | moto floor orders/s | ratio local/floor |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for index, (local, floor) in enumerate(runs, start=1):
        lines.append(f"| {index} | {local.total_s:.2f} | {local.orders_per_s:.1f} | {floor.total_s:.2f} | "
                     f"{floor.orders_per_s:.1f} | {local.orders_per_s / floor.orders_per_s:.2f} |")
    best = max(local.orders_per_s for local, _floor in runs)
    verdict = "MET" if best >= TARGET_ORDERS_PER_S else "NOT MET"
    lines += ["", f"- {verdict}: target {TARGET_ORDERS_PER_S:.0f} orders/s end to end; best round {best:.1f}.",
              "- The floor makes the pipeline's AWS calls from one process, with no pollers, invokers or worker "
              "processes, on copies of both tables (same keys, same stream)."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=600)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2, help="local cloud then floor, this many times")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/results alone")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="localcloud-e2e-") as state_dir, \
            LocalCloud(CloudConfig(port=free_port(), state_dir=Path(state_dir))) as cloud:
        floor = Floor(cloud)
        print("warming up both paths...", flush=True)
        run_local_cloud(cloud, args.warmup, seed=1, already=0)
        floor.run(args.warmup, seed=2, already=0)
        done = args.warmup
        for round_index in range(args.rounds):
            print(f"round {round_index + 1}: local cloud {args.orders} orders...", flush=True)
            local = run_local_cloud(cloud, args.orders, seed=10 + round_index, already=done)
            print(f"  {local.orders_per_s:.1f} orders/s; moto floor...", flush=True)
            floor_run = floor.run(args.orders, seed=20 + round_index, already=done)
            print(f"  {floor_run.orders_per_s:.1f} orders/s", flush=True)
            done += args.orders
            runs.append((local, floor_run))
    report = render(runs, args)
    print(report)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "end_to_end_throughput.md").write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
