"""The runtime tests' pools of workers (tests/localcloud/runtime/function_pools.py), stopped after each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud.runtime.pool import FunctionPool
from tests.localcloud.runtime.function_pools import PoolFactory, function_pool_of


@pytest.fixture
def function_pool(tmp_path: Path) -> Iterator[PoolFactory]:
    pools: list[FunctionPool] = []

    def make(folder: str, **settings: Any) -> FunctionPool:
        pools.append(function_pool_of(folder, tmp_path, **settings))
        return pools[-1]

    yield make
    for pool in pools:
        pool.stop()
