"""AWS cost per million orders, from the calls the real handlers make, before and after issue 15.

    python bench/aws_cost.py [--orders 1000] [--baseline 57f51d8]

For each code version (the baseline revision's functions/, taken with `git show` into a temporary
directory, and this tree's), a child process runs N orders through the real handlers against
in-process moto, shaped as AWS would drive them: the orders are sent to WorkQueue in SendMessageBatch
tens, received ten at a time (the SQS mapping's BatchSize) and handed to SqsWorkerFunction's
lambda_handler, deleted after, and then ItemsTable's stream records go to StreamConsumerFunction's
lambda_handler a hundred at a time (its BatchSize). Every AWS call is COUNTED with a botocore
`before-call` hook on the clients (nothing is assumed about what the code does), with the item sizes
of the requests, and converted to billed units:

- DynamoDB on-demand: a write unit per 1 KB of each item written (a refused conditional write too),
  a read unit per 4 KB strongly consistent; items in TransactWriteItems / TransactGetItems twice.
- SQS: one request per call and per started 64 KB of payload (SendMessageBatch, ReceiveMessage,
  DeleteMessageBatch: the mapping's own polling is billed to the account).
- Lambda: one request per invocation; GB-seconds = memory (template Globals) x a duration MODELLED
  from the calls (the latencies below, in-region typical values, plus a fixed per-invocation cost),
  rounded up to the millisecond. The duration is the one modelled figure; it is printed.
- DynamoDB Streams reads by Lambda triggers are free (DynamoDB pricing page).

Prices: us-east-1 list prices (PRICES_AS_OF). Writes bench/results/aws_cost.md.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
from moto import mock_aws

from lambda_toolkit import aws_clients
from localcloud.scenarios.order_traffic import valid_order

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
FUNCTIONS = ("sqs_worker", "stream_consumer")
# The tree before issue 15: the worker behind Powertools idempotency, the consumer record by record.
DEFAULT_BASELINE = "57f51d8"

PRICES_AS_OF = "2025-06 (us-east-1, on-demand list prices)"
WRITE_UNIT_USD = 0.625 / 1e6      # DynamoDB on-demand, per write request unit
READ_UNIT_USD = 0.125 / 1e6       # DynamoDB on-demand, per read request unit
SQS_REQUEST_USD = 0.40 / 1e6      # SQS standard queue, per request (64 KB chunk)
LAMBDA_REQUEST_USD = 0.20 / 1e6   # Lambda, per request
LAMBDA_GB_SECOND_USD = 0.0000166667  # Lambda x86_64, per GB-second

MEMORY_MB = 256  # template.yaml Globals MemorySize (both functions)
# Modelled latency per call as the function sees it in-region (ms), and per invocation.
LATENCY_MS = {"single": 6.0, "batch": 8.0, "transaction": 12.0, "sqs": 10.0}
INVOCATION_OVERHEAD_MS = 3.0
SQS_BATCH = 10
WORK_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:WorkQueue"
STREAM_BATCH = 100

TRANSACTIONS = {"TransactWriteItems", "TransactGetItems"}
BATCHES = {"BatchGetItem", "BatchWriteItem"}


def attribute_size(value: dict[str, Any]) -> int:
    """An attribute value's DynamoDB size (the documented rules, close enough for unit rounding)."""
    (kind, inner), = value.items()
    if kind in ("S", "B"):
        return len(inner.encode() if kind == "S" else base64.b64decode(inner))
    if kind == "N":
        return math.ceil(len(inner.lstrip("-").replace(".", "").lstrip("0") or "0") / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(name.encode()) + attribute_size(v) + 1 for name, v in inner.items())
    if kind == "L":
        return 3 + sum(attribute_size(v) + 1 for v in inner)
    return sum(len(str(v)) for v in inner)  # sets


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


