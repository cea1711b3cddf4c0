"""The warm workers of one function: started on demand, reused, at most a limit at a time."""


from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localcloud.deploy.deployed_stack import DeployedFunction
from localcloud.runtime.invocation import AnsweredLease, InvokeLease, InvokeResult
from localcloud.runtime.resource_limits import SandboxLimits
from localcloud.runtime.sandbox import Sandbox
from localcloud.runtime.worker import (
    INIT_LIMIT_S,
    Worker,
    WorkerExited,
    WorkerProtocolError,
    WorkerTimedOut,
    exit_description,
)

logger = logging.getLogger("localcloud.invokers")


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
    sandbox: Sandbox
    limits: SandboxLimits | None = None  # each worker's cgroup (memory, CPU); None: the whole machine
    stats: FunctionStats = field(default_factory=FunctionStats)
    _idle: list[Worker] = field(default_factory=list)
    _workers: int = 0
    _closed: bool = False
    _condition: threading.Condition = field(default_factory=threading.Condition)

    def invoke(self, event: Any) -> InvokeResult:
        if self.limit == 0:
            return self._throttled()
        worker = self._acquire()
        assert worker is not None  # waiting for one never comes back without
        return self._invoke_on(worker, event)

    def try_lease(self) -> InvokeLease | None:
        """A worker for one invoke if one is free (or may be started) now; None when all are busy."""
        if self.limit == 0:
            return AnsweredLease(self._throttled())
        worker = self._acquire(wait=False)
        return None if worker is None else _PoolLease(self, worker)

    def _throttled(self) -> InvokeResult:
        with self._condition:
            self.stats.throttles += 1
        return InvokeResult(error={"errorType": "TooManyRequestsException", "errorMessage": "Rate Exceeded.",
                                   "stackTrace": []})

    def _invoke_on(self, worker: Worker, event: Any) -> InvokeResult:
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
            init_error, deadline = self._initialise(worker, timeout_s)
            if init_error is not None:
                return self._finish(InvokeResult(error=init_error, duration_ms=_ms_since(started))), False
            # The deadline starts when an initialised sandbox takes the invoke: waiting for a free one is
            # throttling, and the init phase has its own limit (unless it ran again within this invoke).
            deadline = deadline or time.monotonic() + timeout_s
            request = {"request_id": request_id, "event": event, "invoked_function_arn": self.function.arn,
                       "deadline_ms": int((time.time() + deadline - time.monotonic()) * 1000)}
            response = worker.invoke(request, deadline)
        except WorkerTimedOut:
            worker.kill()
            now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            error = {"errorType": "Sandbox.Timedout",
                     "errorMessage": f"{now} {request_id} Task timed out after {timeout_s:.2f} seconds"}
            worker.log_unfinished_invoke(request_id, error, status="timeout")
            return self._finish(InvokeResult(error=error, duration_ms=_ms_since(started)), timeout=True), False
        except WorkerExited as exited:
            error = {"errorType": "Runtime.ExitError",
                     "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
                                     f"{exit_description(exited.returncode)}"}
            worker.log_unfinished_invoke(request_id, error, status="error")
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
    def _initialise(worker: Worker, timeout_s: int) -> tuple[dict[str, Any] | None, float | None]:
        """The init phase of a new worker: its error (None when it succeeded), and the invoke's deadline
        when the init had to run again within the invoke (a suppressed init), else None."""
        if worker.initialised:
            return None, None
        try:
            return worker.wait_initialised(time.monotonic() + INIT_LIMIT_S), None
        except WorkerTimedOut:
            # Past the init limit Lambda resets the environment and runs the init again within the first
            # invoke, under the function's timeout: the repeated init and the handler share that timeout.
            worker.restart_suppressed_init(INIT_LIMIT_S)
            deadline = time.monotonic() + timeout_s
            return worker.wait_initialised(deadline), deadline

    def _finish(self, result: InvokeResult, *, timeout: bool = False, exited: bool = False) -> InvokeResult:
        with self._condition:
            self.stats.invocations += 1
            self.stats.errors += result.failed
            self.stats.timeouts += timeout
            self.stats.exits += exited
        return result

    def _acquire(self, *, wait: bool = True) -> Worker | None:
        with self._condition:
            while not self._idle and self._workers >= self.limit:
                if self._closed:
                    raise RuntimeError(f"{self.function.logical_id}: the invoker is stopped")
                if not wait:
                    return None
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
            return Worker(self.function, self.env, self.log_path, self.sandbox, self.limits)
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



@dataclass
class _PoolLease:
    """A worker taken from the pool for one invoke (see FunctionPool.try_lease)."""

    pool: FunctionPool
    worker: Worker
    _done: bool = False

    def invoke(self, event: Any) -> InvokeResult:
        if self._done:
            raise RuntimeError("a lease serves one invoke")
        self._done = True
        return self.pool._invoke_on(self.worker, event)

    def release(self) -> None:
        if not self._done:
            self._done = True
            self.pool._release(self.worker, healthy=self.worker.alive)


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000

