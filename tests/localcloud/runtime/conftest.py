"""A pool of one function's workers, started as the subprocess invoker starts them (the environment
Lambda gives, the sandbox this machine allows) from a function folder under tests/localcloud/functions,
without a moto server: the runtime's own rules need no other service."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud.deploy.deployed_stack import DeployedFunction
from localcloud.runtime.environment import sandbox_environment
from localcloud.runtime.pool import FunctionPool
from localcloud.runtime.sandbox import choose_sandbox

FUNCTIONS = Path(__file__).parents[1] / "functions"
COMMON_LAYER = Path(__file__).parents[3] / "layers" / "common"
ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens: these functions call no AWS service

PoolFactory = Callable[..., FunctionPool]


@pytest.fixture
def function_pool(tmp_path: Path) -> Iterator[PoolFactory]:
    pools: list[FunctionPool] = []

    def make(folder: str, *, dev_shm: bool = False, **settings: Any) -> FunctionPool:
        function = DeployedFunction(**{
            "logical_id": f"{folder.title().replace('_', '')}Function", "name": f"probe-{folder}",
            "arn": f"arn:aws:lambda:us-east-1:123456789012:function:probe-{folder}", "handler": "app.lambda_handler",
            "code_dir": FUNCTIONS / folder, "timeout_s": 10, "memory_mb": 256, **settings})
        pool = FunctionPool(function=function, log_path=tmp_path / f"{function.logical_id}.log", limit=1,
                            env=sandbox_environment(function, endpoint_url=ENDPOINT_URL, region="us-east-1"),
                            sandbox=choose_sandbox(dev_shm=dev_shm))
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.stop()
