"""Pools of one function's workers, started as the subprocess invoker starts them (the environment
Lambda gives, the sandbox this machine allows) from a function folder under tests/localcloud/functions,
without a moto server: the runtime's own rules need no other service. The ``function_pool`` fixture
(conftest.py) makes them and stops them after the test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from localcloud.deploy.deployed_stack import DeployedFunction
from localcloud.runtime.environment import sandbox_environment
from localcloud.runtime.pool import FunctionPool
from localcloud.runtime.sandbox import choose_sandbox

FUNCTIONS = Path(__file__).parents[1] / "functions"
COMMON_LAYER = Path(__file__).parents[3] / "layers" / "common"
ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens: these functions call no AWS service

PoolFactory = Callable[..., FunctionPool]


def function_pool_of(folder: str, log_dir: Path, *, dev_shm: bool = False, **settings: Any) -> FunctionPool:
    """A pool of one worker for tests/localcloud/functions/<folder>; ``settings`` override the
    DeployedFunction's fields (timeout_s, environment, log_format, ephemeral_storage_mb, ...)."""
    function = DeployedFunction(**{
        "logical_id": f"{folder.title().replace('_', '')}Function", "name": f"probe-{folder}",
        "arn": f"arn:aws:lambda:us-east-1:123456789012:function:probe-{folder}", "handler": "app.lambda_handler",
        "code_dir": FUNCTIONS / folder, "timeout_s": 10, "memory_mb": 256, **settings})
    return FunctionPool(function=function, log_path=log_dir / f"{function.logical_id}.log", limit=1,
                        env=sandbox_environment(function, endpoint_url=ENDPOINT_URL, region="us-east-1"),
                        sandbox=choose_sandbox(dev_shm=dev_shm))
