"""Run in a fresh interpreter where aws_xray_sdk cannot be imported, as in CommonLayer; prints JSON.

    python -m tests.unit.layer.tracer_probe toolkit|plain

`toolkit` imports lambda_toolkit.observability and invokes a handler under the three decorators every
function uses, once returning and once raising; `plain` only creates Powertools' own Tracer().
"""

from __future__ import annotations

import json
import sys
from typing import Any

# None in sys.modules makes every `import aws_xray_sdk...` raise ImportError, whether or not the SDK is
# installed in this venv: the probe sees what a function on the layer sees.
sys.modules["aws_xray_sdk"] = None  # type: ignore[assignment]


def _invoke_toolkit() -> dict[str, Any]:
    from lambda_toolkit.observability import logger, metrics, tracer  # noqa: PLC0415 - after the block
    from tests.support.lambda_context import FakeLambdaContext  # noqa: PLC0415

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    @tracer.capture_lambda_handler(capture_response=False)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if event.get("fail"):
            raise ValueError("the handler's own error")
        return {"echo": event["value"]}

    seen: dict[str, Any] = {"returned": handler({"value": 7}, FakeLambdaContext())}
    try:
        handler({"fail": True}, FakeLambdaContext())
    except ValueError as error:
        seen["raised"] = f"{type(error).__name__}: {error}"
    return seen


def _create_plain_tracer() -> dict[str, Any]:
    from aws_lambda_powertools import Tracer  # noqa: PLC0415

    try:
        Tracer()
    except ImportError as error:
        return {"raised": f"{type(error).__name__}: {error}"}
    return {"raised": None}


def main() -> None:
    seen = _invoke_toolkit() if sys.argv[1] == "toolkit" else _create_plain_tracer()
    seen["xray_sdk_imported"] = sys.modules.get("aws_xray_sdk") is not None
    print(json.dumps(seen))  # noqa: T201 - the parent test reads it


if __name__ == "__main__":
    main()
