"""Local cloud fixtures: whole local clouds (moto server + deploy + invokers + pollers) on free ports.

- ``local_cloud``: template.yaml deployed, one per test session (every test uses its own orders, so
  tests share it without sharing state that matters to them);
- ``probe_cloud``: tests/localcloud/templates/probe_template.yaml, small functions with one behaviour
  each (timeouts, crashes, reserved concurrency, a poison queue, a state machine), one per session;
- ``start_cloud``: a cloud of one's own (a template copy to redeploy, other options), stopped at the end.
Each cloud keeps its state and logs (moto.log, <Function>.log) in a temporary directory; a failing
test's logs are there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from localcloud.aws.endpoint import free_port
from localcloud.cloud import LocalCloud
from localcloud.config import CloudConfig

PROBE_TEMPLATE = Path(__file__).parent / "templates" / "probe_template.yaml"


def cloud_config(state_dir: Path, **overrides: Any) -> CloudConfig:
    return replace(CloudConfig(port=free_port(), state_dir=state_dir), **overrides)


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with LocalCloud(cloud_config(tmp_path_factory.mktemp("local-cloud"))) as cloud:
        yield cloud


@pytest.fixture(scope="session")
def probe_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    config = cloud_config(tmp_path_factory.mktemp("probe-cloud"), template=PROBE_TEMPLATE, stack_name="probe")
    with LocalCloud(config) as cloud:
        yield cloud


@pytest.fixture
def start_cloud(tmp_path: Path) -> Iterator[Callable[..., LocalCloud]]:
    started: list[LocalCloud] = []

    def start(**overrides: Any) -> LocalCloud:
        cloud = LocalCloud(cloud_config(tmp_path / f"cloud-{len(started)}", **overrides)).start()
        started.append(cloud)
        return cloud

    yield start
    for cloud in reversed(started):
        cloud.stop()
