"""Fails every batch: messages come back until the queue's redrive policy moves them to its DLQ."""

from __future__ import annotations

from typing import Any


class PoisonMessageError(Exception):
    pass


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    bodies = [record["body"] for record in event["Records"]]
    raise PoisonMessageError(f"cannot process {bodies}")
