"""SAM tests: the real SAM CLI builds the app in the build image and invokes functions in Docker.

They need a Docker engine (.ci/docker-engine.sh) and the Lambda images (.ci/lambda-images.sh). In CI
(CI=true) a missing engine fails the run instead of skipping it, so these tests cannot silently
stop running.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from lambda_toolkit import aws_clients
from localcloud.aws.endpoint import MotoEndpoint, free_port
from tests.support import sam_cli
from tests.support.requirements import require_facility

pytestmark = pytest.mark.sam


@pytest.fixture(scope="session")
def docker_engine() -> None:
    if not sam_cli.docker_available():
        require_facility("no Docker engine answers `docker info` (run: sudo bash .ci/docker-engine.sh)")


@pytest.fixture(scope="session")
def sam_build(docker_engine: None) -> Path:
    # Given the application built the way `sam build --use-container` builds it for deploys
    # (LAMBDA_SUITE_SAM_BUILD=SqsWorkerFunction narrows it to one function while iterating on it).
    # Under pytest-xdist (`make test-sam` runs -n 3) each worker has its own session: the first to take
    # the lock builds, the others wait for it and use that build (PYTEST_XDIST_TESTRUNUID is the run's).
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    sam_cli.BUILD_DIR.parent.mkdir(parents=True, exist_ok=True)
    stamp = sam_cli.BUILD_DIR.parent / "built-by-test-run"
    with (sam_cli.BUILD_DIR.parent / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if run_id is None or not stamp.exists() or stamp.read_text() != run_id:
            stamp.unlink(missing_ok=True)
            sam_cli.build(*os.environ.get("LAMBDA_SUITE_SAM_BUILD", "").split())
            if run_id is not None:
                stamp.write_text(run_id)
    return sam_cli.BUILD_DIR


@pytest.fixture(scope="session")
def bridge_moto(docker_engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoEndpoint]:
    # The local cloud's own moto server, on the Docker bridge so that containers reach it too.
    host = sam_cli.docker_bridge_address()
    server = MotoEndpoint(port=free_port(host), host=host,
                          log_path=tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield server
    server.stop()


@pytest.fixture
def moto_endpoint(bridge_moto: MotoEndpoint, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoEndpoint]:
    """A clean moto account that this test process and the Docker functions both reach."""
    bridge_moto.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", bridge_moto.url)
    aws_clients.reset()
    yield bridge_moto
    aws_clients.reset()


@pytest.fixture
def dynamodb(moto_endpoint: MotoEndpoint) -> object:
    return boto3.resource("dynamodb", endpoint_url=moto_endpoint.url)


@pytest.fixture
def sqs(moto_endpoint: MotoEndpoint) -> object:
    return boto3.client("sqs", endpoint_url=moto_endpoint.url)
