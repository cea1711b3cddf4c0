"""What every invoker returns and what every poller needs from one.

Pollers (SQS, DynamoDB Streams) and the Step Functions task router depend only on the Invoker
protocol, so they run the same against the subprocess invoker, the Docker (sam local start-lambda)
invoker, and the small in-process test functions of the contract tests.

An invoker that knows its capacity also offers leases (LeasingInvoker): a free execution environment
taken BEFORE work is fetched for it. The SQS poller takes one before it receives, so a received batch
never waits invisible for a worker (Lambda scales its pollers to the function's concurrency, it does not
queue batches behind it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


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


class InvokeLease(Protocol):
    """One execution environment held for one invoke: invoke() uses and frees it, release() frees it unused."""

    def invoke(self, event: Any) -> InvokeResult: ...

    def release(self) -> None: ...


@runtime_checkable
class LeasingInvoker(Protocol):
    def try_lease(self, function_name: str) -> InvokeLease | None:
        """A free environment for the function now, or None when every one is busy (never waits)."""
        ...


@dataclass
class DirectLease:
    """A lease on an invoker that keeps no count of its environments: the invoke simply goes to it."""

    invoker: Invoker
    function_name: str

    def invoke(self, event: Any) -> InvokeResult:
        return self.invoker.invoke(self.function_name, event)

    def release(self) -> None:
        return None


@dataclass
class AnsweredLease:
    """A lease whose invoke is already decided (a throttled or unknown function): no environment is held."""

    result: InvokeResult

    def invoke(self, event: Any) -> InvokeResult:
        return self.result

    def release(self) -> None:
        return None
