"""FanOutSplitFunction's configuration: the environment variables template.yaml sets for it."""

from __future__ import annotations

from typing import Annotated

from prime_ranges import ITEM_OVERHEAD_S
from pydantic import Field, model_validator

from lambda_toolkit.config import FunctionConfig

# Step Functions' limit on the data passed between states.
STATE_PAYLOAD_LIMIT_BYTES = 262_144


class FanOutSplitConfig(FunctionConfig):
    # Where the distributed mode's items (jobs/<execution>/items.json) and results go.
    FANOUT_BUCKET_NAME: Annotated[str, Field(min_length=3, max_length=63)]
    # The worker's size, from the same template parameters as the worker itself, so the estimate of
    # how long an item takes uses the CPU the worker really gets.
    FANOUT_WORKER_MEMORY_MB: Annotated[int, Field(ge=128, le=10_240)]
    FANOUT_WORKER_TIMEOUT_S: Annotated[int, Field(ge=1, le=900)]
    # The most items a job may have (a distributed Map runs up to 10,000 child executions at once).
    FANOUT_MAX_ITEMS: Annotated[int, Field(ge=1, le=10_000)] = 1000
    # Inline Map above this: an inline Map runs at most 40 iterations at once and every iteration's
    # events count against the execution's 25,000-event history.
    FANOUT_INLINE_MAX_ITEMS: Annotated[int, Field(ge=1, le=1000)] = 40
    # Inline Map only while the state payload (items + every item's result) stays this far below the
    # 256 KB limit.
    FANOUT_INLINE_MAX_PAYLOAD_BYTES: Annotated[int, Field(ge=1024, le=STATE_PAYLOAD_LIMIT_BYTES)] = 200_000
    # Room kept per item for its result in that estimate: a failed item's Catch output carries the
    # Lambda error's Cause (message + stack trace), which is what makes results big.
    FANOUT_RESULT_BYTES_PER_ITEM: Annotated[int, Field(ge=64, le=65_536)] = 4096
    # The costliest item must be estimated to finish within this share of the worker's timeout: the
    # cost model is fitted on one machine, and Lambda's vCPU may be slower.
    FANOUT_TIMEOUT_BUDGET_FRACTION: Annotated[float, Field(gt=0, le=1)] = 0.5
    # Dev only (the template sets it true only when Stage=dev): lets a job name items to fail.
    FANOUT_ALLOW_TEST_FAILURES: bool = False

    @model_validator(mode="after")
    def _budget_leaves_room_for_work(self) -> FanOutSplitConfig:
        budget = self.FANOUT_WORKER_TIMEOUT_S * self.FANOUT_TIMEOUT_BUDGET_FRACTION
        if budget <= ITEM_OVERHEAD_S:
            raise ValueError(
                f"the time budget per item ({budget:.2f} s) does not exceed the fixed overhead of an item "
                f"({ITEM_OVERHEAD_S} s); raise FANOUT_WORKER_TIMEOUT_S or FANOUT_TIMEOUT_BUDGET_FRACTION"
            )
        return self

    @property
    def item_budget_s(self) -> float:
        return self.FANOUT_WORKER_TIMEOUT_S * self.FANOUT_TIMEOUT_BUDGET_FRACTION
