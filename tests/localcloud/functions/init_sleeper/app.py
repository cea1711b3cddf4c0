"""Sleeps INIT_SLEEP_S at module scope (its init), then event["sleep_s"] in the handler."""

from __future__ import annotations

import os
import time
from typing import Any

INIT_STARTED = time.time()
time.sleep(float(os.environ["INIT_SLEEP_S"]))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    time.sleep(event["sleep_s"])
    return {"init_started": INIT_STARTED, "remaining_ms": context.get_remaining_time_in_millis()}
