"""SAM tests: the real SAM CLI builds the app in the build image and invokes functions in Docker.

They need a Docker engine (.ci/docker-engine.sh) and the Lambda images (.ci/lambda-images.sh). In CI
(CI=true) a missing engine fails the run instead of skipping it, so these tests cannot silently
stop running.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from lambda_toolkit import aws_clients
from tests.support import sam_cli
from tests.support.moto_server import MotoServer

pytestmark = pytest.mark.sam


@pytest.fixture(scope="session")
def docker_engine() -> None:
    if not sam_cli.docker_available():
        message = "no Docker engine answers `docker info` (run: sudo bash .ci/docker-engine.sh)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def sam_build(docker_engine: None) -> Path:
    # Given the application built the way `sam build --use-container` builds it for deploys
    # (LAMBDA_SUITE_SAM_BUILD=SqsWorkerFunction narrows it to one function while iterating on it)
    sam_cli.build(*os.environ.get("LAMBDA_SUITE_SAM_BUILD", "").split())
    return sam_cli.BUILD_DIR


@pytest.fixture(scope="session")
def bridge_moto(docker_engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(
        host=sam_cli.docker_bridge_address(), log_path=tmp_path_factory.mktemp("moto") / "moto.log"
    ).start()
    yield server
    server.stop()


@pytest.fixture
def moto_endpoint(bridge_moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A clean moto account that this test process and the Docker functions both reach."""
    bridge_moto.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", bridge_moto.url)
    aws_clients.reset()
    yield bridge_moto
    aws_clients.reset()


@pytest.fixture
def dynamodb(moto_endpoint: MotoServer) -> object:
    return boto3.resource("dynamodb", endpoint_url=moto_endpoint.url)


@pytest.fixture
def sqs(moto_endpoint: MotoServer) -> object:
    return boto3.client("sqs", endpoint_url=moto_endpoint.url)
