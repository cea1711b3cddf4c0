"""The environment variables a function sees: exactly those Lambda's Python runtime sets, the
function's own, and the local cloud's two (localcloud.runtime.environment, worker_main)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from localcloud.cloud import LocalCloud

pytestmark = pytest.mark.localcloud

# https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
# (the reserved variables, then the unreserved ones a Python runtime has), written out here rather
# than imported: the test holds the engine to the page, not to itself.
DOCUMENTED = {
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ",
    "LANG", "PATH", "LD_LIBRARY_PATH", "PYTHONPATH",
}
# The local cloud's own (README, docs/AWS_RULES.md): the endpoint, and no tracer without an X-Ray daemon.
LOCAL_ADDITIONS = {"AWS_ENDPOINT_URL", "POWERTOOLS_TRACE_DISABLED"}
TRACE_ID = re.compile(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$")


def test_a_function_sees_the_documented_variables_its_own_and_nothing_of_the_host(probe_cloud: LocalCloud) -> None:
    """Lambda sets the reserved runtime variables and the function's Environment, nothing else.
    https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime"""
    # Given the probe function (its Environment: three variables), started by a process with its own variables
    declared = set(probe_cloud.stack.functions["EnvProbeFunction"].environment)
    assert declared == {"PROBE_QUEUE_URL", "PROBE_TABLE_NAME", "PROBE_SETTING"}
    assert "HOME" in os.environ or "PYTEST_CURRENT_TEST" in os.environ

    # When it lists the variables it sees
    payload = probe_cloud.invoke("EnvProbeFunction", {}).payload

    # Then they are exactly the documented ones, its own and the local cloud's two
    assert set(payload["environment_names"]) == DOCUMENTED | declared | LOCAL_ADDITIONS


def test_the_runtime_variables_have_lambdas_values(probe_cloud: LocalCloud) -> None:
    """TZ=:UTC, the Runtime API address, PYTHONPATH=$LAMBDA_RUNTIME_DIR as the Python runtime sets them.
    https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime"""
    # When the probe reports its variables
    payload = probe_cloud.invoke("EnvProbeFunction", {"report": list(DOCUMENTED)}).payload
    seen = payload["reported"]

    # Then they carry Lambda's values (with this machine's folders for /var/task and /var/runtime)
    assert seen["TZ"] == ":UTC"
    assert seen["LANG"] == "en_US.UTF-8"
    assert seen["AWS_LAMBDA_RUNTIME_API"] == "127.0.0.1:9001"
    assert seen["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert seen["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.13"
    assert seen["PYTHONPATH"] == seen["LAMBDA_RUNTIME_DIR"]
    assert (Path(seen["LAMBDA_RUNTIME_DIR"]) / "worker_main.py").is_file()
    assert seen["LAMBDA_TASK_ROOT"] == payload["cwd"]
    assert seen["AWS_ACCESS_KEY"] == seen["AWS_ACCESS_KEY_ID"]
    assert seen["LD_LIBRARY_PATH"].endswith(f"{seen['LAMBDA_TASK_ROOT']}:{seen['LAMBDA_TASK_ROOT']}/lib:/opt/lib")
    assert seen["AWS_LAMBDA_LOG_STREAM_NAME"] == payload["log_stream_name"]


def test_the_trace_id_is_fresh_for_every_invoke(probe_cloud: LocalCloud) -> None:
    """_X_AMZN_TRACE_ID "changes with each invocation".
    https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime"""
    # When the probe is invoked twice (on the same warm worker or not)
    first, second = (probe_cloud.invoke("EnvProbeFunction", {}).payload["trace_id"] for _ in range(2))

    # Then each invoke had its own X-Ray trace header, in X-Ray's format
    assert TRACE_ID.match(first) and TRACE_ID.match(second), (first, second)
    assert first != second
