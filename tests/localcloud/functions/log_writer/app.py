# ruff: noqa: T201 - printing is what this function tests
"""Writes log lines every way a function does: print, stderr, a JSON line, and a child process's output."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    print(f"printed {event['tag']}")
    print(f"to stderr {event['tag']}", file=sys.stderr, flush=True)
    print(json.dumps({"level": "INFO", "message": f"structured {event['tag']}", "function_request_id":
                      context.aws_request_id}), flush=True)
    # A child process writes to the same descriptors, as a multiprocessing worker or a tool would.
    subprocess.run(["/bin/echo", f"from a child {event['tag']}"], check=True)
    return {"log_stream_name": context.log_stream_name}
