"""One warm sandbox process and the protocol the invoker speaks with it (localcloud.runtime.worker_main).

Requests and responses travel over two pipes as JSON lines; stdout and stderr are the function's
logs. An answer is used only if it names the request and comes from the worker's own process, and
a request is sent only while the worker's descriptor numbers still refer to its own pipes (checked
by inode): an event source settles a batch by its answer, so another batch's answer would delete
messages that were never processed (see localcloud.runtime.subprocess_invoker for the history).
"""


from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from localcloud.deploy.deployed_stack import DeployedFunction
from localcloud.runtime.function_logs import FunctionLog
from localcloud.runtime.resource_limits import SandboxLimits
from localcloud.runtime.sandbox import Sandbox
from localcloud.runtime.worker_main import report_line

logger = logging.getLogger("localcloud.invokers")


WORKER_SCRIPT = Path(__file__).with_name("worker_main.py")
# The worker's source as it was when this module was imported, run as the sandbox's __main__ (not as
# localcloud.runtime.worker_main: the sandbox must not see this repository's packages). Not read from disk at
# each cold start: a worker_main.py edited while a local cloud runs would speak another protocol than
# this invoker, and answers would shift by one (the cause of lost orders in one soak run).
WORKER_BOOTSTRAP = (f"__file__ = {str(WORKER_SCRIPT)!r}\n"
                    f"exec(compile({WORKER_SCRIPT.read_text()!r}, __file__, 'exec'))")
READ_CHUNK = 1 << 16
STOP_GRACE_S = 2.0
INIT_LIMIT_S = 10.0  # Lambda's limit on the init phase of an on-demand sandbox
LIVENESS_CHECK_S = 0.5


class WorkerTimedOut(Exception):
    pass


class WorkerProtocolError(Exception):
    """The worker answered something that is not the answer to this request."""


class WorkerExited(Exception):
    def __init__(self, returncode: int | None) -> None:
        super().__init__(f"worker exited with {returncode}")
        self.returncode = returncode


def exit_description(returncode: int | None) -> str:
    if returncode is None:
        return "exit status unknown"
    if returncode < 0:
        # As Lambda's runtime interface (Go) words it: "signal: killed" for SIGKILL (an OOM kill), "signal:
        # segmentation fault", "signal: aborted": the C library's description, in lower case.
        description = signal.strsignal(-returncode) or signal.Signals(-returncode).name
        return f"signal: {description.lower()}"
    return f"exit status {returncode}"


