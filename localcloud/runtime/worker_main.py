"""One warm function sandbox: imports the handler once, then serves invokes over two pipes (JSON lines).

Started by localcloud.runtime.subprocess_invoker (which runs this source as it was when the invoker started) as

    python -c "<run this file>" --request-fd R --response-fd W

with the environment Lambda would give the function (the invoker builds it) and the function's code
folder as the working directory. Standard library only, and run as a script rather than imported as
``localcloud.runtime.worker_main``: nothing of the local cloud (or of this repository) is importable in the
sandbox, only the function folder and its layers, as in Lambda's /var/task and /opt/python.

Protocol, one JSON object per line:
    init     {"init": "done"} or {"init": "failed", "error": {...}}, once, after importing the handler
             (a failed init ends the process: Lambda discards such a sandbox)
    request  {"request_id", "event", "deadline_ms" (epoch ms), "invoked_function_arn"}
    response {"request_id", "pid", "payload"} or {"request_id", "pid", "error": {"errorType", ...}}
             (the invoker checks request_id and pid: an answer that is not to its request is never used)
The pipes are not stdin/stdout, which stay the function's own (its logs). The invoker enforces the
deadline by killing this process; the handler sees it through context.get_remaining_time_in_millis().
"""

from __future__ import annotations

import argparse
import decimal
import importlib
import json
import math
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

Handler = Callable[[Any, "LambdaContext"], Any]

# The sandbox's start, for the Init Duration of its first invoke (the runtime's start and the handler's import).
_STARTED = time.monotonic()


class LambdaContext:
    """The runtime's context object, with the same attribute names and types as awslambdaric's."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        # A string, as the real runtime gives it (it reads AWS_LAMBDA_FUNCTION_MEMORY_SIZE).
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def error_shape(error: BaseException, error_type: str | None = None, message: str | None = None) -> dict[str, Any]:
    """Lambda's error document for an exception (what Invoke returns with X-Amz-Function-Error)."""
    return {
        "errorMessage": str(error) if message is None else message,
        "errorType": error_type or type(error).__name__,
        # From the handler down, as the runtime reports it: this file's frames are not the function's.
        "stackTrace": traceback.format_list(
            [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename != __file__]),
    }


def _decimal_as_number(value: Any) -> Any:
    # The Python runtime serialises Decimal (what DynamoDB's resource API returns) as a number.
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def load_handler(handler_spec: str) -> Handler:
    """`module.function` as the runtime resolves _HANDLER; errors carry the runtime's error types."""
    module_name, _, function_name = handler_spec.rpartition(".")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as error:
        # The runtime reports no stack for this one: the message says all there is.
        raise HandlerInitError({"errorMessage": f"Unable to import module '{module_name}': {error}",
                                "errorType": "Runtime.ImportModuleError", "stackTrace": []}) from error
    except SyntaxError as error:
        raise HandlerInitError(error_shape(error, "Runtime.UserCodeSyntaxError",
                                           f"Syntax error in module '{module_name}': {error}")) from error
    except Exception as error:
        # An exception at import time (e.g. invalid configuration) fails the init with its own type.
        raise HandlerInitError(error_shape(error)) from error
    handler = getattr(module, function_name, None)
    if handler is None:
        raise HandlerInitError({"errorMessage": f"Handler '{function_name}' missing on module '{module_name}'",
                                "errorType": "Runtime.HandlerNotFound", "stackTrace": []})
    return handler  # type: ignore[no-any-return]


class HandlerInitError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["errorMessage"])
        self.error = error


def _requests(request_fd: int) -> Iterator[dict[str, Any]]:
    with os.fdopen(request_fd, "rb", buffering=1 << 16) as requests:
        for line in requests:
            yield json.loads(line)


def _respond(response_fd: int, document: dict[str, Any]) -> None:
    data = memoryview((json.dumps(document, default=_decimal_as_number) + "\n").encode())
    while data:
        written = os.write(response_fd, data)
        data = data[written:]


def _invoke(handler: Handler, request: dict[str, Any]) -> dict[str, Any]:
    request_id = request["request_id"]
    context = LambdaContext(request_id, request["deadline_ms"], request["invoked_function_arn"])
    try:
        payload = handler(request["event"], context)
    except Exception as error:  # noqa: BLE001 - any handler error is the invoke's result, as in Lambda
        return {"request_id": request_id, "error": error_shape(error)}
    try:
        json.dumps(payload, default=_decimal_as_number)
    except (TypeError, ValueError) as error:
        return {"request_id": request_id,
                "error": error_shape(error, "Runtime.MarshalError", f"Unable to marshal response: {error}")}
    return {"request_id": request_id, "payload": payload}


def _log_line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def initialise(response_fd: int) -> Handler:
    """The init phase: import the handler's module and tell the invoker how it went."""
    started = time.monotonic()
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except HandlerInitError as error:
        _log_line(f"INIT_REPORT Init Duration: {(time.monotonic() - started) * 1000:.2f} ms\tPhase: init\t"
                  f"Status: error\tError Type: {error.error['errorType']}")
        _respond(response_fd, {"init": "failed", "error": error.error})
        # Lambda discards a sandbox whose init failed; the next invoke initialises a new one.
        sys.exit(1)
    _respond(response_fd, {"init": "done"})
    return handler


