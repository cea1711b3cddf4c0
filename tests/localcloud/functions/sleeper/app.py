"""Sleeps as long as the event says, then answers: the timeout tests' function (Timeout: 1)."""

from __future__ import annotations

import os
import time
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    time.sleep(float(event.get("sleep_s", 0)))
    return {"slept_s": event.get("sleep_s", 0), "pid": os.getpid()}
