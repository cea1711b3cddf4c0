"""Fault injection for soak and chaos runs: off by default, impossible in prod.

A function that opts in calls ``faults.before_record(record_id, remaining_ms)`` at the start of each
record. With FAULT_INJECTION_ENABLED=true, a configurable share of records:
- fail transiently (raise InjectedTransientFault, so the batch reports them and they come again),
- crash the process (os._exit, as an out-of-memory kill or segfault would: the whole batch fails),
- run past the deadline (sleep beyond the remaining time, so Lambda times the invocation out).

Safety: the settings are validated at cold start, and FAULT_INJECTION_ENABLED=true together with
STAGE=prod is a ConfigurationError, so a prod function with it set never starts. template.yaml only
ever sets FAULT_INJECTION_ENABLED from a dev-only condition.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import Field, model_validator

from lambda_toolkit.config import FunctionConfig, load_config
from lambda_toolkit.errors import TransientError
from lambda_toolkit.observability import logger

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
Fault = Literal["transient", "crash", "timeout"]


class InjectedTransientFault(TransientError):
    """A failure fault injection made up; it says so, so nobody hunts for a real cause."""


class FaultInjectionConfig(FunctionConfig):
    STAGE: str = "dev"
    FAULT_INJECTION_ENABLED: bool = False
    FAULT_TRANSIENT_RATE: Rate = 0.0
    FAULT_CRASH_RATE: Rate = 0.0
    FAULT_TIMEOUT_RATE: Rate = 0.0

    @model_validator(mode="after")
    def _never_in_prod(self) -> FaultInjectionConfig:
        if self.FAULT_INJECTION_ENABLED and self.STAGE == "prod":
            raise ValueError("fault injection cannot be enabled when STAGE=prod")
        if self.FAULT_TRANSIENT_RATE + self.FAULT_CRASH_RATE + self.FAULT_TIMEOUT_RATE > 1.0:
            raise ValueError("the fault rates add up to more than 1")
        return self


class FaultInjector:
    def __init__(
        self,
        config: FaultInjectionConfig,
        draw: Callable[[], float] = random.random,
        crash: Callable[[int], None] = os._exit,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._draw = draw
        self._crash = crash
        self._sleep = sleep

    @property
    def enabled(self) -> bool:
        return self.config.FAULT_INJECTION_ENABLED

    def choose(self) -> Fault | None:
        if not self.enabled:
            return None
        roll = self._draw()
        for fault, rate in (
            ("transient", self.config.FAULT_TRANSIENT_RATE),
            ("crash", self.config.FAULT_CRASH_RATE),
            ("timeout", self.config.FAULT_TIMEOUT_RATE),
        ):
            if roll < rate:
                return fault  # type: ignore[return-value]
            roll -= rate
        return None

    def before_record(self, record_id: str, remaining_ms: Callable[[], int]) -> None:
        fault = self.choose()
        if fault is None:
            return
        logger.warning("Injecting a fault", extra={"item_id": record_id, "fault": fault})
        if fault == "transient":
            raise InjectedTransientFault(f"injected transient fault on {record_id}")
        if fault == "crash":
            self._crash(137)
            return
        # Sleep past the deadline so the runtime, not this code, ends the invocation.
        self._sleep(remaining_ms() / 1000 + 1.0)


def load_fault_injector() -> FaultInjector:
    """Read and validate the fault-injection settings (call at module scope: the cold start)."""
    return FaultInjector(load_config(FaultInjectionConfig))
