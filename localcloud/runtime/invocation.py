"""What every invoker returns and what every poller needs from one.

Pollers (SQS, DynamoDB Streams) and the Step Functions task router depend only on the Invoker
protocol, so they run the same against the subprocess invoker, the Docker (sam local start-lambda)
invoker, and the small in-process test functions of the contract tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class InvokeResult:
    """The outcome of one synchronous (RequestResponse) invoke.

    payload: the handler's JSON-decoded return value (None when it failed).
    error:   Lambda's error shape {"errorType", "errorMessage", "stackTrace"} when the function raised,
             timed out ("errorType": "TimeoutError"/"Sandbox.Timedout") or its process died.
    """

    payload: Any = None
    error: dict[str, Any] | None = None
    duration_ms: float = 0.0

    @property
    def failed(self) -> bool:
        return self.error is not None


class Invoker(Protocol):
    def invoke(self, function_name: str, event: Any) -> InvokeResult:
        """Invoke a function (its logical id in template.yaml) synchronously with an event."""
        ...
