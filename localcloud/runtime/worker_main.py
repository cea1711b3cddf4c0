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

Before the handler's module is imported it does what Lambda's Python runtime (awslambdaric's
bootstrap) does: stdout and stderr unbuffered; a handler on the root logger with the runtime's text
format (the root level left at WARNING, so logging.info() prints nothing) or, with LoggingConfig's
JSON format, the runtime's JSON lines at AWS_LAMBDA_LOG_LEVEL; a fresh _X_AMZN_TRACE_ID and the
request id on every record of each invoke. Where the sandbox has no /dev/shm, POSIX semaphores fail
with ENOSYS (OSError 38) as they do in Lambda, instead of this glibc's ENOENT.
"""

from __future__ import annotations

import argparse
import decimal
import errno
import importlib
import json
import logging
import math
import os
import random
import resource
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any, TextIO

Handler = Callable[[Any, "LambdaContext"], Any]

# The sandbox's start, for the Init Duration of its first invoke (the runtime's start and the handler's import).
_STARTED = time.monotonic()
# The invoke in progress, for the log records' aws_request_id (awslambdaric's _GLOBAL_AWS_REQUEST_ID).
_current_request_id: str | None = None

# What Python sets LC_CTYPE to when LANG's locale is missing (PEP 538); see prepare_runtime.
COERCED_LOCALE = "C.UTF-8"
# awslambdaric's formats (bootstrap.py, lambda_runtime_log_utils.py).
TEXT_LOG_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
TEXT_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
JSON_DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_RESERVED_RECORD_FIELDS = frozenset({
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info", "exc_text",
    "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread", "threadName",
    "processName", "process", "aws_request_id", "tenant_id", "_frame_type",
})


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


class Unbuffered:
    """A stream that flushes after every write, as the runtime wraps stdout and stderr."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.stream, attribute)

    def write(self, text: str) -> int:
        written = self.stream.write(text)
        self.stream.flush()
        return written

    def writelines(self, lines: Any) -> None:
        self.stream.writelines(lines)
        self.stream.flush()


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _current_request_id or ""
        return True


class _StdoutHandler(logging.Handler):
    """The runtime's log sink: the formatted record (which ends with its newline) to the current stdout."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stdout.write(self.format(record))


class JsonFormatter(logging.Formatter):
    """The runtime's JSON lines (LoggingConfig LogFormat JSON), field for field as awslambdaric's."""

    def __init__(self) -> None:
        super().__init__(datefmt=JSON_DATE_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        record.levelno = min(50, max(0, record.levelno)) // 10 * 10
        record.levelname = logging.getLevelName(record.levelno)
        exc_info = record.exc_info
        document: dict[str, Any] = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "stackTrace": traceback.format_tb(exc_info[2]) if exc_info else None,
            "errorType": exc_info[0].__name__ if exc_info and exc_info[0] else None,
            "errorMessage": str(exc_info[1]) if exc_info else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": f"{record.pathname}:{record.funcName}:{record.lineno}" if exc_info else None,
        }
        document.update((key, value) for key, value in record.__dict__.items()
                        if key not in _RESERVED_RECORD_FIELDS and key not in document)
        return json.dumps({key: value for key, value in document.items() if value is not None},
                          ensure_ascii=False, default=str) + "\n"


def json_logging() -> bool:
    return os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"


def setup_logging() -> None:
    """The root logger as the runtime leaves it: one handler, and a level only when Lambda gives one
    (AWS_LAMBDA_LOG_LEVEL, with the JSON format); otherwise Python's default, WARNING."""
    logging.Formatter.converter = time.gmtime
    handler = _StdoutHandler()
    if json_logging():
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_LOG_FORMAT, TEXT_DATE_FORMAT))
    declared = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    level = {"TRACE": "DEBUG"}.get(declared, declared)
    root = logging.getLogger()
    if level in logging.getLevelNamesMapping():
        root.setLevel(level)
    handler.addFilter(_RequestIdFilter())
    root.addHandler(handler)


def new_trace_id(now: float | None = None) -> str:
    """An X-Ray trace header as Lambda gives each invoke (_X_AMZN_TRACE_ID): Root=1-<8 hex epoch
    seconds>-<24 hex>;Parent=<16 hex>;Sampled=0 (not sampled: no X-Ray daemon runs locally)."""
    seconds = int(time.time() if now is None else now)
    return (f"Root=1-{seconds:08x}-{random.getrandbits(96):024x};Parent={random.getrandbits(64):016x};"
            f"Sampled=0")


def fail_semaphores_as_lambda() -> None:
    """Without /dev/shm, creating a POSIX semaphore or shared memory fails in Lambda with ENOSYS
    (OSError 38, "Function not implemented"), and with ENOENT under a newer glibc: the same failure,
    reported with Lambda's errno (multiprocessing.Pool, Queue, Lock, shared_memory)."""
    import _multiprocessing  # noqa: PLC0415 - only where /dev/shm is missing
    import _posixshmem  # noqa: PLC0415

    semlock = _multiprocessing.SemLock
    shm_open = _posixshmem.shm_open

    def not_implemented() -> OSError:
        return OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))

    class SemLock(semlock):  # type: ignore[misc, valid-type]
        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            try:
                return semlock.__new__(cls, *args, **kwargs)
            except FileNotFoundError:
                raise not_implemented() from None

    def lambda_shm_open(*args: Any, **kwargs: Any) -> int:
        try:
            descriptor: int = shm_open(*args, **kwargs)
            return descriptor
        except FileNotFoundError:
            raise not_implemented() from None

    _multiprocessing.SemLock = SemLock
    _posixshmem.shm_open = lambda_shm_open


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


