"""The default invoker, no Docker: each function runs in warm worker processes (localcloud.runtime.worker_main).

Per function a pool of workers, started on demand and reused, as Lambda reuses warm sandboxes:
- at most ReservedConcurrentExecutions workers (0 throttles every invoke, as in Lambda), or the
  local cloud's max_concurrency when the template reserves none; further invokes wait for a worker;
- each worker has the environment Lambda would give the function, its code folder as working
  directory and its layers on sys.path, and Lambda's file system: no /dev/shm (unless dev_shm), a
  read-only code folder and layers, a private /tmp of EphemeralStorage (localcloud.runtime.sandbox);
- a new worker first runs the init phase (imports the handler) under Lambda's 10 s init limit; like
  Lambda, an init that takes longer is stopped and run again within the first invoke, the repeated
  init and the handler sharing the function's timeout; a failed init fails the invoke with its error
  and retires the worker;
- the function's Timeout is enforced from the moment the invoke reaches an initialised worker: at the
  deadline the worker's whole process group is killed and the invoke fails with Sandbox.Timedout;
  the next invoke starts a fresh worker (a cold start);
- a worker that exits during an invoke (sys.exit, os._exit, a crash) fails it with Runtime.ExitError;
- each worker runs in a cgroup of its own (localcloud.runtime.resource_limits): MemorySize as a hard
  memory limit (killed past it: Runtime.ExitError "signal: killed") and, for the functions asked for,
  the CPU share of MemorySize / 1,769 vCPU on the cores Lambda shows at that size;
- every worker runs on this machine's Python, whatever pythonX.Y the template declares (runtimes()
  says which; a handler that needs a newer Python fails its init with Runtime.UserCodeSyntaxError or
  Runtime.ImportModuleError, as it would on an older Lambda runtime); a function whose runtime is not
  Python is refused when the invoker starts (UnsupportedRuntime): `--invoker docker` runs those.
Requests and responses travel over two pipes as JSON lines; stdout and stderr are the function's
logs, appended to <log_dir>/<LogicalId>.log one timestamped event a line (localcloud.runtime.function_logs).

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

import logging
import platform
import re
import threading
from pathlib import Path
from typing import Any

from localcloud.deploy.deployed_stack import DeployedFunction, DeployedStack
from localcloud.runtime.environment import sandbox_environment
from localcloud.runtime.invocation import AnsweredLease, InvokeLease, InvokeResult
from localcloud.runtime.pool import FunctionPool
from localcloud.runtime.resource_limits import SandboxLimits
from localcloud.runtime.sandbox import choose_sandbox

logger = logging.getLogger("localcloud.invokers")

PYTHON_RUNTIME = re.compile(r"python3\.\d+")
# What every worker runs on (sys.executable), whatever the template's Runtime says.
THIS_PYTHON = f"python{platform.python_version()}"


class UnsupportedRuntime(ValueError):
    """A function this invoker cannot run: its runtime is not Python."""


def check_runtimes(stack: DeployedStack) -> None:
    """Refuse, by name, the functions whose declared runtime is not a Python one."""
    refused = {logical_id: function.runtime for logical_id, function in stack.functions.items()
               if function.runtime is not None and not PYTHON_RUNTIME.fullmatch(function.runtime)}
    if refused:
        named = ", ".join(f"{logical_id} ({runtime})" for logical_id, runtime in sorted(refused.items()))
        raise UnsupportedRuntime(f"the subprocess invoker runs Python functions only, not {named}; "
                                 f"--invoker docker runs them in their runtime's image")


class SubprocessInvoker:
    """Invoker of a deployed stack's functions by logical id (or physical name, or ARN)."""

    def __init__(
        self,
        stack: DeployedStack,
        *,
        endpoint_url: str,
        log_dir: Path,
        max_concurrency: int = 4,
        dev_shm: bool = False,
        limits: SandboxLimits | None = None,
    ) -> None:
        check_runtimes(stack)
        self._log_runtimes(stack)
        self.endpoint_url = endpoint_url
        self.log_dir = log_dir
        self.max_concurrency = max_concurrency
        self.sandbox = choose_sandbox(dev_shm=dev_shm)
        self._lock = threading.Lock()
        self._pools: dict[str, FunctionPool] = {}
        self._stack = stack
        self.limits = limits  # None: every worker has the whole machine (localcloud.runtime.resource_limits)
        for warning in limits.warnings(stack.functions) if limits is not None else []:
            logger.warning("%s", warning)

    def invoke(self, function_name: str, event: Any) -> InvokeResult:
        pool = self._pool(function_name)
        if pool is None:
            return InvokeResult(error={"errorType": "ResourceNotFoundException",
                                       "errorMessage": f"Function not found: {function_name}", "stackTrace": []})
        return pool.invoke(event)

    def try_lease(self, function_name: str) -> InvokeLease | None:
        """A free worker of the function now (LeasingInvoker), or None when its workers are all busy."""
        pool = self._pool(function_name)
        if pool is None:
            return AnsweredLease(InvokeResult(error={"errorType": "ResourceNotFoundException",
                                                     "errorMessage": f"Function not found: {function_name}",
                                                     "stackTrace": []}))
        return pool.try_lease()

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
                    sandbox=self.sandbox,
                    limits=self.limits,
                )
                self._pools[logical_id] = pool
            return pool

    def runtimes(self) -> dict[str, dict[str, str | None]]:
        """Each function's declared runtime and the Python its workers run on."""
        return {logical_id: {"declared": function.runtime, "runs_on": THIS_PYTHON}
                for logical_id, function in self._stack.functions.items()}

    @staticmethod
    def _log_runtimes(stack: DeployedStack) -> None:
        declared = sorted({function.runtime for function in stack.functions.values() if function.runtime})
        if any(not THIS_PYTHON.startswith(runtime + ".") for runtime in declared):
            logger.warning("functions declaring %s run on this machine's %s", ", ".join(declared), THIS_PYTHON)

    def reconfigure(self, stack: DeployedStack) -> None:
        """After a redeploy: functions whose settings changed get fresh workers on their next invoke."""
        check_runtimes(stack)
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

    @property
    def functions(self) -> dict[str, DeployedFunction]:
        return self._stack.functions

    def resource_limits(self) -> dict[str, dict[str, str]]:
        """Each function's memory and CPU limits in force, in words (`localcloud status`)."""
        if self.limits is None:
            return {logical_id: {"memory": "not limited", "cpu": "not limited"} for logical_id in self._stack.functions}
        return self.limits.status(self._stack.functions)

    def stop(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.stop()
        if self.limits is not None:
            self.limits.release_all()
