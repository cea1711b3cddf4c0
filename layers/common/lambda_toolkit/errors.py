"""Error types that say whether retrying can help.

A PermanentError means the input itself is wrong (malformed JSON, an order that fails validation, a
conflicting duplicate): the same input will fail the same way on every retry, so it should go to a
dead-letter queue with its reason at once. A TransientError (or any unexpected exception) may pass on
a retry: throttling, a timeout, a dependency that is briefly down.
"""

from __future__ import annotations

from typing import Any


class PermanentError(Exception):
    """Bad input: retrying cannot help. ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, message: str, details: Any = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"reason": self.reason, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class TransientError(Exception):
    """A failure that may pass on a retry (throttling, timeouts, a dependency briefly down)."""


class ConfigurationError(Exception):
    """The function's environment is wrong; raised at cold start so no event is half-processed."""
