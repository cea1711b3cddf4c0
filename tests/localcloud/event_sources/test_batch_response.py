"""Contract: how a function's answer to a batch is judged, and how function errors slow the poller."""

from __future__ import annotations

from typing import Any

import pytest

from localcloud.event_sources.batch_response import BatchOutcome, judge_batch
from localcloud.event_sources.poller import FailureBackoff
from localcloud.runtime.invocation import InvokeResult

IDS = ["id-1", "id-2", "id-3"]


def judge(payload: Any, *, reports: bool = True) -> tuple[BatchOutcome, tuple[str, ...]]:
    verdict = judge_batch(InvokeResult(payload=payload), IDS, reports_batch_item_failures=reports)
    return verdict.outcome, verdict.failed_item_ids


@pytest.mark.parametrize("payload", [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None},
                                     {"statusCode": 200}])
def test_an_empty_or_null_response_is_complete_success(payload: Any) -> None:
    assert judge(payload) == (BatchOutcome.SUCCEEDED, ())


def test_listed_identifiers_fail_only_those_items_in_the_order_reported() -> None:
    payload = {"batchItemFailures": [{"itemIdentifier": "id-3"}, {"itemIdentifier": "id-1"},
                                     {"itemIdentifier": "id-3"}]}
    assert judge(payload) == (BatchOutcome.PARTIALLY_FAILED, ("id-3", "id-1"))


@pytest.mark.parametrize(
    "payload",
    [
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"itemIdentifer": "id-1"}]},
        {"batchItemFailures": [{"itemIdentifier": "id-9"}]},
        {"batchItemFailures": [{"itemIdentifier": 1}]},
        {"batchItemFailures": ["id-1"]},
        {"batchItemFailures": {"itemIdentifier": "id-1"}},
        "id-1",
        ["id-1"],
    ],
    ids=["empty", "null", "misspelt-key", "not-in-batch", "not-a-string", "bare-id", "not-a-list",
         "string-response", "list-response"],
)
def test_an_invalid_response_fails_the_whole_batch(payload: Any) -> None:
    assert judge(payload)[0] is BatchOutcome.FAILED


def test_a_function_error_fails_the_whole_batch_even_without_report_batch_item_failures() -> None:
    verdict = judge_batch(InvokeResult(error={"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out"}),
                          IDS, reports_batch_item_failures=False)
    assert verdict.outcome is BatchOutcome.FAILED
    assert verdict.function_raised
    assert "Sandbox.Timedout" in verdict.reason


def test_without_report_batch_item_failures_any_return_value_is_success() -> None:
    assert judge({"batchItemFailures": [{"itemIdentifier": "id-1"}]}, reports=False) == (BatchOutcome.SUCCEEDED, ())
    assert judge("anything", reports=False) == (BatchOutcome.SUCCEEDED, ())


def test_function_errors_back_off_exponentially_up_to_a_cap_and_success_resets() -> None:
    # Given a backoff of 0.1 s doubling to at most 0.5 s
    backoff = FailureBackoff(initial_s=0.1, maximum_s=0.5)
    # When failures follow each other / Then the delay grows, then holds at the cap
    assert [backoff.failed() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    # When a batch succeeds / Then the next failure starts small again
    backoff.succeeded()
    assert backoff.current_delay() == 0.0
    assert backoff.failed() == 0.1
