"""Allocates (and touches) as many MB as the event or each SQS record says, or writes as many MB to /tmp:
the memory limit tests' function."""

from __future__ import annotations

import json
import os
from typing import Any

CHUNK_MB = 8


def allocate(megabytes: int) -> list[bytearray]:
    # Written, not only reserved: untouched pages are never charged to the sandbox's memory.
    return [bytearray(b"\x01") * (CHUNK_MB * 1024 * 1024) for _ in range(megabytes // CHUNK_MB)]


def write_tmp(megabytes: int) -> int:
    """Writes (and syncs) megabytes to /tmp, keeping the file: what /tmp holds is not the function's memory."""
    chunk = b"\x02" * (1024 * 1024)
    with open("/tmp/written.bin", "wb") as file:
        for _ in range(megabytes):
            file.write(chunk)
        file.flush()
        os.fsync(file.fileno())
    return os.path.getsize("/tmp/written.bin") // (1024 * 1024)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "write_tmp_mb" in event:
        return {"written_mb": write_tmp(int(event["write_tmp_mb"]))}
    requests = [json.loads(record["body"]) for record in event.get("Records", [])] or [event]
    held = [allocate(int(request.get("allocate_mb", 0))) for request in requests]
    return {"allocated_mb": sum(len(chunks) * CHUNK_MB for chunks in held), "pid": os.getpid(),
            "request_id": context.aws_request_id}
