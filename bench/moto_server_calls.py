"""What one AWS call costs on the local cloud's moto server: moto as shipped vs the local cloud's server.

    python bench/moto_server_calls.py [--rounds 5] [--no-write]

Three servers run side by side, each `python -m localcloud.motoserver` in its own process:
  shipped   moto_server's werkzeug server, without localcloud.motoserver.performance (--moto-as-shipped
            --http-server werkzeug): what moto alone gives;
  speed-ups werkzeug, with the performance patches;
  local     cheroot (keep-alive, thread pool) with the patches: what the local cloud runs.
The same client code makes the same calls against each, one server after the other within a round
(rounds interleave the servers, so drifts in the machine's load fall on all three). Per call: wall
time as the client sees it and the server process's CPU time, medians over the rounds. The calls are
the pipeline's own: PutItem, GetItem, BatchGetItem of 3, SendMessageBatch of 10, ReceiveMessage of 10
+ DeleteMessageBatch, GetRecords of 100 stream records, and a Scan page of 1,000 items (reconcile).

Writes bench/results/moto_server_calls.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import psutil

from localcloud.aws.endpoint import free_port, is_healthy

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SERVERS: dict[str, list[str]] = {
    "shipped": ["--moto-as-shipped", "--http-server", "werkzeug"],
    "speed-ups": ["--http-server", "werkzeug"],
    "local": ["--http-server", "cheroot"],
}
ITEMS = 1000


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    clients: dict[str, Any] = field(default_factory=dict)
    # (operation, round) -> (wall ms per call, server CPU ms per call)
    figures: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self.clients:
            self.clients[service] = boto3.client(  # type: ignore[call-overload]
                service, endpoint_url=self.url, region_name="us-east-1",
                aws_access_key_id="bench", aws_secret_access_key="bench")  # noqa: S106 - moto accepts any key
        return self.clients[service]

    def cpu_s(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)


def start(name: str, flags: list[str]) -> Server:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "localcloud.motoserver", "--port", str(port), "--parent-pid", str(os.getpid()), *flags],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not is_healthy(url):
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"{name}: the moto server did not start")
        time.sleep(0.1)
    return Server(name, url, process)


def item(index: int) -> dict[str, Any]:
    """An ItemsTable-shaped order item (about 400 bytes)."""
    return {"customer_id": {"S": f"customer-{index % 50:03d}"}, "order_id": {"S": f"order-{index:06d}-{'a' * 24}"},
            "currency": {"S": "EUR"}, "total": {"N": "123.45"}, "written_at": {"S": "2026-12-02T19:00:00.000000Z"},
            "lines": {"L": [{"M": {"sku": {"S": f"SKU-{line}"}, "quantity": {"N": "2"}, "price": {"N": "20.57"}}}
                            for line in range(3)]}}


def key(index: int) -> dict[str, Any]:
    return {name: value for name, value in item(index).items() if name in ("customer_id", "order_id")}


def prepare(server: Server) -> None:
    dynamodb = server.client("dynamodb")
    dynamodb.create_table(
        TableName="Items", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "customer_id", "AttributeType": "S"},
                              {"AttributeName": "order_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "customer_id", "KeyType": "HASH"},
                   {"AttributeName": "order_id", "KeyType": "RANGE"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    server.client("sqs").create_queue(QueueName="Orders")
    for index in range(ITEMS):
        dynamodb.put_item(TableName="Items", Item=item(index))


def operations(server: Server, round_index: int) -> dict[str, tuple[int, Callable[[int], None]]]:
    """name -> (calls per round, one call)."""
    dynamodb, sqs, streams = server.client("dynamodb"), server.client("sqs"), server.client("dynamodbstreams")
    queue = sqs.get_queue_url(QueueName="Orders")["QueueUrl"]
    base = ITEMS + round_index * 1000
    stream_arn = dynamodb.describe_table(TableName="Items")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = [streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard,
                                           ShardIteratorType="TRIM_HORIZON")["ShardIterator"]]

    def get_records(_: int) -> None:
        page = streams.get_records(ShardIterator=iterator[0], Limit=100)
        if len(page["Records"]) < 100:
            raise RuntimeError("the stream ran out of records")
        iterator[0] = page["NextShardIterator"]

    def receive_and_delete(_: int) -> None:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            raise RuntimeError("the queue ran out of messages")
        sqs.delete_message_batch(QueueUrl=queue, Entries=[
            {"Id": str(number), "ReceiptHandle": message["ReceiptHandle"]} for number, message in enumerate(messages)])

    return {
        "PutItem": (200, lambda n: dynamodb.put_item(TableName="Items", Item=item(base + n))),
        "GetItem": (200, lambda n: dynamodb.get_item(TableName="Items", Key=key(n))),
        "BatchGetItem of 3": (60, lambda n: dynamodb.batch_get_item(RequestItems={"Items": {
            "Keys": [key(3 * n + offset) for offset in range(3)], "ConsistentRead": True}})),
        "SendMessageBatch of 10": (30, lambda n: sqs.send_message_batch(QueueUrl=queue, Entries=[
            {"Id": str(entry), "MessageBody": f'{{"order": {n * 10 + entry}}}'} for entry in range(10)])),
        "ReceiveMessage of 10 + DeleteMessageBatch": (30, receive_and_delete),
        "GetRecords of 100": (8, get_records),
        "Scan page of 1,000 items": (2, lambda n: dynamodb.scan(TableName="Items", Limit=ITEMS)),
    }


def measure(server: Server, round_index: int) -> None:
    for name, (calls, call) in operations(server, round_index).items():
        cpu_before, started = server.cpu_s(), time.perf_counter()
        for number in range(calls):
            call(number)
        wall_ms = (time.perf_counter() - started) * 1000 / calls
        cpu_ms = (server.cpu_s() - cpu_before) * 1000 / calls
        server.figures.setdefault(name, []).append((wall_ms, cpu_ms))


def render(servers: list[Server], rounds: int) -> str:
    shipped, local = servers[0], servers[-1]
    lines = [
        "# What one AWS call costs on the moto server: moto as shipped vs the local cloud's server", "",
        f"Generated by `python bench/moto_server_calls.py --rounds {rounds}` on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs, Python {sys.version.split()[0]}. "
        "Medians over the rounds; one client, calls one after another; wall = as the client sees it, "
        "CPU = the server process's.", "",
        "| call | " + " | ".join(f"{s.name} wall ms | {s.name} CPU ms" for s in servers)
        + " | wall shipped/local | CPU shipped/local |",
        "|---|" + "---:|" * (2 * len(servers) + 2),
    ]
    for name in shipped.figures:
        cells, medians = [], {}
        for server in servers:
            wall = statistics.median(figure[0] for figure in server.figures[name])
            cpu = statistics.median(figure[1] for figure in server.figures[name])
            medians[server.name] = (wall, cpu)
            cells += [f"{wall:.2f}", f"{cpu:.2f}"]
        ratio_wall = medians[shipped.name][0] / medians[local.name][0]
        ratio_cpu = medians[shipped.name][1] / max(medians[local.name][1], 1e-9)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {ratio_wall:.2f}x | {ratio_cpu:.2f}x |")
    lines += ["", "- shipped: `--moto-as-shipped --http-server werkzeug`; speed-ups: `--http-server werkzeug`; "
              "local: `--http-server cheroot` (the default, what `localcloud up` starts)."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/results alone")
    args = parser.parse_args()
    servers = [start(name, flags) for name, flags in SERVERS.items()]
    try:
        for server in servers:
            prepare(server)
        for round_index in range(args.rounds):
            print(f"round {round_index + 1}/{args.rounds}", flush=True)
            for server in servers:
                measure(server, round_index)
    finally:
        for server in servers:
            server.process.terminate()
            server.process.wait(timeout=30)
    report = render(servers, args.rounds)
    print(report)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "moto_server_calls.md").write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
