"""`sam local invoke SqsWorkerFunction` on every event file, in Docker, against moto."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localcloud.aws.endpoint import MotoEndpoint
from tests.support import sam_cli
from tests.support.events import event_files
from tests.support.template import create_table


@dataclass(frozen=True)
class Expected:
    retried: tuple[str, ...]      # messageIds that must come back in batchItemFailures
    written: int                  # orders in ItemsTable afterwards
    dead_lettered: tuple[str, ...]  # failure_reason of each message in the DLQ, sorted


# What each event file must produce; the message ids and reasons are read off the files themselves.
EXPECTED = {
    "valid_batch.json": Expected(retried=(), written=3, dead_lettered=()),
    "mixed_batch.json": Expected(
        retried=(), written=2, dead_lettered=("empty_body", "invalid_order", "malformed_json")
    ),
    "conflicting_duplicate.json": Expected(retried=(), written=1, dead_lettered=("conflicting_duplicate",)),
    "redelivered_order.json": Expected(retried=(), written=1, dead_lettered=()),
}
# Events that are not a WorkQueue batch: the invoke fails with the function's own error, and its reason.
REFUSED = {
    "bad_no_records.json": "no_records",
    "bad_not_an_object.json": "not_an_object",
    "bad_record_without_message_id.json": "malformed_record",
    "bad_record_without_event_source_arn.json": "malformed_record",
    "bad_dynamodb_stream_event.json": "not_an_sqs_record",
}


class SqsWorkerStack:
    def __init__(self, dynamodb: Any, sqs: Any) -> None:
        self.items = create_table(dynamodb, "ItemsTable")
        self.sqs = sqs
        self.dlq_url: str = sqs.create_queue(QueueName="WorkDeadLetterQueue")["QueueUrl"]

    def env_vars(self) -> dict[str, dict[str, str]]:
        return {"SqsWorkerFunction": {
            "ITEMS_TABLE_NAME": "ItemsTable",
            "DEAD_LETTER_QUEUE_URL": self.dlq_url,
        }}

    def dead_letter_reasons(self) -> list[str]:
        reasons = []
        while batch := self.sqs.receive_message(
            QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", []):
            for message in batch:
                reasons.append(message["MessageAttributes"]["failure_reason"]["StringValue"])
                self.sqs.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=message["ReceiptHandle"])
        return sorted(reasons)


@pytest.fixture
def stack(dynamodb: Any, sqs: Any) -> SqsWorkerStack:
    return SqsWorkerStack(dynamodb, sqs)


def test_every_sqs_worker_event_file_has_an_expectation() -> None:
    assert sorted(path.name for path in event_files("sqs_worker")) == sorted([*EXPECTED, *REFUSED])


@pytest.mark.parametrize("event_name", sorted(EXPECTED))
def test_sam_local_invoke_returns_the_partial_batch_response_and_writes_once(
    event_name: str, sam_build: Path, moto_endpoint: MotoEndpoint, stack: SqsWorkerStack, tmp_path: Path
) -> None:
    expected = EXPECTED[event_name]
    event_path = next(path for path in event_files("sqs_worker") if path.name == event_name)

    # When the built function runs in Docker on the event file
    result = sam_cli.local_invoke("SqsWorkerFunction", event_path, moto_endpoint.url, stack.env_vars(), tmp_path)

    # Then it returns the expected batchItemFailures, and wrote and dead-lettered what it should
    assert result.payload == {"batchItemFailures": [{"itemIdentifier": m} for m in expected.retried]}, result.logs
    assert len(stack.items.scan()["Items"]) == expected.written
    assert stack.dead_letter_reasons() == list(expected.dead_lettered)


@pytest.mark.parametrize("event_name", sorted(REFUSED))
def test_sam_local_invoke_refuses_an_event_that_is_not_an_sqs_batch_and_touches_nothing(
    event_name: str, sam_build: Path, moto_endpoint: MotoEndpoint, stack: SqsWorkerStack, tmp_path: Path
) -> None:
    event_path = next(path for path in event_files("sqs_worker") if path.name == event_name)

    # When the built function runs in Docker on an event from anything but WorkQueue's mapping
    result = sam_cli.local_invoke("SqsWorkerFunction", event_path, moto_endpoint.url, stack.env_vars(), tmp_path)

    # Then Lambda reports the function's own error type and reason, and nothing was written or dead-lettered
    assert result.payload["errorType"] == "InvalidSqsEventError", result.logs
    assert result.payload["errorMessage"].startswith(f"{REFUSED[event_name]}: "), result.payload
    assert stack.items.scan()["Items"] == []
    assert stack.dead_letter_reasons() == []


def test_invoking_the_same_batch_twice_in_docker_writes_each_order_once(
    sam_build: Path, moto_endpoint: MotoEndpoint, stack: SqsWorkerStack, tmp_path: Path
) -> None:
    # Given the valid batch already processed once
    event_path = next(path for path in event_files("sqs_worker") if path.name == "valid_batch.json")
    sam_cli.local_invoke("SqsWorkerFunction", event_path, moto_endpoint.url, stack.env_vars(), tmp_path)
    first = sorted(stack.items.scan()["Items"], key=lambda item: item["order_id"])

    # When it is delivered again
    again = sam_cli.local_invoke("SqsWorkerFunction", event_path, moto_endpoint.url, stack.env_vars(), tmp_path)

    # Then nothing fails and the stored orders are unchanged
    assert again.payload == {"batchItemFailures": []}, again.logs
    assert sorted(stack.items.scan()["Items"], key=lambda item: item["order_id"]) == first


def test_without_a_reachable_dlq_the_bad_messages_and_no_valid_one_are_reported_for_retry(
    sam_build: Path, moto_endpoint: MotoEndpoint, stack: SqsWorkerStack, tmp_path: Path
) -> None:
    # Given the mixed batch and a DLQ URL that does not exist
    event_path = next(path for path in event_files("sqs_worker") if path.name == "mixed_batch.json")
    env = stack.env_vars()
    env["SqsWorkerFunction"]["DEAD_LETTER_QUEUE_URL"] = stack.dlq_url.replace("WorkDeadLetterQueue", "Missing")
    records = json.loads(event_path.read_text())["Records"]
    valid_ids = {r["messageId"] for r in records if "cust-mixed-1" in r["body"] or "cust-mixed-4" in r["body"]}

    # When the function runs in Docker
    result = sam_cli.local_invoke("SqsWorkerFunction", event_path, moto_endpoint.url, env, tmp_path)

    # Then exactly the three bad messages come back for retry; the valid ones are written
    retried = [item["itemIdentifier"] for item in result.payload["batchItemFailures"]]
    assert sorted(retried) == sorted(r["messageId"] for r in records if r["messageId"] not in valid_ids), result.logs
    assert len(stack.items.scan()["Items"]) == 2
