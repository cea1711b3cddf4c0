"""The fan-out's answer: the combined count, the failures, the stragglers and what the fan-out saved.

The compute saved (``compute_saved``)
-------------------------------------
The comparison is with ONE orchestrating Lambda function that does what the Map does: it invokes
the worker for every item synchronously, at most C = FANOUT_MAX_CONCURRENCY at a time (e.g. from a
thread pool), and returns when the last one has answered. Lambda bills that orchestrator for its wall
time, CPU or not, so it pays for all the waiting. Precisely:

    W  = the makespan of dispatching the items in index order to C slots, each item holding its slot
         for its measured duration (the worker's duration_ms) + FANOUT_INVOKE_OVERHEAD_MS;
         with C >= item count this is the slowest item's duration + the overhead.
    orchestrator_gb_seconds = FANOUT_ORCHESTRATOR_MEMORY_MB / 1024 x ceil(W in ms) / 1000

That is the GB-seconds the fan-out saves. In its place Step Functions Standard bills per state
transition, not per second waited:

    state_transitions >= 4 (Split, Choice, Map, Aggregate)
                         + INLINE: 1 per item (its worker Task) + 1 more per caught failure (the Pass)
                         + DISTRIBUTED: 1 per child execution (its worker Task)

Assumptions, stated in the report too:
- The workers' own GB-seconds are the same in both designs (the same invocations run either way),
  so they are left out of the saving; they are reported as ``worker_gb_seconds`` for scale.
- An item that failed without reporting a duration holds its slot for the invoke overhead only, so
  W, and with it the saving, is a lower bound when items failed. Retries are not visible to the
  aggregate, so the transition count is a lower bound as well.
- The orchestrator's own start-up and the Split/Aggregate work would be the same code in both
  designs and are left out; a single orchestrator cannot wait longer than Lambda's 900 s timeout,
  which ``orchestrator_feasible`` says.
- Prices are us-east-1 list prices (configurable), without free tier.
"""

from __future__ import annotations

import heapq
import math
import statistics
from collections.abc import Sequence
from typing import Any

from fanout_aggregate_config import FanOutAggregateConfig
from fanout_results import AggregateEvent, ItemOutcome

from lambda_toolkit.prime_counts import KNOWN_PRIME_COUNTS

# The report is the execution's output, limited to 256 KB with everything else in it.
MAX_LISTED_FAILURES = 100
LAMBDA_MAX_TIMEOUT_MS = 900_000
FIXED_TRANSITIONS = 4


def orchestrator_wait_ms(durations_ms: Sequence[float], concurrency: int, invoke_overhead_ms: float) -> float:
    """W of the module docstring: list scheduling in index order on ``concurrency`` slots."""
    if not durations_ms:
        return 0.0
    slots = [0.0] * min(concurrency, len(durations_ms))
    for duration in durations_ms:
        free_at = heapq.heappop(slots)
        heapq.heappush(slots, free_at + duration + invoke_overhead_ms)
    return max(slots)


def state_transitions(mode: str, succeeded: int, failed: int) -> int:
    per_item = succeeded + failed + (failed if mode == "INLINE" else 0)
    return FIXED_TRANSITIONS + per_item