class Worker:
    """One warm sandbox process; not thread-safe (a pool hands it to one invoke at a time)."""

    def __init__(self, function: DeployedFunction, env: dict[str, str], log_path: Path, sandbox: Sandbox,
                 limits: SandboxLimits | None = None) -> None:
        self.function = function
        self._env = env
        self._log_path = log_path
        self._sandbox = sandbox
        self._limits = limits
        self._start(suppressed_init=False)

    def _start(self, *, suppressed_init: bool) -> None:
        request_read, self._request_write = os.pipe()
        self._response_read, response_write = os.pipe()
        argv = [sys.executable, "-c", WORKER_BOOTSTRAP,
                "--request-fd", str(request_read), "--response-fd", str(response_write),
                *(f"--layer-path={layer}" for layer in self.function.layer_dirs),
                *(["--suppressed-init"] if suppressed_init else [])]
        # Its own cgroup (memory, CPU share, cores: localcloud.runtime.resource_limits), joined before the
        # interpreter starts, inside the sandbox's mount namespace; a fresh one for a restarted init.
        self.group = self._limits.group_for(self.function) if self._limits is not None else None
        if self.group is not None:
            peak_file = self.group.memory_peak_file
            argv = self.group.wrap([*argv, *(["--memory-peak-file", str(peak_file)] if peak_file else [])])
        # stdout and stderr are the function's log (localcloud.runtime.function_logs), one stream per sandbox.
        self.log = FunctionLog(self._log_path)
        try:
            self.process = subprocess.Popen(
                self._sandbox.wrap(argv, self.function),
                env={**self._env, "AWS_LAMBDA_LOG_STREAM_NAME": self.log.log_stream}, cwd=self.function.code_dir,
                stdin=subprocess.DEVNULL, stdout=self.log.write_fd, stderr=self.log.write_fd,
                pass_fds=(request_read, response_write),
                # Its own process group: a timeout kills the function's child processes with it.
                start_new_session=True,
            )
        except BaseException:
            self.log.discard()
            if self.group is not None:
                self.group.release()
            raise
        self.log.start()
        os.close(request_read)
        os.close(response_write)
        # Which pipes these descriptor numbers are: a number closed behind this object's back and reused
        # would otherwise send the next request to another worker (see _owns).
        self._pipe_identities = {self._request_write: pipe_identity(self._request_write),
                                 self._response_read: pipe_identity(self._response_read)}
        fcntl.fcntl(self._request_write, fcntl.F_SETFL, fcntl.fcntl(self._request_write, fcntl.F_GETFL) | os.O_NONBLOCK)
        self._buffer = b""
        self._sent_at: float | None = None  # when the current request went out (its Duration starts)
        self._peak_memory_mb: int | None = None
        self._suppressed_init_started: float | None = None
        self.invocations = 0
        self.initialised = False
        self._killed = False

    def restart_suppressed_init(self, init_limit_s: float) -> None:
        """An init that passed Lambda's limit: the environment is reset and the init runs again within
        the first invoke, under the function's timeout (a "suppressed init": the invoke's REPORT carries
        no Init Duration, the init is part of its Duration)."""
        self.kill()
        self.log.write_after_exit(
            f"INIT_REPORT Init Duration: {init_limit_s * 1000:.2f} ms\tPhase: init\tStatus: timeout")
        started = time.monotonic()
        self._start(suppressed_init=True)
        self._suppressed_init_started = started  # the invoke's Duration starts with the repeated init

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_initialised(self, deadline: float) -> dict[str, Any] | None:
        """Wait for the init phase to end; None when it succeeded, else its error (the worker exits)."""
        report = self._read_line(deadline)
        self.initialised = report.get("init") == "done"
        return None if self.initialised else report.get("error", {"errorType": "Runtime.Unknown",
                                                                  "errorMessage": f"bad init report {report}"})

    def invoke(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Send one request and wait for its response until ``deadline`` (time.monotonic()).

        The response must name this request and come from this worker's process: a batch's answer
        applied to another batch would delete messages nobody processed, so a mismatch is an error.
        """
        self.invocations += 1
        if not (self._owns(self._request_write) and self._owns(self._response_read)):
            raise WorkerProtocolError(
                f"worker pid {self.process.pid}: its pipe descriptors {sorted(self._pipe_identities)} were closed "
                f"by other code and now refer to other files; nothing was sent")
        self._sent_at, self._suppressed_init_started = self._suppressed_init_started or time.monotonic(), None
        self._send((json.dumps(request) + "\n").encode(), deadline)
        response = self._read_line(deadline)
        answered = (response.get("request_id"), response.get("pid"))
        if answered != (request["request_id"], self.process.pid):
            raise WorkerProtocolError(
                f"worker pid {self.process.pid} (request fd {self._request_write}, response fd "
                f"{self._response_read}) was sent request {request['request_id']} and got the answer to "
                f"request {answered[0]} from pid {answered[1]}")
        return response

    def _read_line(self, deadline: float) -> dict[str, Any]:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerTimedOut
            # Woken now and then to notice a worker that died while a child process it forked still
            # holds the response pipe open (EOF would then never come).
            readable, _, _ = select.select([self._response_read], [], [], min(remaining, LIVENESS_CHECK_S))
            if not readable:
                if self.process.poll() is not None:
                    raise WorkerExited(self.process.returncode)
                continue
            chunk = os.read(self._response_read, READ_CHUNK)
            if not chunk:
                raise WorkerExited(self._wait_exit())
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        document: dict[str, Any] = json.loads(line)
        return document

    def _send(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerTimedOut  # the worker did not take the request in time
            _, writable, _ = select.select([], [self._request_write], [], remaining)
            if not writable:
                continue
            try:
                view = view[os.write(self._request_write, view):]
            except BrokenPipeError as error:
                raise WorkerExited(self._wait_exit()) from error

    def _wait_exit(self) -> int | None:
        try:
            return self.process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.process.returncode

    def kill(self) -> None:
        """Kill the worker's process group (the function's children too), once: after the first kill
        the group id may belong to another process group."""
        if not self._killed:
            self._killed = True
            self._peak_memory_mb = self._peak()  # for the REPORT of an invoke cut short
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        if self.group is not None:
            self.group.release()  # also kills what left the process group: the cgroup holds the whole sandbox
        self._close()

    def _peak(self) -> int | None:
        # The cgroup's peak is the whole sandbox's, as Lambda measures it; VmHWM is the worker process's.
        group_peak = self.group.peak_memory_mb() if self.group is not None else None
        return group_peak if group_peak is not None else peak_memory_mb(self.process.pid)

    def stop(self) -> None:
        """Ask the worker to finish (its request pipe closes); kill it if it does not."""
        self._close_request()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_GRACE_S)
        self.kill()

    def log_unfinished_invoke(self, request_id: str, error: dict[str, Any], *, status: str) -> None:
        """What Lambda logs for an invoke the sandbox did not finish (a timeout, an exit): the sandbox
        cannot write it, so the invoker does, after the worker's own last lines. No Init Duration: a
        worker killed during its first invoke never reported its init."""
        started = self._sent_at or self._suppressed_init_started  # an init repeated within the invoke counts
        duration_ms = (time.monotonic() - started) * 1000 if started is not None else 0.0
        lines = [error["errorMessage"], *([error["errorType"]] if status == "error" else [])]
        self.log.write_after_exit(*lines, f"END RequestId: {request_id}", report_line(
            request_id, duration_ms=duration_ms, memory_size_mb=self.function.memory_mb,
            max_memory_used_mb=self._peak_memory_mb if self._killed else self._peak(), status=status,
            error_type=error["errorType"] if status == "error" else None))

    def _owns(self, fd: int) -> bool:
        return fd >= 0 and pipe_identity(fd) == self._pipe_identities.get(fd)

    def _close_fd(self, fd: int) -> None:
        # Closing a number that is no longer ours would close another worker's pipe (and so on).
        if self._owns(fd):
            os.close(fd)
        elif fd >= 0:
            logger.error("worker pid %d: descriptor %d is no longer its pipe; left open", self.process.pid, fd)

    def _close_request(self) -> None:
        self._close_fd(self._request_write)
        self._request_write = -1

    def _close(self) -> None:
        self._close_request()
        self._close_fd(self._response_read)
        self._response_read = -1




def peak_memory_mb(pid: int) -> int | None:
    """The process's peak resident memory so far (VmHWM), in MB; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return None


def pipe_identity(fd: int) -> tuple[int, int] | None:
    """(device, inode) of an open descriptor: every pipe has its own inode; None when fd is not open."""
    try:
        status = os.fstat(fd)
    except OSError:
        return None
    return status.st_dev, status.st_ino

