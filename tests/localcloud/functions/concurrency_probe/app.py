"""Holds an invoke for a while and says which process served it (ReservedConcurrentExecutions: 2)."""

from __future__ import annotations

import os
import time
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.time()
    time.sleep(float(event.get("hold_s", 0.5)))
    return {"pid": os.getpid(), "started": started, "finished": time.time()}
