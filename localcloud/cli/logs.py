"""`localcloud logs FUNCTION [--follow] [--since 10m] [--filter PATTERN] [--json]`: a function's log events.

What `sam logs --tail` shows of the cloud: every line the function's sandboxes wrote and the lines the
platform adds (START, END, REPORT with Duration, Billed Duration, Memory Size, Max Memory Used and, on a
cold start, Init Duration), read from the function's log file (localcloud.runtime.function_logs) of the
running cloud, or of the last one that ran. On a terminal, Powertools' JSON lines are shown with their
level and message first and their other keys indented below (less the timestamp and the function's
name, ARN and memory, the same on every line); --json prints each event as JSON, one a
line, with the message as the function wrote it (FilterLogEvents' fields: timestamp in epoch ms,
logStreamName, message). --follow keeps reading as lines arrive, until Ctrl-C.

--filter takes CloudWatch's filter pattern for unstructured events: terms separated by spaces must all
appear (ERROR Timeout), a ?term is one of several (?ERROR ?WARNING), a -term must not appear, "a phrase"
is one term, and %regex% is a regular expression. Terms match case-sensitively, anywhere in the
message. JSON patterns ({ $.level = "ERROR" }) are not emulated and refused.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.json import JSON
from rich.markup import escape
from rich.padding import Padding

from localcloud.cli.output import CliError, console, find_running
from localcloud.deploy.deployed_stack import DeployedStack
from localcloud.runtime.function_logs import LogEvent, format_timestamp
from localcloud.state import STACK_FILE

FOLLOW_POLL_S = 0.25
_RELATIVE = re.compile(r"^(?P<amount>\d+)\s*(?P<unit>s|sec|secs|m|min|mins|h|hour|hours|d|day|days)(\s+ago)?$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Powertools' keys that say again what every line of the function says (--json keeps them).
POWERTOOLS_REPEATED_KEYS = ("timestamp", "function_name", "function_memory_size", "function_arn")
LEVEL_STYLES = {"DEBUG": "dim", "INFO": "cyan", "WARNING": "yellow", "ERROR": "bold red", "CRITICAL": "bold red"}


def parse_since(text: str, now: datetime) -> datetime:
    """10m, 1h, 2d (also "10 mins ago"), or an ISO time; an ISO time without a zone is local time."""
    relative = _RELATIVE.match(text.strip())
    if relative:
        seconds = int(relative["amount"]) * _UNIT_SECONDS[relative["unit"][0]]
        return now - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise CliError(f"--since takes 10m, 1h, 2d or an ISO time such as 2025-06-01T12:00:00Z, "
                       f"not {text!r}") from error
    return moment if moment.tzinfo is not None else moment.astimezone()


@dataclass(frozen=True)
class FilterPattern:
    """CloudWatch's filter pattern for unstructured log events (the subset the module docstring names)."""

    required: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = field(default=None)

    @classmethod
    def parse(cls, text: str) -> FilterPattern:
        pattern = text.strip()
        if pattern.startswith("{"):
            raise CliError("JSON filter patterns ({ $.key = value }) are not emulated; use terms, e.g. "
                           "--filter 'ERROR -Timeout', or %regex%")
        if len(pattern) >= 2 and pattern.startswith("%") and pattern.endswith("%"):
            try:
                return cls(regex=re.compile(pattern[1:-1]))
            except re.error as error:
                raise CliError(f"--filter {text!r}: not a regular expression: {error}") from error
        try:
            terms = [term for term in shlex.split(pattern) if term]
        except ValueError as error:
            raise CliError(f"--filter {text!r}: {error}") from error
        return cls(required=tuple(t for t in terms if t[0] not in "?-" or len(t) == 1),
                   any_of=tuple(t[1:] for t in terms if t.startswith("?") and len(t) > 1),
                   excluded=tuple(t[1:] for t in terms if t.startswith("-") and len(t) > 1))

    def matches(self, message: str) -> bool:
        if self.regex is not None:
            return self.regex.search(message) is not None
        return (all(term in message for term in self.required)
                and not any(term in message for term in self.excluded)
                and (not self.any_of or any(term in message for term in self.any_of)))


@dataclass
class LogReader:
    """The events of one log file, read from where the last read stopped (whole lines only)."""

    path: Path
    offset: int = 0
    _partial: bytes = b""

    def read(self) -> list[LogEvent]:
        try:
            with self.path.open("rb") as log:
                log.seek(self.offset)
                data = log.read()
        except FileNotFoundError:
            return []  # not invoked yet: the file appears with the first sandbox
        self.offset += len(data)
        # Bytes, split on \n only: a Python runtime error event joins its traceback lines with \r.
        complete, newline, self._partial = (self._partial + data).rpartition(b"\n")
        if not newline:
            return []
        return [LogEvent.parse(line) for line in complete.decode(errors="replace").split("\n")]


