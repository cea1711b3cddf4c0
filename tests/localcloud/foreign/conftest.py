"""Foreign SAM applications: AWS's own samples, deployed by the local cloud from their own templates.

Each folder here is an application as AWS published it (its LICENSE and SOURCE.md beside it: the
repository, path and commit it was copied from). The test_<name>.py next to it starts a local cloud
on that template, drives the application through its trigger and asserts what AWS documents for it.
The applications' own tests (e.g. sqs-apigw-sqs-lambda-sqs/tests/) run against a stack in AWS: they
are kept as published and never collected here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from localcloud.aws.endpoint import free_port
from localcloud.cloud import LocalCloud
from localcloud.config import CloudConfig
from localcloud.runtime.function_logs import LogEvent

FOREIGN = Path(__file__).parent
# Every folder is an application; only the test_<name>.py files at this level are this project's tests.
collect_ignore = [path.name for path in FOREIGN.iterdir() if path.is_dir()]


@contextmanager
def foreign_cloud(tmp_path_factory: pytest.TempPathFactory, template: Path, stack_name: str) -> Iterator[LocalCloud]:
    """A local cloud with nothing but this template deployed (no parameters: the template's defaults)."""
    config = CloudConfig(port=free_port(), template=template, stack_name=stack_name, parameters={},
                         state_dir=tmp_path_factory.mktemp(stack_name))
    with LocalCloud(config) as cloud:
        yield cloud


def function_log_messages(cloud: LocalCloud, logical_id: str) -> list[str]:
    """What a function wrote to stdout/stderr so far, one message per line, as CloudWatch Logs holds
    its events (the file's lines carry a timestamp and the log stream before each message)."""
    path = cloud.config.log_dir / f"{logical_id}.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [LogEvent.parse(line).message for line in lines]
