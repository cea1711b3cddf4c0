"""Reports what the function sees: environment, context, sys.path, /dev/shm and multiprocessing."""

from __future__ import annotations

import multiprocessing
import os
import sys
from typing import Any

import probe_layer_marker

REPORTED_VARIABLES = (
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION", "_HANDLER", "LAMBDA_TASK_ROOT", "AWS_ENDPOINT_URL", "AWS_REGION",
    "AWS_DEFAULT_REGION", "POWERTOOLS_TRACE_DISABLED", "PROBE_QUEUE_URL", "PROBE_TABLE_NAME", "PROBE_SETTING",
)


def _child(connection: Any) -> None:
    connection.send(os.getpid())
    connection.close()


def _multiprocessing_report() -> dict[str, Any]:
    report: dict[str, Any] = {}
    try:
        multiprocessing.Lock()
        report["lock"] = "ok"
    except OSError as error:
        report["lock"] = f"OSError {error.errno}"
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("fork").Process(target=_child, args=(child,))
    process.start()
    report["process_with_pipe"] = "ok" if parent.recv() != os.getpid() else "same pid"
    process.join()
    return report


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "environment": {name: os.environ.get(name) for name in REPORTED_VARIABLES},
        "environment_names": sorted(os.environ),
        "trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
        "reported": {name: os.environ.get(name) for name in event.get("report", [])},
        "log_stream_name": context.log_stream_name,
        "context": {
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "aws_request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
        "cwd": os.getcwd(),
        "sys_path": sys.path,
        "layer": probe_layer_marker.LAYER_NAME,
        "localcloud_importable": _importable("localcloud"),
        "dev_shm_exists": os.path.exists("/dev/shm"),
        "multiprocessing": _multiprocessing_report() if event.get("multiprocessing") else None,
        "event": event,
    }


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True
