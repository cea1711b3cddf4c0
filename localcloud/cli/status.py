"""What the local cloud holds right now: queues, tables, mappings, functions (`localcloud status [--watch]`).

Names are never cut: a table that does not fit the terminal with its names whole (an 80-column
terminal and a mapping named SqsWorkerFunctionWorkQueueEvent) is shown as one block per row instead,
the name on its own line and the figures, each with its label, wrapped below it.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.columns import Columns
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

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
        "resource_limits": (runtime or {}).get("resource_limits", {}),
        "state_machines": {logical_id: machine.arn for logical_id, machine in stack.state_machines.items()},
    }


UNLIMITED_WIDTH = 10_000


@dataclass(frozen=True)
class Section:
    """One table of the status: a name per row, then figures (right-aligned) or text (left-aligned)."""

    title: str
    name_header: str
    headers: tuple[str, ...]
    rows: list[tuple[str, list[str]]]
    text_headers: frozenset[str] = field(default_factory=frozenset)

    def table(self, *, narrow: bool = False) -> Table:
        """The section as a table; ``narrow``: each figure column only as wide as its longest word."""
        table = Table(title=self.title, title_justify="left", show_edge=False, pad_edge=False)
        table.add_column(self.name_header, no_wrap=True)  # a name is shown whole, or not in a table
        for header, width in zip(self.headers, self._longest_words(), strict=True):
            text = header in self.text_headers
            # A fixed width, because rich squeezing columns to fit cuts words short ("invocati…").
            table.add_column(header, justify="left" if text else "right", width=width if narrow and not text else None)
        for name, values in self.rows:
            table.add_row(name, *values)
        return table

    def _longest_words(self) -> list[int]:
        return [max(len(word) for word in [*header.split(), *(word for _, values in self.rows
                                                              for word in values[index].split())])
                for index, header in enumerate(self.headers)]

    def blocks(self) -> Iterator[RenderableType]:
        yield Text(self.title, style="italic")
        for name, values in self.rows:
            yield Text(name, style="bold")
            figures = [Text(f"{header} {value}", no_wrap=True)
                       for header, value in zip(self.headers, values, strict=True) if value]
            yield Padding(Columns(figures, padding=(0, 3)), (0, 0, 0, 2))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # Measured without the terminal's limit: Measurement.get clamps to it.
        unlimited = options.update(max_width=UNLIMITED_WIDTH)
        measured = Measurement.get(console, unlimited, self.table())
        if measured.maximum <= options.max_width:
            yield self.table()  # every cell on one line
        elif measured.minimum <= options.max_width:
            yield self.table(narrow=True)  # headers and text wrapped at their spaces
        else:
            yield from self.blocks()


def _redrive(queue: dict[str, Any]) -> str:
    if "dead_letter_queue" in queue:
        return f"-> {queue['dead_letter_queue']} after {queue['max_receive_count']} receives"
    if "dead_letter_queue_of" in queue:
        return f"DLQ of {queue['dead_letter_queue_of']}"
    return ""


def _counts(stats: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    return [str(stats.get(key, 0)) for key in keys]


MAPPING_FIGURES = {"batches": "batches_invoked", "records": "records_delivered", "completed": "records_completed",
                   "failed batches": "batches_failed", "reported failed": "records_reported_failed",
                   "filtered": "records_filtered_out", "on-failure": "records_sent_to_on_failure"}
FUNCTION_FIGURES = {"invocations": "invocations", "errors": "errors", "timeouts": "timeouts",
                    "cold starts": "cold_starts", "max concurrent": "max_concurrent"}


def status_sections(status: dict[str, Any]) -> list[Section]:
    queues = Section("Queues", "queue", ("visible", "in flight", "delayed", "redrive"),
                     [(name, [str(queue["visible"]), str(queue["in_flight"]), str(queue["delayed"]), _redrive(queue)])
                      for name, queue in status["queues"].items()],
                     text_headers=frozenset({"redrive"}))
    tables = Section("Tables", "table", ("items", "stream"),
                     [(name, [str(table["items"]), "on" if table["stream"] else ""])
                      for name, table in status["tables"].items()],
                     text_headers=frozenset({"stream"}))
    mappings = Section("Event source mappings", "mapping", tuple(MAPPING_FIGURES),
                       [(name, _counts(stats, tuple(MAPPING_FIGURES.values())))
                        for name, stats in status["mappings"].items()])
    functions = Section("Functions (since up)", "function", tuple(FUNCTION_FIGURES),
                        [(name, _counts(stats, tuple(FUNCTION_FIGURES.values())))
                         for name, stats in status["functions"].items()])
    limits = Section("Resource limits (each worker's cgroup)", "function", ("memory", "cpu"),
                     [(name, [limit["memory"], limit["cpu"]])
                      for name, limit in status.get("resource_limits", {}).items()],
                     text_headers=frozenset({"memory", "cpu"}))
    # Mappings, functions and limits are known only while the cloud runs (its control server has them).
    return [queues, tables, *(section for section in (mappings, functions, limits) if section.rows)]


def status_view(status: dict[str, Any], refreshed: str | None = None) -> Group:
    state = "running" if status["running"] else "NOT RUNNING (endpoint state only)"
    parts: list[RenderableType] = [Text.from_markup(f"[bold]{status['stack_name']}[/] on {status['endpoint_url']}: "
                                                    f"{state}")]
    if refreshed is not None:
        parts.append(Text(refreshed, style="dim"))
    parts += status_sections(status)
    parts += [Text(f"poller {name} stopped: {error}", style="red") for name, error in status["poller_errors"].items()]
    return Group(*parts)


def render_status(status: dict[str, Any], console: Console) -> None:
    console.print(status_view(status))


def watch_status(fetch: Callable[[], dict[str, Any] | None], console: Console, interval_s: float,
                 sleep: Callable[[float], None] = time.sleep) -> int:
    """Show the status, refreshed every ``interval_s`` seconds until Ctrl-C or until the cloud is gone.

    On a terminal the view is redrawn in place (rich Live); into a file or a pipe each refresh is
    printed after the last, so nothing but the terminal sees cursor movements."""
    status = fetch()
    if status is None:
        console.print("no local cloud is running")
        return 1
    redraw = console.is_terminal and not console.is_dumb_terminal
    # "visible": a view taller than the terminal is printed whole (frames then scroll) rather than cut off.
    live = Live(console=console, auto_refresh=False, vertical_overflow="visible") if redraw else None
    show: Callable[[RenderableType], None] = (
        (lambda view: live.update(view, refresh=True)) if live is not None else console.print)
    with live if live is not None else contextlib.nullcontext():
        try:
            while status is not None:
                show(status_view(status, _refreshed(interval_s)))
                sleep(interval_s)
                status = fetch()
            show(Text("the local cloud stopped"))
        except KeyboardInterrupt:
            pass
    return 0


def _refreshed(interval_s: float) -> str:
    return f"{datetime.now().strftime('%H:%M:%S')}, every {interval_s:g} s (Ctrl-C stops)"
