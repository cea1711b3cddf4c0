"""A function's log file, kept as CloudWatch Logs keeps a function's log group: one event per line.

<log_dir>/<LogicalId>.log holds every line the function's workers write to stdout or stderr, and the
lines the platform adds (START, END, REPORT from the sandbox, localcloud.runtime.worker_main; the
timeout and exit lines from the invoker), each as one event:

    <timestamp>\t<log stream>\t<message>
    2025-06-01T12:00:00.123Z\t2025/06/01/[$LATEST]8f2c...\tSTART RequestId: 6f1e... Version: $LATEST

The timestamp is when the line reached the invoker (UTC, milliseconds), as CloudWatch stamps an
event when Lambda delivers it; the log stream is the worker's (one per execution environment, named
as Lambda names them). Each worker's stdout and stderr are one pipe, read by a thread of the invoker
(FunctionLog), so the lines of the function's child processes are caught too and every line is
whole: all complete lines read at once go to the file in one append. `localcloud logs` reads the file.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

READ_CHUNK = 1 << 16
DRAIN_TIMEOUT_S = 2.0


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_log_stream_name(now: datetime | None = None) -> str:
    """A log stream name as Lambda gives each execution environment: date/[version]id."""
    moment = now or datetime.now(UTC)
    return f"{moment:%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"


@dataclass(frozen=True)
class LogEvent:
    timestamp: datetime | None  # None: a line from before this format (no time to filter it by)
    log_stream: str
    message: str

    def to_line(self) -> str:
        stamp = format_timestamp(self.timestamp) if self.timestamp is not None else ""
        return f"{stamp}\t{self.log_stream}\t{self.message}"

    @classmethod
    def parse(cls, line: str) -> LogEvent:
        stamp, separator, rest = line.partition("\t")
        stream, separator_2, message = rest.partition("\t")
        if separator and separator_2:
            try:
                return cls(datetime.fromisoformat(stamp), stream, message)
            except ValueError:
                pass
        return cls(None, "", line)


class FunctionLog:
    """The log of one worker: a pipe for its stdout and stderr, copied line by line into the function's file."""

    def __init__(self, path: Path, log_stream: str | None = None) -> None:
        self.path = path
        self.log_stream = log_stream or new_log_stream_name()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._read_fd, self.write_fd = os.pipe()
        self._reader = threading.Thread(target=self._copy, name=f"log {path.stem}", daemon=True)

    def start(self) -> None:
        """Once the worker holds the pipe's write end: close this process's copy and start copying."""
        os.close(self.write_fd)
        self._reader.start()

    def discard(self) -> None:
        """The worker never started: close both ends."""
        for fd in (self._read_fd, self.write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    def write(self, *messages: str) -> None:
        """Append lines, stamped now: the reader's, and those the platform adds (the invoker's own)."""
        now = datetime.now(UTC)
        data = "".join(LogEvent(now, self.log_stream, message).to_line() + "\n" for message in messages)
        # One write of whole lines to a file opened for appending: other workers' lines never cut into them.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data.encode())
        finally:
            os.close(fd)

    def write_after_exit(self, *messages: str) -> None:
        """Lines that follow everything the worker wrote: its pipe is drained first (the worker is gone)."""
        if self._reader.is_alive():
            self._reader.join(DRAIN_TIMEOUT_S)
        self.write(*messages)

    def _copy(self) -> None:
        pending = b""
        try:
            while chunk := os.read(self._read_fd, READ_CHUNK):
                complete, newline, pending = (pending + chunk).rpartition(b"\n")
                if newline:
                    self.write(*complete.decode(errors="replace").split("\n"))
            if pending:
                self.write(pending.decode(errors="replace"))
        finally:
            with contextlib.suppress(OSError):
                os.close(self._read_fd)
