"""Contract: UpdateFunctionConfiguration starts new execution environments with the new settings.

https://docs.aws.amazon.com/lambda/latest/api/API_UpdateFunctionConfiguration.html and
https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html: the update answers with
LastUpdateStatus InProgress; "while the update is in progress, invocations use the previous
configuration"; Successful once done (the function_updated_v2 waiter polls GetFunction for it); Failed
when Lambda aborts the update, and then "the function's previous code and configuration remain
available"; another update during one in progress fails with ResourceConflictException. Reserved
variables (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html) cannot be set.

Two levels: a whole local cloud (the moto server, the control server, the subprocess invoker) for the
restart itself; and the real moto server process (localcloud.motoserver, started by MotoEndpoint) with a
control endpoint the test holds, so that InProgress, a conflict and a failed update are seen for as long
as the test needs, not for the milliseconds a pool restart takes.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, WaiterError

from localcloud.aws.endpoint import MotoEndpoint, free_port
from localcloud.cloud import LocalCloud
from tests.localcloud.conftest import PROBE_TEMPLATE, cloud_config

pytestmark = pytest.mark.localcloud

FAST_WAITER = {"Delay": 1, "MaxAttempts": 30}


@pytest.fixture(scope="module")
def update_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    config = cloud_config(Path(tmp_path_factory.mktemp("update-cloud")), template=PROBE_TEMPLATE,
                          stack_name="probe-updates", start_pollers=False)
    with LocalCloud(config) as cloud:
        yield cloud


def invoke_through_the_api(cloud: LocalCloud, function_name: str) -> dict[str, Any]:
    response = cloud.aws.lambda_client.invoke(FunctionName=function_name, Payload=b"{}")
    assert "FunctionError" not in response
    payload: dict[str, Any] = json.loads(response["Payload"].read())
    return payload


def test_update_function_configuration_restarts_the_workers_with_the_new_memory_timeout_and_variables(
        update_cloud: LocalCloud) -> None:
    # Given EnvProbeFunction (192 MB, 7 s, three variables) with a warm worker
    lambda_client = update_cloud.aws.lambda_client
    name = update_cloud.stack.functions["EnvProbeFunction"].name
    before = invoke_through_the_api(update_cloud, name)
    assert before["environment"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "192"
    assert update_cloud.runtime_status()["functions"]["EnvProbeFunction"]["invocations"] == 1

    # When its memory, timeout and variables are updated through the Lambda API
    answer = lambda_client.update_function_configuration(
        FunctionName=name, MemorySize=1769, Timeout=9, Environment={"Variables": {"PROBE_SETTING": "updated"}})
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=FAST_WAITER)

    # Then the update answered InProgress, and the configuration holds the new values, Successful
    assert answer["LastUpdateStatus"] == "InProgress"
    configuration = lambda_client.get_function_configuration(FunctionName=name)
    assert (configuration["MemorySize"], configuration["Timeout"]) == (1769, 9)
    assert configuration["Environment"]["Variables"] == {"PROBE_SETTING": "updated"}
    assert configuration["LastUpdateStatus"] == "Successful"
    # And the next invoke runs in a new environment that sees them (the variables replaced as a whole)
    after = invoke_through_the_api(update_cloud, name)
    assert after["environment"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "1769"
    assert after["environment"]["PROBE_SETTING"] == "updated"
    assert after["environment"]["PROBE_QUEUE_URL"] is None
    assert after["context"]["memory_limit_in_mb"] == "1769"  # a string, as in the Python runtime
    assert 7_000 < after["context"]["remaining_ms"] <= 9_000  # the new timeout (Lambda sets no variable for it)
    # (the function's counters start again with its new workers: one invoke, on a cold start)
    stats = update_cloud.runtime_status()["functions"]["EnvProbeFunction"]
    assert (stats["invocations"], stats["cold_starts"]) == (1, 1)
    # And the stack the CLI reads says so too
    assert update_cloud.stack.functions["EnvProbeFunction"].memory_mb == 1769


def test_update_function_configuration_refuses_by_name_what_the_local_cloud_does_not_apply(
        update_cloud: LocalCloud) -> None:
    # Given SleeperFunction
    lambda_client = update_cloud.aws.lambda_client
    name = update_cloud.stack.functions["SleeperFunction"].name
    before = lambda_client.get_function_configuration(FunctionName=name)

    # When an update names a setting the invoker does not apply
    with pytest.raises(ClientError) as refused:
        lambda_client.update_function_configuration(FunctionName=name, MemorySize=512,
                                                     EphemeralStorage={"Size": 1024})

    # Then it is refused, naming the setting, and nothing changed
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "EphemeralStorage" in refused.value.response["Error"]["Message"]
    assert lambda_client.get_function_configuration(FunctionName=name)["MemorySize"] == before["MemorySize"]


def test_update_function_configuration_refuses_reserved_environment_variables(update_cloud: LocalCloud) -> None:
    # Given SleeperFunction
    name = update_cloud.stack.functions["SleeperFunction"].name

    # When an update sets a variable Lambda reserves
    with pytest.raises(ClientError) as refused:
        update_cloud.aws.lambda_client.update_function_configuration(
            FunctionName=name, Environment={"Variables": {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "10240", "OK": "1"}})

    # Then Lambda's refusal names it
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "Reserved keys used in this request: AWS_LAMBDA_FUNCTION_MEMORY_SIZE" in (
        refused.value.response["Error"]["Message"])


def test_update_function_configuration_refuses_a_memory_size_above_10240_mb(update_cloud: LocalCloud) -> None:
    # Given SleeperFunction
    name = update_cloud.stack.functions["SleeperFunction"].name

    # When an update asks for more memory than Lambda gives a function
    with pytest.raises(ClientError) as refused:
        update_cloud.aws.lambda_client.update_function_configuration(FunctionName=name, MemorySize=10_241)

    # Then it is refused
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "10241" in refused.value.response["Error"]["Message"]


# --- the moto server process with a control endpoint held by the test ---------------------------------------


@dataclass
class HeldControlEndpoint:
    """Stands in for the control server's POST /function-configuration: answers when released."""

    refusal: str | None = None  # answer 409 with this error instead of applying
    received: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def serve(self) -> ThreadingHTTPServer:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.received.append({"path": self.path, **body})
                endpoint.release.wait(30)
                status, document = (409, {"error": endpoint.refusal}) if endpoint.refusal else (200, {"function": "x"})
                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@pytest.fixture
