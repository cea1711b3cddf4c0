"""The default invoker, no Docker: each function runs in warm worker processes (localcloud.worker_main).

Per function a pool of workers, started on demand and reused, as Lambda reuses warm sandboxes:
- at most ReservedConcurrentExecutions workers (0 throttles every invoke, as in Lambda), or the
  local cloud's max_concurrency when the template reserves none; further invokes wait for a worker;
- each worker has the environment Lambda would give the function, its code folder as working
  directory and its layers on sys.path, and optionally no /dev/shm (localcloud.dev_shm);
- a new worker first runs the init phase (imports the handler) under Lambda's 10 s init limit; like
  Lambda, an init that takes longer goes on within the first invoke, under the function's timeout,
  and a failed init fails the invoke with its error and retires the worker;
- the function's Timeout is enforced from the moment the invoke reaches an initialised worker: at the
  deadline the worker's whole process group is killed and the invoke fails with Sandbox.Timedout;
  the next invoke starts a fresh worker (a cold start);
- a worker that exits during an invoke (sys.exit, os._exit, a crash) fails it with Runtime.ExitError.
Requests and responses travel over two pipes as JSON lines; stdout and stderr are the function's
logs, appended to <log_dir>/<LogicalId>.log.

An answer is used only if it names the request and comes from the worker's own process, and a request
is sent only while the worker's descriptor numbers still refer to its own pipes (checked by inode):
an event source settles a batch by its answer, so another batch's answer would delete messages that
were never processed. (It happened once: worker_main.py was edited while a soak ran, workers started
after the edit sent an init line the running invoker did not expect, and every answer was read as the
next request's: a batch was settled by the init line as a success. The worker source is now fixed
when the invoker starts, and any such mismatch fails the invoke (LocalCloud.InvokerProtocolError,
logged) so the event source retries it.)
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
import threading
import time
import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localcloud.deployed_stack import DeployedFunction, DeployedStack
from localcloud.dev_shm import dev_shm_unavailable_reason, without_dev_shm
from localcloud.invocation import InvokeResult
from localcloud.lambda_environment import sandbox_environment

logger = logging.getLogger("localcloud.invokers")

WORKER_SCRIPT = Path(__file__).with_name("worker_main.py")
# The worker's source as it was when this module was imported, run as the sandbox's __main__ (not as
# localcloud.worker_main: the sandbox must not see this repository's packages). Not read from disk at
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


def _exit_description(returncode: int | None) -> str:
    if returncode is None:
        return "exit status unknown"
    if returncode < 0:
        return f"signal: {signal.Signals(-returncode).name.removeprefix('SIG').lower()}"
    return f"exit status {returncode}"


class Worker:
    """One warm sandbox process; not thread-safe (a pool hands it to one invoke at a time)."""

    def __init__(self, function: DeployedFunction, env: dict[str, str], log_path: Path, hide_dev_shm: bool) -> None:
        request_read, self._request_write = os.pipe()
        self._response_read, response_write = os.pipe()
        argv = [sys.executable, "-c", WORKER_BOOTSTRAP,
                "--request-fd", str(request_read), "--response-fd", str(response_write)]
        if hide_dev_shm:
            argv = without_dev_shm(argv)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                argv, env=env, cwd=function.code_dir, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                pass_fds=(request_read, response_write),
                # Its own process group: a timeout kills the function's child processes with it.
                start_new_session=True,
            )
        os.close(request_read)
        os.close(response_write)
        # Which pipes these descriptor numbers are: a number closed behind this object's back and reused
        # would otherwise send the next request to another worker (see _owns).
        self._pipe_identities = {self._request_write: _identity(self._request_write),
                                 self._response_read: _identity(self._response_read)}
        fcntl.fcntl(self._request_write, fcntl.F_SETFL, fcntl.fcntl(self._request_write, fcntl.F_GETFL) | os.O_NONBLOCK)
        self._buffer = b""
        self.invocations = 0
        self.initialised = False
        self._killed = False

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
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._close()

    def stop(self) -> None:
        """Ask the worker to finish (its request pipe closes); kill it if it does not."""
        self._close_request()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_GRACE_S)
        self.kill()

    def _owns(self, fd: int) -> bool:
        return fd >= 0 and _identity(fd) == self._pipe_identities.get(fd)

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


@dataclass
class FunctionStats:
    invocations: int = 0
    errors: int = 0
    timeouts: int = 0
    exits: int = 0
    throttles: int = 0
    cold_starts: int = 0
    max_concurrent: int = 0
    in_flight: int = 0

    def snapshot(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class FunctionPool:
    """The warm workers of one function, at most ``limit`` at a time."""

    function: DeployedFunction
    env: dict[str, str]
    log_path: Path
    limit: int
    hide_dev_shm: bool
    stats: FunctionStats = field(default_factory=FunctionStats)
    _idle: list[Worker] = field(default_factory=list)
    _workers: int = 0
    _closed: bool = False
    _condition: threading.Condition = field(default_factory=threading.Condition)

    def invoke(self, event: Any) -> InvokeResult:
        if self.limit == 0:
            with self._condition:
                self.stats.throttles += 1
            return InvokeResult(error={"errorType": "TooManyRequestsException", "errorMessage": "Rate Exceeded.",
                                       "stackTrace": []})
        worker = self._acquire()
        healthy = False  # anything unexpected (a broken pipe protocol) retires the worker
        try:
            result, healthy = self._run(worker, event)
        finally:
            self._release(worker, healthy=healthy and worker.alive)
        return result

    def _run(self, worker: Worker, event: Any) -> tuple[InvokeResult, bool]:
        """One invoke on one worker: its result, and whether the worker may serve another."""
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        timeout_s = self.function.timeout_s
        try:
            init_error = self._initialise(worker, timeout_s)
            if init_error is not None:
                return self._finish(InvokeResult(error=init_error, duration_ms=_ms_since(started))), False
            # The deadline starts when an initialised sandbox takes the invoke: waiting for a free one is
            # throttling, and the init phase has its own limit.
            request = {"request_id": request_id, "event": event, "invoked_function_arn": self.function.arn,
                       "deadline_ms": int((time.time() + timeout_s) * 1000)}
            response = worker.invoke(request, time.monotonic() + timeout_s)
        except WorkerTimedOut:
            worker.kill()
            now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            error = {"errorType": "Sandbox.Timedout",
                     "errorMessage": f"{now} {request_id} Task timed out after {timeout_s:.2f} seconds"}
            return self._finish(InvokeResult(error=error, duration_ms=_ms_since(started)), timeout=True), False
        except WorkerExited as exited:
            error = {"errorType": "Runtime.ExitError",
                     "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
                                     f"{_exit_description(exited.returncode)}"}
            return self._finish(InvokeResult(error=error, duration_ms=_ms_since(started)), exited=True), False
        except WorkerProtocolError as mismatch:
            # A bug of the local cloud, never of the function: loud, and the invoke fails so the event
            # source keeps the batch (it is retried) instead of settling it with someone else's answer.
            logger.error("%s: %s; the worker is retired", self.function.logical_id, mismatch)
            worker.kill()
            protocol_error: dict[str, Any] = {"errorType": "LocalCloud.InvokerProtocolError",
                                              "errorMessage": str(mismatch), "stackTrace": []}
            return self._finish(InvokeResult(error=protocol_error, duration_ms=_ms_since(started))), False
        if "error" in response:
            return self._finish(InvokeResult(error=response["error"], duration_ms=_ms_since(started))), True
        return self._finish(InvokeResult(payload=response.get("payload"), duration_ms=_ms_since(started))), True

    @staticmethod
    def _initialise(worker: Worker, timeout_s: int) -> dict[str, Any] | None:
        if worker.initialised:
            return None
        try:
            return worker.wait_initialised(time.monotonic() + INIT_LIMIT_S)
        except WorkerTimedOut:
            # Past the init limit Lambda retries the init within the invoke, under the function's timeout.
            return worker.wait_initialised(time.monotonic() + timeout_s)

    def _finish(self, result: InvokeResult, *, timeout: bool = False, exited: bool = False) -> InvokeResult:
        with self._condition:
            self.stats.invocations += 1
            self.stats.errors += result.failed
            self.stats.timeouts += timeout
            self.stats.exits += exited
        return result

    def _acquire(self) -> Worker:
        with self._condition:
            while not self._idle and self._workers >= self.limit:
                if self._closed:
                    raise RuntimeError(f"{self.function.logical_id}: the invoker is stopped")
                self._condition.wait()
            self.stats.in_flight += 1
            self.stats.max_concurrent = max(self.stats.max_concurrent, self.stats.in_flight)
            while self._idle:
                worker = self._idle.pop()  # the most recently used: the warmest
                if worker.alive:
                    return worker
                self._workers -= 1  # died while idle (e.g. killed from outside): start another
                worker.kill()
            self._workers += 1
            self.stats.cold_starts += 1
        try:
            return Worker(self.function, self.env, self.log_path, self.hide_dev_shm)
        except BaseException:
            with self._condition:
                self._workers -= 1
                self.stats.in_flight -= 1
                self._condition.notify()
            raise

    def _release(self, worker: Worker, *, healthy: bool) -> None:
        with self._condition:
            self.stats.in_flight -= 1
            if healthy and not self._closed:
                self._idle.append(worker)
            else:
                self._workers -= 1
            self._condition.notify()
        if not healthy or self._closed:
            if worker.alive:
                worker.stop()
            else:
                worker.kill()

    def stop(self) -> None:
        with self._condition:
            self._closed = True
            idle, self._idle = self._idle, []
            self._workers -= len(idle)
            self._condition.notify_all()
        for worker in idle:
            worker.stop()


def _identity(fd: int) -> tuple[int, int] | None:
    """(device, inode) of an open descriptor: every pipe has its own inode; None when fd is not open."""
    try:
        status = os.fstat(fd)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000


class SubprocessInvoker:
    """Invoker of a deployed stack's functions by logical id (or physical name, or ARN)."""

    def __init__(
        self,
        stack: DeployedStack,
        *,
        endpoint_url: str,
        log_dir: Path,
        max_concurrency: int = 4,
        hide_dev_shm: bool = False,
    ) -> None:
        if hide_dev_shm and (reason := dev_shm_unavailable_reason()) is not None:
            raise RuntimeError(f"--no-dev-shm is not possible here: {reason}")
        self.endpoint_url = endpoint_url
        self.log_dir = log_dir
        self.max_concurrency = max_concurrency
        self.hide_dev_shm = hide_dev_shm
        self._lock = threading.Lock()
        self._pools: dict[str, FunctionPool] = {}
        self._stack = stack

    def invoke(self, function_name: str, event: Any) -> InvokeResult:
        pool = self._pool(function_name)
        if pool is None:
            return InvokeResult(error={"errorType": "ResourceNotFoundException",
                                       "errorMessage": f"Function not found: {function_name}", "stackTrace": []})
        return pool.invoke(event)

    def _pool(self, function_name: str) -> FunctionPool | None:
        with self._lock:
            logical_id = self._stack.function_logical_id(function_name)
            if logical_id is None:
                return None
            pool = self._pools.get(logical_id)
            if pool is None:
                function = self._stack.functions[logical_id]
                limit = (function.reserved_concurrency if function.reserved_concurrency is not None
                         else self.max_concurrency)
                pool = FunctionPool(
                    function=function,
                    env=sandbox_environment(function, endpoint_url=self.endpoint_url, region=self._stack.region),
                    log_path=self.log_dir / f"{logical_id}.log",
                    limit=limit,
                    hide_dev_shm=self.hide_dev_shm,
                )
                self._pools[logical_id] = pool
            return pool

    def reconfigure(self, stack: DeployedStack) -> None:
        """After a redeploy: functions whose settings changed get fresh workers on their next invoke."""
        with self._lock:
            self._stack = stack
            stale = [logical_id for logical_id, pool in self._pools.items()
                     if stack.functions.get(logical_id) != pool.function]
            pools = [self._pools.pop(logical_id) for logical_id in stale]
        for pool in pools:
            pool.stop()

    def stats(self) -> dict[str, dict[str, int]]:
        with self._lock:
            pools = dict(self._pools)
        return {logical_id: pool.stats.snapshot() for logical_id, pool in pools.items()}

    def stop(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.stop()
