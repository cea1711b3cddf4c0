"""What a test needs from the machine or the template, and what happens when it is missing.

A missing template resource is a failure, always: the template is the product. A missing machine
facility (a Docker engine, a mount namespace to hide /dev/shm) is a failure under CI (CI=true), where
.ci/run installs and starts everything, and a skip on a developer's machine that lacks it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import pytest


def require_resources(kind: str, deployed: Iterable[str], *logical_ids: str) -> None:
    missing = [logical_id for logical_id in logical_ids if logical_id not in set(deployed)]
    if missing:
        pytest.fail(f"template.yaml has no {kind} {', '.join(missing)}, which this test exercises")


def require_facility(missing_reason: str | None) -> None:
    if missing_reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must provide this: {missing_reason}")
    pytest.skip(missing_reason)
