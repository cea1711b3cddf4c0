"""A pydantic ValidationError as a PermanentError: the same bad input fails the same way on every retry.

Every function validates its event with a typed model and reports what was wrong field by field, in
one shape: ``details`` lists ``{"field", "problem"}`` for every problem, and the message names the
first few (a deeply wrong event would otherwise make a message of kilobytes).
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import ValidationError

from lambda_toolkit.errors import PermanentError

ErrorT = TypeVar("ErrorT", bound=PermanentError)

SUMMARY_PROBLEMS = 5


def validation_problems(error: ValidationError, *, root: str) -> list[dict[str, str]]:
    """Each problem as {"field": "lines.0.quantity", "problem": "..."}; ``root`` names the whole input."""
    return [
        {
            "field": ".".join(str(part) for part in issue["loc"]) or root,
            # pydantic prefixes the message of a validator's own ValueError; the reader wants the message.
            "problem": issue["msg"].removeprefix("Value error, "),
        }
        for issue in error.errors()
    ]


def permanent_error(
    error: ValidationError,
    reason: str,
    *,
    root: str,
    error_type: type[ErrorT] = PermanentError,  # type: ignore[assignment]
    message_prefix: str = "",
) -> ErrorT:
    """``error_type(reason, summary, details=problems)``, to raise ``from error``."""
    problems = validation_problems(error, root=root)
    summary = "; ".join(f"{problem['field']}: {problem['problem']}" for problem in problems[:SUMMARY_PROBLEMS])
    return error_type(reason, f"{message_prefix}{summary}", details=problems)
