"""What the local cloud holds right now: queues, tables, mappings, functions (`python -m localcloud status`)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from rich.console import Console
from rich.table import Table

from localcloud.aws.clients import LocalAws
from localcloud.deploy.deployed_stack import DeployedStack

QUEUE_COUNTS = {
    "visible": "ApproximateNumberOfMessages",
    "in_flight": "ApproximateNumberOfMessagesNotVisible",
    "delayed": "ApproximateNumberOfMessagesDelayed",
}


def runtime_status(control_url: str, timeout_s: float = 5.0) -> dict[str, Any] | None:
    """The running cloud's pollers and invokers (from its control server), or None if it is gone."""
    try:
        with urllib.request.urlopen(control_url + "/status", timeout=timeout_s) as response:  # noqa: S310
            document: dict[str, Any] = json.loads(response.read())
            return document
    except (urllib.error.URLError, OSError, ValueError):
        return None


def queue_status(aws: LocalAws, stack: DeployedStack) -> dict[str, dict[str, Any]]:
    dead_letter_of: dict[str, str] = {}
    queues: dict[str, dict[str, Any]] = {}
    for logical_id, queue in stack.queues.items():
        attributes: dict[str, str] = {
            str(name): value for name, value in
            aws.sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])["Attributes"].items()}
        queues[logical_id] = {name: int(attributes.get(key, 0)) for name, key in QUEUE_COUNTS.items()}
        if "RedrivePolicy" in attributes:
            policy = json.loads(attributes["RedrivePolicy"])
            target = stack.queue_by_arn(policy["deadLetterTargetArn"])
            queues[logical_id]["dead_letter_queue"] = target.logical_id if target else policy["deadLetterTargetArn"]
            queues[logical_id]["max_receive_count"] = int(policy["maxReceiveCount"])
            if target:
                dead_letter_of[target.logical_id] = logical_id
    for logical_id, source in dead_letter_of.items():
        queues[logical_id]["dead_letter_queue_of"] = source
    return queues


def table_status(aws: LocalAws, stack: DeployedStack) -> dict[str, dict[str, Any]]:
    tables = {}
    for logical_id, table in stack.tables.items():
        request: dict[str, Any] = {"TableName": table.name, "Select": "COUNT"}
        count = 0
        while True:
            page = aws.dynamodb.scan(**request)
            count += page["Count"]
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        tables[logical_id] = {"items": count, "stream": bool(table.stream_arn)}
    return tables


def collect_status(aws: LocalAws, stack: DeployedStack, runtime: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "stack_name": stack.stack_name,
        "endpoint_url": stack.endpoint_url,
        "running": runtime is not None,
        "queues": queue_status(aws, stack),
        "tables": table_status(aws, stack),
        "mappings": (runtime or {}).get("pollers", {}),
        "poller_errors": (runtime or {}).get("poller_errors", {}),
        "functions": (runtime or {}).get("functions", {}),
        "state_machines": {logical_id: machine.arn for logical_id, machine in stack.state_machines.items()},
    }


def render_status(status: dict[str, Any], console: Console) -> None:  # noqa: C901
    state = "running" if status["running"] else "NOT RUNNING (endpoint state only)"
    console.print(f"[bold]{status['stack_name']}[/] on {status['endpoint_url']}: {state}")

    queues = Table(title="Queues", title_justify="left")
    for column in ("queue", "visible", "in flight", "delayed", "redrive"):
        queues.add_column(column, justify="left" if column in ("queue", "redrive") else "right")
    for name, queue in status["queues"].items():
        redrive = ""
        if "dead_letter_queue" in queue:
            redrive = f"-> {queue['dead_letter_queue']} after {queue['max_receive_count']} receives"
        elif "dead_letter_queue_of" in queue:
            redrive = f"DLQ of {queue['dead_letter_queue_of']}"
        queues.add_row(name, str(queue["visible"]), str(queue["in_flight"]), str(queue["delayed"]), redrive)
    console.print(queues)

    tables = Table(title="Tables", title_justify="left")
    tables.add_column("table")
    tables.add_column("items", justify="right")
    tables.add_column("stream")
    for name, table in status["tables"].items():
        tables.add_row(name, str(table["items"]), "on" if table["stream"] else "")
    console.print(tables)

    if status["mappings"]:
        mappings = Table(title="Event source mappings", title_justify="left")
        for column in ("mapping", "batches", "records", "completed", "failed batches", "reported failed",
                       "filtered", "on-failure"):
            mappings.add_column(column, justify="left" if column == "mapping" else "right")
        for name, stats in status["mappings"].items():
            mappings.add_row(name, *(str(stats.get(key, 0)) for key in (
                "batches_invoked", "records_delivered", "records_completed", "batches_failed",
                "records_reported_failed", "records_filtered_out", "records_sent_to_on_failure")))
        console.print(mappings)
    for name, error in status["poller_errors"].items():
        console.print(f"[red]poller {name} stopped: {error}[/]")

    if status["functions"]:
        functions = Table(title="Functions (since up)", title_justify="left")
        for column in ("function", "invocations", "errors", "timeouts", "cold starts", "max concurrent"):
            functions.add_column(column, justify="left" if column == "function" else "right")
        for name, stats in status["functions"].items():
            functions.add_row(name, *(str(stats.get(key, 0)) for key in (
                "invocations", "errors", "timeouts", "cold_starts", "max_concurrent")))
        console.print(functions)
