"""The fan-out job (count the primes below n in k items) and every way it can be refused.

Every refusal is an InvalidJobError. Its class name is the errorType Lambda reports, which the state
machine's Split step catches and turns into a failed execution (Error "InvalidJobError", Cause
carrying the message) BEFORE any item is fanned out: a bad job never half-runs.

Reasons (the ``reason`` attribute, first word of the message):
    not_an_object           the execution input (or the event) is not a JSON object
    empty_job               no job, or an empty object
    invalid_job             a field is missing, of the wrong type (n must be an integer), out of range,
                            unknown, or k > n
    too_many_items          k is above FANOUT_MAX_ITEMS
    n_too_large             the costliest item would not finish within the worker's time budget
    test_failures_disabled  fail_items given where FANOUT_ALLOW_TEST_FAILURES is not true (prod)
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fanout_split_config import FanOutSplitConfig
from lambda_platform import MAX_SAFE_INTEGER, effective_vcpus
from prime_ranges import ITEM_OVERHEAD_S, CostCurve, PrimeRange, balanced_ranges
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from lambda_toolkit.errors import PermanentError
from lambda_toolkit.validation import permanent_error

JobId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class InvalidJobError(PermanentError):
    """The job cannot be run as given; the message says why and, where it can, what would work."""


class PrimeCountJob(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    job_id: JobId | None = None
    n: Annotated[StrictInt, Field(ge=2, le=MAX_SAFE_INTEGER, description="count the primes p < n")]
    k: Annotated[StrictInt, Field(ge=1, description="number of items (ranges) to fan out")]
    # Dev-only fault injection, see fanout_splitter.
    fail_items: Annotated[list[Annotated[StrictInt, Field(ge=0)]], Field(max_length=10_000)] = []


def parse_job(job: Any, config: FanOutSplitConfig) -> PrimeCountJob:
    """The execution input -> a job that can run, or an InvalidJobError naming the problem."""
    if job is None or job == {}:
        raise InvalidJobError("empty_job", "the job is empty: give at least {\"n\": <int>, \"k\": <int>}")
    if not isinstance(job, dict):
        raise InvalidJobError(
            "not_an_object",
            f"the job must be a JSON object like {{\"n\": 1000000, \"k\": 4}}, got {_json_type(job)}",
        )
    try:
        parsed = PrimeCountJob.model_validate(job)
    except ValidationError as error:
        raise permanent_error(error, "invalid_job", root="job", error_type=InvalidJobError) from error
    if parsed.k > config.FANOUT_MAX_ITEMS:
        raise InvalidJobError(
            "too_many_items", f"k={parsed.k} is above the limit of {config.FANOUT_MAX_ITEMS} items per job"
        )
    if parsed.k > parsed.n:
        raise InvalidJobError(
            "invalid_job", f"k={parsed.k} exceeds n={parsed.n}: every item needs a non-empty range"
        )
    _check_fail_items(parsed, config)
    return parsed


def plan_ranges(job: PrimeCountJob, config: FanOutSplitConfig) -> list[PrimeRange]:
    """The job's balanced ranges, refused if the costliest would not finish within the worker's budget."""
    curve = CostCurve.up_to(job.n)
    ranges: list[PrimeRange] = balanced_ranges(job.n, job.k, curve)
    vcpus = effective_vcpus(config.FANOUT_WORKER_MEMORY_MB)
    slowest = max(ranges, key=lambda r: r.cost_ns)
    estimate = slowest.estimated_seconds(vcpus)
    if estimate > config.item_budget_s:
        needed = math.ceil(curve.total_ns / 1e9 / vcpus / (config.item_budget_s - ITEM_OVERHEAD_S))
        advice = (
            f"use k >= {needed}"
            if needed <= config.FANOUT_MAX_ITEMS
            else f"even {config.FANOUT_MAX_ITEMS} items (the limit) would not do: use a smaller n"
        )
        raise InvalidJobError(
            "n_too_large",
            f"n={job.n} in k={job.k} items: the costliest item would take about {estimate:.1f} s on the "
            f"worker ({vcpus:.2f} vCPU at {config.FANOUT_WORKER_MEMORY_MB} MB), over its budget of "
            f"{config.item_budget_s:.1f} s ({config.FANOUT_TIMEOUT_BUDGET_FRACTION:.0%} of the "
            f"{config.FANOUT_WORKER_TIMEOUT_S} s timeout); {advice}",
            details={"estimated_item_seconds": round(estimate, 3), "budget_seconds": config.item_budget_s},
        )
    return ranges


def _check_fail_items(job: PrimeCountJob, config: FanOutSplitConfig) -> None:
    if not job.fail_items:
        return
    if not config.FANOUT_ALLOW_TEST_FAILURES:
        raise InvalidJobError(
            "test_failures_disabled",
            "fail_items is a dev-only test aid and FANOUT_ALLOW_TEST_FAILURES is not true here; remove it",
        )
    outside = sorted({index for index in job.fail_items if index >= job.k})
    if outside:
        raise InvalidJobError("invalid_job", f"fail_items {outside} are not item indexes (0..{job.k - 1})")


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)