def selected(events: list[LogEvent], since: datetime | None, pattern: FilterPattern | None) -> Iterator[LogEvent]:
    for event in events:
        if since is not None and (event.timestamp is None or event.timestamp < since):
            continue
        if pattern is not None and not pattern.matches(event.message):
            continue
        yield event


def follow(reader: LogReader, keep_going: Callable[[], bool], poll_s: float = FOLLOW_POLL_S,
           sleep: Callable[[float], None] = time.sleep) -> Iterator[list[LogEvent]]:
    """What is in the file, then each batch of new lines, while ``keep_going()``."""
    yield reader.read()
    while keep_going():
        sleep(poll_s)
        yield reader.read()


# -------------------------------------------------------------------------------------------------
# output


def event_document(event: LogEvent) -> dict[str, Any]:
    timestamp = int(event.timestamp.timestamp() * 1000) if event.timestamp is not None else None
    return {"timestamp": timestamp, "logStreamName": event.log_stream, "message": event.message}


def plain_line(event: LogEvent) -> str:
    stamp = format_timestamp(event.timestamp) if event.timestamp is not None else "-"
    return f"{stamp} {event.log_stream or '-'} {event.message}"


def print_pretty(event: LogEvent, out: Console) -> None:
    stamp = format_timestamp(event.timestamp) if event.timestamp is not None else "-"
    # The stream's id tells sandboxes apart; its date and version are the same for all of them.
    sandbox = event.log_stream.rpartition("]")[2][:8] or "-"
    prefix = f"[dim]{stamp}[/] [blue]{sandbox}[/]"
    message = event.message
    document = _json_object(message)
    if document is not None and "message" in document and "level" in document:
        level = str(document.pop("level"))
        text = document.pop("message")
        for key in POWERTOOLS_REPEATED_KEYS:
            document.pop(key, None)
        out.print(f"{prefix} [{LEVEL_STYLES.get(level, 'bold')}]{escape(level)}[/] "
                  f"{escape(text if isinstance(text, str) else json.dumps(text))}", highlight=False, soft_wrap=True)
        if document:
            out.print(Padding(JSON.from_data(document), (0, 0, 0, 4)))
    elif document is not None:
        out.print(prefix, highlight=False)
        out.print(Padding(JSON.from_data(document), (0, 0, 0, 4)))
    else:
        style = "bold" if message.startswith("REPORT ") else "dim" if message.startswith(("START ", "END ")) \
            else "red" if message.startswith("[ERROR]") else ""
        body = escape(message.replace("\r", "\n").replace("\t", "  "))
        out.print(f"{prefix} [{style}]{body}[/]" if style else f"{prefix} {body}", highlight=False, soft_wrap=True)


def _json_object(message: str) -> dict[str, Any] | None:
    if not message.startswith("{"):
        return None
    try:
        document = json.loads(message)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def make_printer(args: argparse.Namespace, out: Console) -> Callable[[LogEvent], None]:
    if args.json:
        return lambda event: print(json.dumps(event_document(event)), flush=True)
    if out.is_terminal:
        return lambda event: print_pretty(event, out)
    return lambda event: print(plain_line(event), flush=True)


# -------------------------------------------------------------------------------------------------
# the command


def function_log_path(state_dir: Path, function: str) -> Path:
    """The log file of a function of the running cloud, or of the last one that ran in ``state_dir``."""
    state = find_running(state_dir)
    if state is not None and state.invoker == "docker":
        raise CliError(f"with --invoker docker the functions log through sam local start-lambda, into "
                       f"{state.state_dir / 'logs' / 'sam-local.log'}; `logs` reads the subprocess invoker's logs")
    stack_path = state.stack_path if state is not None else state_dir / STACK_FILE
    if not stack_path.is_file():
        raise CliError(f"no local cloud has run with state dir {state_dir}: nothing is logged there")
    stack = DeployedStack.load(stack_path)
    logical_id = stack.function_logical_id(function)
    if logical_id is None:
        raise CliError(f"no function {function!r}; the stack has {', '.join(stack.functions)}")
    return stack_path.parent / "logs" / f"{logical_id}.log"


def cmd_logs(args: argparse.Namespace) -> int:
    path = function_log_path(args.state_dir, args.function)
    since = parse_since(args.since, datetime.now(UTC)) if args.since else None
    pattern = FilterPattern.parse(args.filter) if args.filter else None
    show = make_printer(args, console)
    batches = follow(LogReader(path), keep_going=lambda: True) if args.follow else iter([LogReader(path).read()])
    try:
        for batch in batches:
            for event in selected(batch, since, pattern):
                show(event)
    except KeyboardInterrupt:
        pass  # Ctrl-C ends --follow
    return 0
