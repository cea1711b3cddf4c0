"""Logs through the standard library's root logger and a named one, as code that never configured
logging does; Lambda's runtime decides what appears."""

from __future__ import annotations

import logging
from typing import Any

named = logging.getLogger("probe.named")


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    tag = event["tag"]
    logging.debug("debug %s", tag)
    logging.info("info %s", tag)
    logging.warning("warning %s", tag)
    named.error("error %s", tag, extra={"order_id": "o-1"})
    return {"root_level": logging.getLevelName(logging.getLogger().level),
            "root_handlers": len(logging.getLogger().handlers)}
