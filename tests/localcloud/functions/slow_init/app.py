"""Takes 1.5 s to import (longer than its 1 s timeout): the init phase is not the invoke's time."""

from __future__ import annotations

import time
from typing import Any

time.sleep(1.5)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"remaining_ms": context.get_remaining_time_in_millis()}
