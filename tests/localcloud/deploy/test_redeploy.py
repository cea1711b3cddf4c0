"""Redeploying after a template change: CloudFormation UpdateStack in moto, pollers and workers renewed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.config import PROJECT_ROOT
from localcloud.deploy.translation import load_sam_template
from tests.support.template import TEMPLATE_PATH

pytestmark = [pytest.mark.localcloud, pytest.mark.slow]


def write_template_copy(template: dict[str, Any], path: Path) -> Path:
    """template.yaml as JSON elsewhere, its code paths made absolute so they still resolve."""
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str):
                props[key] = str(PROJECT_ROOT / props[key])
    path.write_text(json.dumps(template))
    return path


def test_a_changed_template_updates_the_running_stack_in_place(
    tmp_path: Path, start_cloud: Callable[..., LocalCloud]
) -> None:
    # Given a cloud deployed from a copy of template.yaml, with a message waiting in the DLQ (nothing polls it)
    template = load_sam_template(TEMPLATE_PATH)
    path = write_template_copy(template, tmp_path / "template.json")
    cloud = start_cloud(template=path)
    before = cloud.stack
    cloud.aws.sqs.send_message(QueueUrl=before.queues["WorkDeadLetterQueue"].url, MessageBody="keep me")

    # When the copy changes a queue setting, adds a queue and changes a function's variable, and is redeployed
    template["Resources"]["WorkQueue"]["Properties"]["VisibilityTimeout"] = 240
    template["Resources"]["ExtraQueue"] = {"Type": "AWS::SQS::Queue"}
    variables = template["Resources"]["SqsWorkerFunction"]["Properties"]["Environment"]["Variables"]
    variables["DEADLINE_SAFETY_MARGIN_MS"] = "4000"
    write_template_copy(template, path)
    summary = cloud.redeploy()

    # Then the stack is updated, not replaced: same queues (messages kept), the new setting, the new queue
    after = cloud.stack
    assert summary["status"] == "UPDATE_COMPLETE"
    assert after.stack_id == before.stack_id
    assert after.queues["WorkQueue"].url == before.queues["WorkQueue"].url
    attributes = cloud.aws.sqs.get_queue_attributes(QueueUrl=after.queues["WorkQueue"].url,
                                                    AttributeNames=["VisibilityTimeout"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "240"
    assert "ExtraQueue" in after.queues
    kept = cloud.aws.sqs.receive_message(QueueUrl=after.queues["WorkDeadLetterQueue"].url).get("Messages", [])
    assert [message["Body"] for message in kept] == ["keep me"]
    # And the function has its new variable, under the same name
    assert after.functions["SqsWorkerFunction"].environment["DEADLINE_SAFETY_MARGIN_MS"] == "4000"
    assert after.functions["SqsWorkerFunction"].name == before.functions["SqsWorkerFunction"].name
    # And the pollers run again, on the updated mappings
    assert cloud.pollers is not None
    assert set(cloud.runtime_status()["pollers"]) == set(after.event_source_mappings)