def held_moto(tmp_path: Path) -> Iterator[tuple[Any, HeldControlEndpoint]]:
    control = HeldControlEndpoint()
    server = control.serve()
    host, port = server.server_address[:2]
    endpoint = MotoEndpoint(port=free_port(), invoke_url=f"http://{host!s}:{port}/invoke",
                            log_path=tmp_path / "moto.log").start()
    try:
        credentials = {"region_name": "us-east-1", "aws_access_key_id": "testing",
                       "aws_secret_access_key": "testing"}
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                         "Principal": {"Service": "lambda.amazonaws.com"}}]}
        boto3.client("iam", endpoint_url=endpoint.url, **credentials).create_role(
            RoleName="probe", AssumeRolePolicyDocument=json.dumps(trust))
        yield boto3.client("lambda", endpoint_url=endpoint.url, **credentials), control
    finally:
        control.release.set()
        endpoint.stop()
        server.shutdown()


def create_function(lambda_client: Any, name: str) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("app.py", "def lambda_handler(event, context):\n    return event\n")
    lambda_client.create_function(
        FunctionName=name, Runtime="python3.13", Role="arn:aws:iam::123456789012:role/probe",
        Handler="app.lambda_handler", Code={"ZipFile": archive.getvalue()}, MemorySize=256, Timeout=3,
        Environment={"Variables": {"SETTING": "before"}})


def test_an_update_is_in_progress_until_the_invoker_has_applied_it_and_a_second_one_conflicts(
        held_moto: tuple[Any, HeldControlEndpoint]) -> None:
    # Given a function, and an invoker that has not yet restarted its workers
    lambda_client, control = held_moto
    create_function(lambda_client, "held-update")

    # When its memory is updated
    lambda_client.update_function_configuration(FunctionName="held-update", MemorySize=3008)

    # Then GetFunction says InProgress while the invoker works, and the invoker got the new settings
    configuration = lambda_client.get_function(FunctionName="held-update")["Configuration"]
    assert configuration["LastUpdateStatus"] == "InProgress"
    # And another update meanwhile is refused as Lambda refuses it
    with pytest.raises(ClientError) as conflict:
        lambda_client.update_function_configuration(FunctionName="held-update", Timeout=10)
    assert conflict.value.response["Error"]["Code"] == "ResourceConflictException"
    assert "An update is in progress" in conflict.value.response["Error"]["Message"]
    # And once the invoker answers, the waiter sees Successful
    control.release.set()
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName="held-update", WaiterConfig=FAST_WAITER)
    assert control.received[0] == {"path": "/function-configuration", "function_name": "held-update",
                                   "memory_size": 3008, "timeout": 3, "environment": {"SETTING": "before"}}


def test_an_update_the_invoker_cannot_apply_fails_and_the_previous_configuration_remains(
        held_moto: tuple[Any, HeldControlEndpoint]) -> None:
    # Given a function, and an invoker that cannot apply updates (as the Docker invoker cannot)
    lambda_client, control = held_moto
    control.refusal = "the docker invoker runs the template's MemorySize"
    control.release.set()
    create_function(lambda_client, "refused-update")

    # When its memory and variables are updated
    lambda_client.update_function_configuration(FunctionName="refused-update", MemorySize=1024,
                                                Environment={"Variables": {"SETTING": "after"}})

    # Then the waiter fails on LastUpdateStatus Failed, with the invoker's reason
    with pytest.raises(WaiterError):
        lambda_client.get_waiter("function_updated_v2").wait(FunctionName="refused-update",
                                                             WaiterConfig=FAST_WAITER)
    configuration = lambda_client.get_function_configuration(FunctionName="refused-update")
    assert configuration["LastUpdateStatus"] == "Failed"
    assert configuration["LastUpdateStatusReasonCode"] == "InvalidConfiguration"
    assert "docker invoker" in configuration["LastUpdateStatusReason"]
    # And the previous configuration, the one still running, is what the function shows
    assert configuration["MemorySize"] == 256
    assert configuration["Environment"]["Variables"] == {"SETTING": "before"}