@dataclass
class Meter:
    calls: Counter[str]
    write_units: float = 0.0
    read_units: float = 0.0
    sqs_requests: int = 0
    modelled_ms: float = 0.0

    def dynamodb(self, operation: str, body: dict[str, Any]) -> None:
        self.calls[f"dynamodb:{operation}"] += 1
        factor = 2 if operation in TRANSACTIONS else 1
        kind = "transaction" if operation in TRANSACTIONS else "batch" if operation in BATCHES else "single"
        self.modelled_ms += LATENCY_MS[kind]
        if operation == "PutItem":
            self.write_units += math.ceil(item_size(body["Item"]) / 1024)
        elif operation == "UpdateItem":
            # The item after the update: its key and the values set (an idempotency record, < 1 KB).
            self.write_units += 1
        elif operation == "GetItem":
            self.read_units += 1 if body.get("ConsistentRead") else 0.5
        elif operation == "TransactWriteItems":
            for entry in body["TransactItems"]:
                (action, spec), = entry.items()
                size = item_size(spec["Item"]) if action == "Put" else 1
                self.write_units += factor * math.ceil(size / 1024)
        elif operation == "TransactGetItems":
            self.read_units += factor * len(body["TransactItems"])
        elif operation == "BatchGetItem":
            for request in body["RequestItems"].values():
                self.read_units += len(request["Keys"]) * (1 if request.get("ConsistentRead") else 0.5)
        elif operation == "Query":
            self.read_units += 1  # a customer's markers: well under 4 KB here
        else:
            raise ValueError(f"no billing rule for DynamoDB {operation}")

    def sqs(self, operation: str, body: dict[str, Any], *, in_function: bool) -> None:
        self.calls[f"sqs:{operation}"] += 1
        payload = len(json.dumps(body).encode())
        self.sqs_requests += max(1, math.ceil(payload / 65536))
        if in_function:
            self.modelled_ms += LATENCY_MS["sqs"]