def compute_saved(
    outcomes: Sequence[ItemOutcome], mode: str, config: FanOutAggregateConfig
) -> dict[str, Any]:
    """The figures defined in the module docstring."""
    durations = [outcome.duration_ms or 0.0 for outcome in outcomes]
    wait_ms = orchestrator_wait_ms(durations, config.FANOUT_MAX_CONCURRENCY, config.FANOUT_INVOKE_OVERHEAD_MS)
    orchestrator_gb_s = config.FANOUT_ORCHESTRATOR_MEMORY_MB / 1024 * math.ceil(wait_ms) / 1000
    succeeded = sum(1 for outcome in outcomes if outcome.succeeded)
    transitions = state_transitions(mode, succeeded, len(outcomes) - succeeded)
    orchestrator_usd = orchestrator_gb_s * config.LAMBDA_USD_PER_GB_SECOND + config.LAMBDA_USD_PER_REQUEST
    step_functions_usd = transitions * config.STEP_FUNCTIONS_USD_PER_TRANSITION
    return {
        "orchestrator_memory_mb": config.FANOUT_ORCHESTRATOR_MEMORY_MB,
        "orchestrator_concurrency": config.FANOUT_MAX_CONCURRENCY,
        "orchestrator_wait_ms": round(wait_ms, 3),
        "orchestrator_gb_seconds": round(orchestrator_gb_s, 6),
        "orchestrator_feasible": wait_ms <= LAMBDA_MAX_TIMEOUT_MS,
        "worker_gb_seconds": round(config.FANOUT_WORKER_MEMORY_MB / 1024 * sum(durations) / 1000, 6),
        "state_transitions": transitions,
        "orchestrator_usd": round(orchestrator_usd, 12),
        "step_functions_usd": round(step_functions_usd, 12),
        "net_saved_usd": round(orchestrator_usd - step_functions_usd, 12),
        "assumptions": [
            "orchestrator = one Lambda invoking every item synchronously, FANOUT_MAX_CONCURRENCY at a time, "
            "billed for its wall time (makespan of the measured item durations + invoke overhead)",
            "worker GB-seconds are identical in both designs and excluded from the saving",
            "failed items without a duration and retries are not counted: wait time and transitions "
            "are lower bounds",
            "us-east-1 list prices, no free tier; Step Functions Standard bills per state transition",
        ],
    }


def straggler_figures(outcomes: Sequence[ItemOutcome]) -> dict[str, Any]:
    """slowest / median of the succeeded items' durations (1.0 = perfectly even)."""
    timed = [(o.duration_ms, o.index) for o in outcomes if o.succeeded and o.duration_ms is not None]
    if not timed:
        return dict.fromkeys(("straggler_ratio", "median_item_ms", "slowest_item_ms", "slowest_item_index"))
    median = statistics.median(duration for duration, _ in timed)
    slowest, slowest_index = max(timed)
    return {
        "straggler_ratio": round(slowest / median, 4) if median > 0 else None,
        "median_item_ms": round(median, 3),
        "slowest_item_ms": round(slowest, 3),
        "slowest_item_index": slowest_index,
    }


def build_report(
    event: AggregateEvent, outcomes: Sequence[ItemOutcome], config: FanOutAggregateConfig
) -> dict[str, Any]:
    succeeded = [o for o in outcomes if o.succeeded]
    failed = [o for o in outcomes if not o.succeeded]
    prime_count = sum(o.prime_count or 0 for o in succeeded)
    complete = not failed
    known = KNOWN_PRIME_COUNTS.get(event.job.n)
    return {
        "job_id": event.job.job_id,
        "n": event.job.n,
        "k": event.job.k,
        "mode": event.mode,
        "item_count": event.item_count,
        # The primes below n when complete; otherwise the primes in the ranges that succeeded.
        "prime_count": prime_count,
        "complete": complete,
        "items_succeeded": len(succeeded),
        "items_failed": len(failed),
        "known_prime_count": known,
        # Judged only when every item answered: a partial count cannot match and says nothing.
        "matches_known_value": (prime_count == known) if known is not None and complete else None,
        "failed_items": [_failure(o) for o in failed[:MAX_LISTED_FAILURES]],
        "failed_items_truncated": len(failed) > MAX_LISTED_FAILURES,
        "injected_failures": sorted(set(event.job.fail_items)),
        "item_durations_ms": [
            {"index": o.index, "duration_ms": o.duration_ms} for o in succeeded if o.duration_ms is not None
        ],
        **straggler_figures(outcomes),
        "compute_saved": compute_saved(outcomes, event.mode, config),
    }


def _failure(outcome: ItemOutcome) -> dict[str, Any]:
    return {
        "index": outcome.index,
        "start": outcome.start,
        "stop": outcome.stop,
        "error": outcome.error,
        "message": outcome.message,
    }