def error_log_line(error: dict[str, Any], *, as_json: bool = False) -> str:
    """The Python runtime's log line for a handler error: one event, its traceback lines joined by \\r
    (with the JSON log format: the error document as one JSON line, as awslambdaric's log_error)."""
    if as_json:
        stamp = time.strftime(JSON_DATE_FORMAT, time.gmtime())
        return json.dumps({"timestamp": stamp, "log_level": "ERROR", **error, "requestId": _current_request_id or ""},
                          ensure_ascii=False)
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


def serve(request_fd: int, response_fd: int, *, suppressed_init: bool = False) -> None:
    """Initialise, then serve invokes. After a suppressed init (the init ran again within the first
    invoke) that invoke's Duration includes the init and its REPORT has no Init Duration."""
    global _current_request_id  # noqa: PLW0603 - the runtime's per-invoke state, read by the log filter
    handler = initialise(response_fd)
    init_duration_ms: float | None = None if suppressed_init else (time.monotonic() - _STARTED) * 1000
    first_started: float | None = _STARTED if suppressed_init else None
    memory_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    for request in _requests(request_fd):
        request_id = _current_request_id = request["request_id"]
        os.environ["_X_AMZN_TRACE_ID"] = new_trace_id()
        started, first_started = first_started or time.monotonic(), None
        _log_line(f"START RequestId: {request_id} Version: {os.environ.get('AWS_LAMBDA_FUNCTION_VERSION')}")
        response = _invoke(handler, request)
        _respond(response_fd, {**response, "pid": os.getpid()})
        duration_ms = (time.monotonic() - started) * 1000
        if "error" in response:
            _log_line(error_log_line(response["error"], as_json=json_logging()))
        _log_line(f"END RequestId: {request_id}")
        _log_line(report_line(request_id, duration_ms=duration_ms, memory_size_mb=memory_mb,
                              max_memory_used_mb=max_memory_used_mb(), init_duration_ms=init_duration_ms))
        init_duration_ms = None
        _current_request_id = None


def sandbox_sys_path(path: list[str], task_root: str, layer_paths: list[str]) -> list[str]:
    """What the sandbox may import from: the function folder and its layers, then the interpreter's own.

    The function folder and its layers come first in Lambda's order (/var/task, then /opt/python), as
    the runtime's bootstrap puts them there; the standard library and installed packages live under
    the interpreter's prefixes. Anything else goes: `python -c` puts "" (the working directory) first,
    PYTHONPATH ($LAMBDA_RUNTIME_DIR, the runtime's own code) is not the function's to import from, and
    the project's editable install adds its own folders (every function's, the layer's, the repository
    root), which a Lambda sandbox never has on its path.
    """
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    interpreter = [entry for entry in path if entry and any(entry.startswith(prefix + os.sep) for prefix in prefixes)]
    return list(dict.fromkeys([task_root, *layer_paths, *interpreter]))


def prepare_runtime() -> None:
    """What the runtime does before it imports the handler (see the module docstring)."""
    if os.environ.get("LC_CTYPE") == COERCED_LOCALE:
        # Python's own addition (PEP 538) where LANG's locale is not installed, as Lambda's is: not a
        # variable Lambda sets. (A function declaring LC_CTYPE=C.UTF-8 itself is not told apart.)
        del os.environ["LC_CTYPE"]
    sys.stdout = Unbuffered(sys.stdout)  # type: ignore[assignment]
    sys.stderr = Unbuffered(sys.stderr)  # type: ignore[assignment]
    setup_logging()
    if not os.path.exists("/dev/shm"):
        fail_semaphores_as_lambda()


def main() -> None:
    parser = argparse.ArgumentParser(description="one warm Lambda sandbox (see localcloud.runtime.worker_main)")
    parser.add_argument("--request-fd", type=int, required=True)
    parser.add_argument("--response-fd", type=int, required=True)
    parser.add_argument("--layer-path", action="append", default=[], help="a layer's python folder (/opt/python)")
    parser.add_argument("--suppressed-init", action="store_true",
                        help="this init runs again within the first invoke (the first passed the init limit)")
    parser.add_argument("--memory-peak-file", help="the sandbox cgroup's peak memory (Max Memory Used)")
    arguments = parser.parse_args()
    global _MEMORY_PEAK_FILE  # noqa: PLW0603 - set once, before the first invoke
    _MEMORY_PEAK_FILE = arguments.memory_peak_file
    sys.path[:] = sandbox_sys_path(sys.path, os.environ["LAMBDA_TASK_ROOT"], arguments.layer_path)
    prepare_runtime()
    serve(arguments.request_fd, arguments.response_fd, suppressed_init=arguments.suppressed_init)


if __name__ == "__main__":
    main()
