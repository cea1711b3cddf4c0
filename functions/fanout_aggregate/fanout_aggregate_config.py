"""FanOutAggregateFunction's configuration: the environment variables template.yaml sets for it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from lambda_toolkit.config import FunctionConfig


class FanOutAggregateConfig(FunctionConfig):
    # The only bucket a results manifest may point at (the function may read nothing else anyway).
    FANOUT_BUCKET_NAME: Annotated[str, Field(min_length=3, max_length=63)]
    # The Map's MaxConcurrency: the orchestrator it is compared with invokes as many items at once.
    FANOUT_MAX_CONCURRENCY: Annotated[int, Field(ge=1, le=10_000)]
    FANOUT_WORKER_MEMORY_MB: Annotated[int, Field(ge=128, le=10_240)]
    # The memory of the single orchestrating Lambda the fan-out is compared with. Waiting on
    # synchronous invokes needs no more than the suite's default function size.
    FANOUT_ORCHESTRATOR_MEMORY_MB: Annotated[int, Field(ge=128, le=10_240)] = 256
    # What one synchronous Invoke adds to the item's own duration, as the orchestrator sees it.
    FANOUT_INVOKE_OVERHEAD_MS: Annotated[float, Field(ge=0, le=60_000)] = 50.0
    # us-east-1 list prices (x86): Lambda per GB-second, Step Functions Standard per state transition.
    LAMBDA_USD_PER_GB_SECOND: Annotated[float, Field(ge=0)] = 0.0000166667
    LAMBDA_USD_PER_REQUEST: Annotated[float, Field(ge=0)] = 0.0000002
    STEP_FUNCTIONS_USD_PER_TRANSITION: Annotated[float, Field(ge=0)] = 0.000025