class Counting:
    """Routes every call of the registered clients to the meter; on while ``in_function`` is set."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.in_function = False

    def watch(self, client: Any) -> None:
        client.meta.events.register("before-call.*.*", self._before_call)

    def _before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        service = model.service_model.service_name
        raw = params.get("body") or b"{}"
        body = json.loads(raw) if raw else {}
        if service == "dynamodb" and self.in_function:
            self.meter.dynamodb(model.name, body)
        elif service == "sqs" and model.name in ("SendMessage", "SendMessageBatch", "ReceiveMessage",
                                                  "DeleteMessageBatch", "DeleteMessage"):
            self.meter.sqs(model.name, body, in_function=self.in_function)


def load_app(code_root: Path, function: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"{function}_app", code_root / "functions" / function / "app.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {function} from {code_root}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Context:
    function_name = "bench"
    memory_limit_in_mb = MEMORY_MB
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def create_tables(dynamodb: Any) -> None:
    """The template's tables (IdempotencyTable too: the baseline's worker writes to it)."""
    dynamodb.create_table(
        TableName="ItemsTable", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "customer_id", "AttributeType": "S"},
                              {"AttributeName": "order_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "customer_id", "KeyType": "HASH"},
                   {"AttributeName": "order_id", "KeyType": "RANGE"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    dynamodb.create_table(
        TableName="AggregatesTable", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    dynamodb.create_table(
        TableName="IdempotencyTable", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])


def stream_records(streams: Any, stream_arn: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while True:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            if not page["Records"]:
                break
            records.extend(page["Records"])
            iterator = page["NextShardIterator"]
    for record in records:
        record["eventSourceARN"] = stream_arn
        record["dynamodb"].pop("ApproximateCreationDateTime", None)
    return records


@dataclass(frozen=True)
class Invocations:
    worker: int
    consumer: int


def run_pipeline(code_root: Path, orders: int, counting: Counting) -> Invocations:
    sqs, dynamodb = boto3.client("sqs"), boto3.client("dynamodb")
    create_tables(dynamodb)
    queue = sqs.create_queue(QueueName="WorkQueue")["QueueUrl"]
    dlq = sqs.create_queue(QueueName="WorkDeadLetterQueue")["QueueUrl"]
    os.environ.update({"ITEMS_TABLE_NAME": "ItemsTable", "IDEMPOTENCY_TABLE_NAME": "IdempotencyTable",
                       "AGGREGATES_TABLE_NAME": "AggregatesTable", "DEAD_LETTER_QUEUE_URL": dlq})
    worker, consumer = load_app(code_root, "sqs_worker"), load_app(code_root, "stream_consumer")
    for client in (aws_clients.client("dynamodb"), aws_clients.dynamodb().meta.client, aws_clients.sqs(), sqs):
        counting.watch(client)
    rng, run = random.Random(15), uuid.uuid4().hex[:8]
    bodies = [json.dumps(valid_order(rng, run, index)) for index in range(orders)]
    for start in range(0, orders, SQS_BATCH):
        sqs.send_message_batch(QueueUrl=queue, Entries=[
            {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start:start + SQS_BATCH])])
    worker_invocations = 0
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=SQS_BATCH,
                                          AttributeNames=["All"]).get("Messages", []):
        event = {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                              "attributes": m.get("Attributes", {}), "messageAttributes": {},
                              "eventSource": "aws:sqs", "eventSourceARN": WORK_QUEUE_ARN,
                              "awsRegion": "us-east-1", "md5OfBody": m["MD5OfBody"]} for m in messages]}
        counting.in_function = True
        response = worker.lambda_handler(event, Context())
        counting.in_function = False
        if response["batchItemFailures"]:
            raise RuntimeError(f"the worker failed records: {response}")
        sqs.delete_message_batch(QueueUrl=queue, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        worker_invocations += 1
    stream_arn = dynamodb.describe_table(TableName="ItemsTable")["Table"]["LatestStreamArn"]
    records = stream_records(boto3.client("dynamodbstreams"), stream_arn)
    if len(records) != orders:
        raise RuntimeError(f"{len(records)} stream records for {orders} orders")
    consumer_invocations = 0
    for start in range(0, len(records), STREAM_BATCH):
        counting.in_function = True
        response = consumer.lambda_handler({"Records": records[start:start + STREAM_BATCH]}, Context())
        counting.in_function = False
        if response["batchItemFailures"]:
            raise RuntimeError(f"the stream consumer failed records: {response}")
        consumer_invocations += 1
    check_aggregates(dynamodb, orders)
    return Invocations(worker_invocations, consumer_invocations)


def check_aggregates(dynamodb: Any, orders: int) -> None:
    """The run is only a measurement if the aggregates account for every order."""
    counted = 0
    for page in dynamodb.get_paginator("scan").paginate(TableName="AggregatesTable"):
        counted += sum(int(item["order_count"]["N"]) for item in page["Items"] if item["sk"]["S"] == "AGGREGATE")
    if counted != orders:
        raise RuntimeError(f"aggregates count {counted} orders, {orders} were sent")


def measure(code_root: Path, orders: int) -> dict[str, Any]:
    """Runs in the child process: the counts for one code version."""
    os.environ.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench",
                       "AWS_SECRET_ACCESS_KEY": "bench", "POWERTOOLS_TRACE_DISABLED": "true",
                       "POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_NAMESPACE": "bench",
                       "POWERTOOLS_SERVICE_NAME": "bench"})
    meter = Meter(Counter())
    with mock_aws():
        invocations = run_pipeline(code_root, orders, Counting(meter))
    return {"orders": orders, "calls": dict(meter.calls), "write_units": meter.write_units,
            "read_units": meter.read_units, "sqs_requests": meter.sqs_requests, "modelled_ms": meter.modelled_ms,
            "worker_invocations": invocations.worker, "consumer_invocations": invocations.consumer}


@contextmanager
def baseline_tree(revision: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="aws-cost-") as directory:
        root = Path(directory)
        for function in FUNCTIONS:
            listing = subprocess.run(["git", "ls-tree", "--name-only", f"{revision}:functions/{function}"],
                                     cwd=ROOT, check=True, capture_output=True, text=True).stdout.split()
            (root / "functions" / function).mkdir(parents=True)
            for name in listing:
                text = subprocess.run(["git", "show", f"{revision}:functions/{function}/{name}"],
                                      cwd=ROOT, check=True, capture_output=True, text=True).stdout
                (root / "functions" / function / name).write_text(text)
        yield root


def counts_for(code_root: Path, orders: int) -> dict[str, Any]:
    # The function folders of that version first on the path: its modules, not the installed ones.
    path = os.pathsep.join(str(code_root / "functions" / f) for f in FUNCTIONS)
    env = {**os.environ, "PYTHONPATH": path}
    output = subprocess.run([sys.executable, __file__, "--child", str(code_root), "--orders", str(orders)],
                            env=env, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def cost_per_million(counts: dict[str, Any]) -> dict[str, float]:
    scale = 1e6 / counts["orders"]
    invocations = counts["worker_invocations"] + counts["consumer_invocations"]
    billed_ms = counts["modelled_ms"] + invocations * INVOCATION_OVERHEAD_MS
    gb_seconds = billed_ms / 1000 * MEMORY_MB / 1024
    costs = {
        "DynamoDB writes": counts["write_units"] * WRITE_UNIT_USD,
        "DynamoDB reads": counts["read_units"] * READ_UNIT_USD,
        "SQS requests": counts["sqs_requests"] * SQS_REQUEST_USD,
        "Lambda requests": invocations * LAMBDA_REQUEST_USD,
        "Lambda GB-s": gb_seconds * LAMBDA_GB_SECOND_USD,
    }
    costs = {name: value * scale for name, value in costs.items()}
    costs["total"] = sum(costs.values())
    return costs


def report(before: dict[str, Any], after: dict[str, Any], baseline: str) -> str:
    cost_before, cost_after = cost_per_million(before), cost_per_million(after)
    per_order = 1 / before["orders"]
    lines = [
        "# AWS cost per million orders (`make bench-cost`)",
        "",
        f"{before['orders']} orders through the real handlers (in-process moto), every call counted; "
        f"prices {PRICES_AS_OF}. Baseline: revision `{baseline}` (before issue 15).",
        "",
        "| | before | after |",
        "|---|---:|---:|",
    ]
    for name in ("DynamoDB writes", "DynamoDB reads", "SQS requests", "Lambda requests", "Lambda GB-s", "total"):
        lines.append(f"| {name} USD / 1M orders | {cost_before[name]:.2f} | {cost_after[name]:.2f} |")
    for key, label in (("write_units", "write units / order"), ("read_units", "read units / order"),
                       ("sqs_requests", "SQS requests / order"), ("modelled_ms", "modelled function ms / order")):
        lines.append(f"| {label} | {before[key] * per_order:.3f} | {after[key] * per_order:.3f} |")
    calls = sorted(set(before["calls"]) | set(after["calls"]))
    for call in calls:
        lines.append(f"| {call} / order | {before['calls'].get(call, 0) * per_order:.3f} "
                     f"| {after['calls'].get(call, 0) * per_order:.3f} |")
    ratio = cost_before["total"] / cost_after["total"]
    dynamodb_ratio = ((cost_before["DynamoDB writes"] + cost_before["DynamoDB reads"])
                      / (cost_after["DynamoDB writes"] + cost_after["DynamoDB reads"]))
    lines += ["", f"**Total cost ratio before / after: {ratio:.2f}x** (target >= 3x); "
              f"DynamoDB alone {dynamodb_ratio:.2f}x.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--baseline", default=DEFAULT_BASELINE)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child, args.orders)))
        return
    with baseline_tree(args.baseline) as old_root:
        before = counts_for(old_root, args.orders)
    after = counts_for(ROOT, args.orders)
    text = report(before, after, args.baseline)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "aws_cost.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