def report_line(request_id: str, *, duration_ms: float, memory_size_mb: int | str, max_memory_used_mb: int | None,
                init_duration_ms: float | None = None, status: str | None = None,
                error_type: str | None = None) -> str:
    """Lambda's REPORT line. Billed Duration is rounded up to the millisecond (1 ms granularity, at least
    1 ms) and includes the init phase on a cold start (billed since 1 August 2025 for ZIP functions on
    managed runtimes). Status and Error Type only for an invoke that did not end normally."""
    billed_ms = max(1, math.ceil(duration_ms + (init_duration_ms or 0.0)))
    fields = [f"REPORT RequestId: {request_id}", f"Duration: {duration_ms:.2f} ms", f"Billed Duration: {billed_ms} ms",
              f"Memory Size: {memory_size_mb} MB"]
    if max_memory_used_mb is not None:
        fields.append(f"Max Memory Used: {max_memory_used_mb} MB")
    if init_duration_ms is not None:
        fields.append(f"Init Duration: {init_duration_ms:.2f} ms")
    if status is not None:
        fields.append(f"Status: {status}")
    if error_type is not None:
        fields.append(f"Error Type: {error_type}")
    return "\t".join(fields)


def error_log_line(error: dict[str, Any]) -> str:
    """The Python runtime's log line for a handler error: one event, its traceback lines joined by \\r."""
    trace = "".join(error.get("stackTrace") or []).rstrip("\n").replace("\n", "\r")
    line = f"[ERROR] {error['errorType']}: {error['errorMessage']}"
    return f"{line}\rTraceback (most recent call last):\r{trace}" if trace else line


# The sandbox cgroup's peak memory file (--memory-peak-file), when the invoker limits its memory.
_MEMORY_PEAK_FILE: str | None = None


def max_memory_used_mb() -> int:
    """With a memory limit, the peak of the sandbox's cgroup: all its processes at once, as Lambda measures it.
    Otherwise the largest peak resident set among the sandbox's processes: the function's own, or that of the
    biggest process it started and waited for (a multiprocessing worker, which counts the memory it
    shares with the function after fork). Lambda measures the whole sandbox at once; the peaks of
    processes running side by side cannot be added up from here (a forked child's peak repeats its
    parent's pages), so such a sandbox is reported as its biggest process."""
    if _MEMORY_PEAK_FILE:
        try:
            with open(_MEMORY_PEAK_FILE) as peak:
                return int(peak.read()) // (1024 * 1024)
        except (OSError, ValueError):
            pass  # the group is being removed: the process's own peak below
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) // 1024  # KiB on Linux


def serve(request_fd: int, response_fd: int) -> None:
    handler = initialise(response_fd)
    init_duration_ms: float | None = (time.monotonic() - _STARTED) * 1000  # reported with the first invoke only
    memory_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    for request in _requests(request_fd):
        request_id = request["request_id"]
        started = time.monotonic()
        _log_line(f"START RequestId: {request_id} Version: {os.environ.get('AWS_LAMBDA_FUNCTION_VERSION')}")
        response = _invoke(handler, request)
        _respond(response_fd, {**response, "pid": os.getpid()})
        duration_ms = (time.monotonic() - started) * 1000
        if "error" in response:
            _log_line(error_log_line(response["error"]))
        _log_line(f"END RequestId: {request_id}")
        _log_line(report_line(request_id, duration_ms=duration_ms, memory_size_mb=memory_mb,
                              max_memory_used_mb=max_memory_used_mb(), init_duration_ms=init_duration_ms))
        init_duration_ms = None


def sandbox_sys_path(path: list[str], python_path: list[str]) -> list[str]:
    """What the sandbox may import from: the function folder and its layers, then the interpreter's own.

    The function folder and its layers come from PYTHONPATH in Lambda's order (/var/task, then
    /opt/python); the standard library and installed packages live under the interpreter's prefixes.
    Anything else goes: `python -c` puts "" (the working directory) first, and the project's editable
    install adds its own folders (every function's, the layer's, the repository root), which a Lambda
    sandbox never has on its path.
    """
    allowed = [entry for entry in python_path if entry]
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return [entry for entry in path
            if entry in allowed or (entry and any(entry.startswith(prefix + os.sep) for prefix in prefixes))]


def main() -> None:
    parser = argparse.ArgumentParser(description="one warm Lambda sandbox (see localcloud.runtime.worker_main)")
    parser.add_argument("--request-fd", type=int, required=True)
    parser.add_argument("--response-fd", type=int, required=True)
    parser.add_argument("--memory-peak-file")
    arguments = parser.parse_args()
    global _MEMORY_PEAK_FILE  # noqa: PLW0603 - set once, before the first invoke
    _MEMORY_PEAK_FILE = arguments.memory_peak_file
    sys.path[:] = sandbox_sys_path(sys.path, os.environ.get("PYTHONPATH", "").split(os.pathsep))
    serve(arguments.request_fd, arguments.response_fd)


if __name__ == "__main__":
    main()
