"""Where the local cloud finds the project, where it keeps its state, and how a run is configured."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEMPLATE = PROJECT_ROOT / "template.yaml"
# Gitignored: the state file, logs, generated env-vars files.
DEFAULT_STATE_DIR = PROJECT_ROOT / ".localcloud"
DEFAULT_PORT = 4566  # the port LocalStack made familiar for "the local AWS endpoint"
# `up --port`'s default when set: e.g. a second clone's cloud beside the first.
PORT_VARIABLE = "LOCALCLOUD_PORT"
DEFAULT_STACK_NAME = "lambda-suite-dev"
DEFAULT_REGION = "us-east-1"
# moto's default account; every ARN the local cloud shows carries it.
ACCOUNT_ID = "123456789012"
# Workers per function when the template reserves no concurrency: enough for a mapping's concurrent
# batches on a small machine without starting more Python processes than it has cores for.
DEFAULT_MAX_CONCURRENCY = 4

# How the moto server (localcloud.motoserver) finds the control server that runs the invokers.
INVOKE_URL_VARIABLE = "LOCALCLOUD_INVOKE_URL"

# Multiplies the long AWS delays (asynchronous retries after ~1 and ~2 minutes, SQS scaling steps of a
# minute) so that tests see them in seconds; 1.0, the real delays, unless set.
TIME_SCALE_VARIABLE = "LOCALCLOUD_TIME_SCALE"

InvokerKind = Literal["subprocess", "docker"]


def time_scale_from_environment() -> float:
    text = os.environ.get(TIME_SCALE_VARIABLE, "").strip()
    if not text:
        return 1.0
    try:
        scale = float(text)
    except ValueError as error:
        raise ValueError(f"{TIME_SCALE_VARIABLE}={text!r} is not a number") from error
    if not scale > 0:
        raise ValueError(f"{TIME_SCALE_VARIABLE} must be > 0, not {scale}")
    return scale


@dataclass(frozen=True)
class CloudConfig:
    """One local cloud: its endpoint, the stack deployed to it, and how functions run."""

    port: int = DEFAULT_PORT
    # 127.0.0.1 keeps the endpoint private; the Docker invoker needs 0.0.0.0 (containers reach the
    # host on the Docker bridge, not on its loopback).
    host: str = "127.0.0.1"
    template: Path = DEFAULT_TEMPLATE
    stack_name: str = DEFAULT_STACK_NAME
    region: str = DEFAULT_REGION
    parameters: dict[str, str] = field(default_factory=lambda: {"Stage": "dev"})
    state_dir: Path = DEFAULT_STATE_DIR
    invoker: InvokerKind = "subprocess"
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    # Give the functions' workers the host's /dev/shm (Lambda has none; localcloud.runtime.sandbox).
    dev_shm: bool = False
    start_pollers: bool = True
    # Each worker's cgroup (localcloud.runtime.resource_limits): MemorySize as a hard limit for every
    # function (on by default, as AWS kills a function past it), and the CPU share of MemorySize / 1,769
    # vCPU with Lambda's visible cores for "all", the named functions, or none ("off", the default).
    memory_limits: bool = True
    cpu_limits: str = "off"
    # See TIME_SCALE_VARIABLE: 0.01 makes a one-minute AWS delay 0.6 s. Never changes the order of events.
    time_scale: float = field(default_factory=time_scale_from_environment)

    def __post_init__(self) -> None:
        if not self.time_scale > 0:
            raise ValueError(f"time_scale must be > 0, not {self.time_scale}")

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"
