"""lambda_toolkit.observability works without the X-Ray SDK, which CommonLayer does not ship.

Each case runs in a fresh interpreter (tests/unit/layer/tracer_probe.py) with aws_xray_sdk made
unimportable, under the environments a function meets: Lambda (LAMBDA_TASK_ROOT set), Lambda with
POWERTOOLS_TRACE_DISABLED=true (the local cloud sets it), and sam local (AWS_SAM_LOCAL=true).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from lambda_toolkit.observability import LambdaSegmentsOnly, tracer
from tests.support.template import ROOT

PROBE = "tests.unit.layer.tracer_probe"
LAMBDA = {"LAMBDA_TASK_ROOT": "/var/task", "AWS_LAMBDA_FUNCTION_NAME": "probe", "AWS_REGION": "us-east-1"}
ENVIRONMENTS = {
    "lambda": LAMBDA,
    "lambda_trace_disabled": {**LAMBDA, "POWERTOOLS_TRACE_DISABLED": "true"},
    "sam_local": {**LAMBDA, "AWS_SAM_LOCAL": "true"},
}


def probe(mode: str, extra_env: dict[str, str]) -> dict[str, Any]:
    env = {name: value for name, value in os.environ.items()
           if name not in {"POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL", "LAMBDA_TASK_ROOT"}}
    env.update({"PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "common")]),
                "POWERTOOLS_SERVICE_NAME": "probe", "POWERTOOLS_METRICS_NAMESPACE": "probe", **extra_env})
    result = subprocess.run([sys.executable, "-m", PROBE, mode], capture_output=True, text=True, env=env,
                            cwd=ROOT, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    seen: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return seen


@pytest.mark.parametrize("environment", sorted(ENVIRONMENTS))
def test_handlers_run_and_raise_their_own_errors_without_the_xray_sdk(environment: str) -> None:
    # Given a function on the layer, where aws_xray_sdk cannot be imported
    # When a handler under logger, metrics and tracer decorators returns, then raises
    seen = probe("toolkit", ENVIRONMENTS[environment])

    # Then the response and the handler's own error come through unchanged, and the SDK was never needed
    assert seen == {"returned": {"echo": 7}, "raised": "ValueError: the handler's own error",
                    "xray_sdk_imported": False}


@pytest.mark.parametrize("environment", ["lambda", "lambda_trace_disabled"])
def test_powertools_own_tracer_needs_the_sdk_even_when_tracing_is_disabled(environment: str) -> None:
    # Given the same interpreter without the SDK
    # When Powertools' Tracer is created the usual way
    seen = probe("plain", ENVIRONMENTS[environment])

    # Then it fails at once, POWERTOOLS_TRACE_DISABLED or not: why the toolkit passes its own provider
    assert seen["raised"] is not None and seen["raised"].startswith("ModuleNotFoundError"), seen


def test_the_shared_tracer_records_through_lambda_only_and_is_not_disabled() -> None:
    # Disabled, Powertools' Tracer would call aws_xray_sdk.global_sdk_config to switch the SDK off
    assert isinstance(tracer.provider, LambdaSegmentsOnly)
    assert tracer.disabled is False
