"""Allocates (and touches) as many MB as the event or each SQS record says: the memory limit tests' function."""

from __future__ import annotations

import json
import os
from typing import Any

CHUNK_MB = 8


def allocate(megabytes: int) -> list[bytearray]:
    # Written, not only reserved: untouched pages are never charged to the sandbox's memory.
    return [bytearray(b"\x01") * (CHUNK_MB * 1024 * 1024) for _ in range(megabytes // CHUNK_MB)]


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    requests = [json.loads(record["body"]) for record in event.get("Records", [])] or [event]
    held = [allocate(int(request.get("allocate_mb", 0))) for request in requests]
    return {"allocated_mb": sum(len(chunks) * CHUNK_MB for chunks in held), "pid": os.getpid(),
            "request_id": context.aws_request_id}
