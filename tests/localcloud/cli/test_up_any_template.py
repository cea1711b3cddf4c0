"""`localcloud up --template <any SAM template>`: a foreign application, with what is skipped said by name."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from localcloud.aws.endpoint import free_port
from localcloud.config import PROJECT_ROOT

pytestmark = [pytest.mark.localcloud, pytest.mark.slow]

# The console script `make setup` installs beside the venv's python.
LOCALCLOUD = Path(sys.executable).with_name("localcloud")
TEMPLATE = PROJECT_ROOT / "tests" / "localcloud" / "foreign" / "sqs-apigw-sqs-lambda-sqs" / "template.yaml"


def read_document(process: subprocess.Popen[bytes], timeout_s: float) -> Any:
    """The JSON summary `up --json` prints once the cloud is up (it then runs until stopped).

    Read from the pipe's descriptor, unbuffered: a buffered readline() would keep the summary's later
    lines in Python's buffer, where select() cannot see them.
    """
    assert process.stdout is not None
    descriptor = process.stdout.fileno()
    text, deadline = b"", time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        readable, _, _ = select.select([descriptor], [], [], 0.5)
        if readable:
            chunk = os.read(descriptor, 65536)
            if not chunk:
                break
            text += chunk
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                continue
        elif process.poll() is not None:
            break
    raise AssertionError(f"no summary within {timeout_s} s; stdout so far: {text!r}")


def test_up_deploys_a_foreign_template_and_lists_what_it_skips(tmp_path: Path) -> None:
    # Given AWS's apigw-sqs-lambda-sqs sample (an API Gateway front door, queues, functions, a table)
    command = [str(LOCALCLOUD), "up", "--template", str(TEMPLATE), "--stack-name", "apigw-sqs-lambda-sqs",
               "--port", str(free_port()), "--state-dir", str(tmp_path / "state"), "--json"]

    # When `localcloud up` runs on it
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        summary = read_document(process, timeout_s=180)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)

    # Then it is up with the template's own resources, the API skipped by name (and the Outputs naming
    # it), each function's declared runtime next to the Python that runs it, and it stopped cleanly
    assert summary["stack_name"] == "apigw-sqs-lambda-sqs"
    assert set(summary["functions"]) == {"ProcessInputQueue", "WriteTestResult"}
    assert set(summary["queues"]) == {"InputQueue", "OutputQueue", "InputQueueDLQ", "OutputQueueDLQ"}
    assert summary["skipped"]["Api"] == "AWS::ApiGateway::RestApi"
    assert summary["skipped"]["ApiProdStage"] == "AWS::ApiGateway::Stage"
    assert summary["skipped_outputs"] == {"APIGatewayURL": ["Api"], "APIGatewayInputEndPoint": ["Api"]}
    this_python = "python{}.{}.{}".format(*sys.version_info[:3])
    assert summary["runtimes"]["ProcessInputQueue"] == {"declared": "python3.9", "runs_on": this_python}
    assert summary["not_emulated"] == {"TracingConfig.Mode: Active": ["ProcessInputQueue", "WriteTestResult"]}
    assert process.returncode == 0, stderr
