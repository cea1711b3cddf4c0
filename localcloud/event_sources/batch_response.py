"""How Lambda reads a function's answer to a batch: success, partial failure, or whole-batch failure.

Shared by the SQS and stream pollers; only the item identifier differs (messageId vs the record's
dynamodb.SequenceNumber). The rules, from the Lambda developer guide (partial batch responses):

- the function raised or timed out -> the whole batch failed;
- without FunctionResponseTypes [ReportBatchItemFailures] any return value is success;
- with it: a null/empty response, or a null/empty batchItemFailures list, is complete success;
- an itemIdentifier that is null, empty, under a misspelt key, or not an id of THIS batch, or a
  response that is not a JSON object / whose batchItemFailures is not a list, fails the WHOLE batch
  (Lambda cannot tell what succeeded, so it trusts none of it).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from localcloud.runtime.invocation import InvokeResult

ITEM_IDENTIFIER = "itemIdentifier"
BATCH_ITEM_FAILURES = "batchItemFailures"


class BatchOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    PARTIALLY_FAILED = "partially_failed"
    FAILED = "failed"


@dataclass(frozen=True)
class BatchVerdict:
    outcome: BatchOutcome
    failed_item_ids: tuple[str, ...] = ()
    reason: str = ""
    function_raised: bool = False

    @property
    def whole_batch_failed(self) -> bool:
        return self.outcome is BatchOutcome.FAILED


def judge_batch(result: InvokeResult, item_ids: Collection[str], *, reports_batch_item_failures: bool) -> BatchVerdict:
    if result.error is not None:
        error_type = result.error.get("errorType", "Error")
        message = result.error.get("errorMessage", "")
        return BatchVerdict(BatchOutcome.FAILED, reason=f"function error {error_type}: {message}",
                            function_raised=True)
    if not reports_batch_item_failures:
        return BatchVerdict(BatchOutcome.SUCCEEDED)
    return _judge_partial_response(result.payload, item_ids)


def _judge_partial_response(payload: Any, item_ids: Collection[str]) -> BatchVerdict:
    if payload is None:
        return BatchVerdict(BatchOutcome.SUCCEEDED)
    if not isinstance(payload, dict):
        return BatchVerdict(BatchOutcome.FAILED, reason=f"response is not a JSON object: {payload!r:.200}")
    failures = payload.get(BATCH_ITEM_FAILURES)
    if failures is None or failures == []:
        return BatchVerdict(BatchOutcome.SUCCEEDED)
    if not isinstance(failures, list):
        return BatchVerdict(BatchOutcome.FAILED, reason=f"{BATCH_ITEM_FAILURES} is not a list: {failures!r:.200}")
    failed: list[str] = []
    for entry in failures:
        identifier, problem = _item_identifier(entry, item_ids)
        if identifier is None:
            return BatchVerdict(BatchOutcome.FAILED, reason=problem)
        if identifier not in failed:
            failed.append(identifier)
    return BatchVerdict(BatchOutcome.PARTIALLY_FAILED, failed_item_ids=tuple(failed),
                        reason=f"{len(failed)} item(s) reported failed")


def _item_identifier(entry: Any, item_ids: Collection[str]) -> tuple[str | None, str]:
    """(the identifier, "") for a valid entry, else (None, why the whole batch fails)."""
    identifier = entry.get(ITEM_IDENTIFIER) if isinstance(entry, dict) else None
    if not isinstance(identifier, str) or not identifier:
        return None, f"invalid batch item failure entry: {entry!r:.200}"
    if identifier not in item_ids:
        return None, f"itemIdentifier {identifier!r} is not in this batch"
    return identifier, ""
