"""Fails at import time, as a function with a missing dependency does (an init error)."""

from __future__ import annotations

from typing import Any

import a_module_that_does_not_exist  # noqa: F401


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {}
