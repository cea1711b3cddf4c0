"""The Docker invoker: sam local start-lambda in the runtime image, against the local cloud's moto."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable

import pytest

from localcloud.cloud import LocalCloud
from localcloud.runtime.docker_invoker import BUILD_DIR
from tests.support.events import load_event
from tests.support.requirements import require_facility

pytestmark = [pytest.mark.localcloud, pytest.mark.sam, pytest.mark.slow]


def _docker_unavailable() -> str | None:
    if shutil.which("docker") is None or shutil.which("sam") is None:
        return "docker or sam is not installed"
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        return "no Docker engine answers"
    if not (BUILD_DIR / "template.yaml").is_file():
        return f"no sam build in {BUILD_DIR} (make build, or the SAM tests, make one)"
    return None


def test_a_function_in_docker_reads_and_writes_the_local_clouds_tables(
    start_cloud: Callable[..., LocalCloud],
) -> None:
    require_facility(_docker_unavailable())
    # Given a local cloud whose functions run in Lambda's runtime image (sam local start-lambda)
    cloud = start_cloud(invoker="docker", start_pollers=False)
    event = load_event("sqs_worker", "valid_batch.json")

    # When SqsWorkerFunction is invoked with a batch of valid orders
    result = cloud.invoke("SqsWorkerFunction", event)

    # Then the container reached moto (on the Docker bridge) and wrote every order
    assert result.error is None, result.error
    assert result.payload == {"batchItemFailures": []}
    items = cloud.aws.dynamodb.scan(TableName=cloud.stack.tables["ItemsTable"].name)["Items"]
    written = {item["source_message_id"]["S"] for item in items}
    assert {record["messageId"] for record in event["Records"]} <= written
    # And the function got the env-vars file the cloud generated for it
    env_file = json.loads((cloud.config.state_dir / "docker-env.json").read_text())
    assert env_file["SqsWorkerFunction"]["ITEMS_TABLE_NAME"] == cloud.stack.tables["ItemsTable"].name
