"""FanOutWorkerFunction's configuration: the environment variables template.yaml sets for it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from lambda_toolkit.config import FunctionConfig


class FanOutWorkerConfig(FunctionConfig):
    # Stop the sieve this long before the function's timeout, so that the item ends with a named
    # error (caught by the Map and reported by the aggregate) instead of a kill.
    FANOUT_WORKER_SAFETY_MARGIN_MS: Annotated[int, Field(ge=0, le=60_000)] = 2000
    # None = the platform default (fork up to Python 3.13, forkserver from 3.14). The template pins
    # fork so that a runtime upgrade does not change how long starting the processes takes.
    FANOUT_WORKER_START_METHOD: Literal["fork", "forkserver", "spawn"] | None = None
