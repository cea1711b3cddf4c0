from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.events import load_event
from tests.support.lambda_context import FakeLambdaContext
from tests.unit.sqs_worker.conftest import SqsWorkerWorld
from tools.dlq import is_aws_endpoint, list_dead_letters, main, redrive


def test_listing_shows_each_dead_letter_with_the_reason_the_worker_gave(sqs_worker: SqsWorkerWorld) -> None:
    # Given the worker dead-lettered the bad messages of the mixed batch
    event = load_event("sqs_worker", "mixed_batch.json")
    sqs_worker.app.lambda_handler(event, FakeLambdaContext())

    # When the DLQ is listed
    letters = list_dead_letters(sqs_worker.account.sqs, sqs_worker.dlq_url)

    # Then each bad message is there once, with its reason and the id it had in WorkQueue
    assert sorted(letter.reason for letter in letters) == ["empty_body", "invalid_order", "malformed_json"]
    bad_ids = {r["messageId"] for r in event["Records"] if "cust-mixed-1" not in r["body"]
               and "cust-mixed-4" not in r["body"]}
    assert {letter.source_message_id for letter in letters} == bad_ids
    assert all(letter.detail for letter in letters)


def test_a_message_moved_by_the_redrive_policy_is_listed_as_max_receive_count_exceeded(
    sqs_worker: SqsWorkerWorld,
) -> None:
    # Given a message that SQS moved after maxReceiveCount receives (no reason attributes)
    sqs_worker.account.sqs.send_message(QueueUrl=sqs_worker.dlq_url, MessageBody='{"order_id": "x"}')

    # When the DLQ is listed
    (letter,) = list_dead_letters(sqs_worker.account.sqs, sqs_worker.dlq_url)

    # Then its reason says where to look
    assert letter.reason == "max_receive_count_exceeded"
    assert "logs" in letter.detail


def test_redrive_copies_every_message_back_and_empties_the_dlq(sqs_worker: SqsWorkerWorld) -> None:
    # Given three dead letters and an empty source queue
    sqs = sqs_worker.account.sqs
    sqs_worker.app.lambda_handler(load_event("sqs_worker", "mixed_batch.json"), FakeLambdaContext())
    source_url = sqs_worker.account.queue("WorkQueue")

    # When they are redriven by copy (moto has no StartMessageMoveTask)
    result = redrive(sqs, sqs_worker.dlq_url, source_url, method="copy")

    # Then all three are in the source queue with their attributes, and the DLQ is empty
    assert (result.method, result.moved) == ("copy", 3)
    moved = sqs_worker.account.drain(source_url)
    assert sorted(m["MessageAttributes"]["failure_reason"]["StringValue"] for m in moved) == [
        "empty_body", "invalid_order", "malformed_json"]
    assert sqs_worker.dead_letters() == []


def test_redrive_respects_a_maximum(sqs_worker: SqsWorkerWorld) -> None:
    # Given three dead letters
    sqs_worker.app.lambda_handler(load_event("sqs_worker", "mixed_batch.json"), FakeLambdaContext())
    source_url = sqs_worker.account.queue("WorkQueue")

    # When at most two are redriven
    result = redrive(sqs_worker.account.sqs, sqs_worker.dlq_url, source_url, method="copy", max_messages=2)

    # Then two moved and one is still dead-lettered (visible again once the receive lapses)
    assert result.moved == 2
    assert len(sqs_worker.account.drain(source_url)) == 2
    assert int(sqs_worker.account.sqs.get_queue_attributes(
        QueueUrl=sqs_worker.dlq_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]["ApproximateNumberOfMessagesNotVisible"]) + len(sqs_worker.dead_letters()) == 1


def test_only_aws_endpoints_get_the_server_side_move_task() -> None:
    class Meta:
        def __init__(self, url: str) -> None:
            self.endpoint_url = url

    class Client:
        def __init__(self, url: str) -> None:
            self.meta = Meta(url)

    assert is_aws_endpoint(Client("https://sqs.eu-west-1.amazonaws.com"))
    assert not is_aws_endpoint(Client("http://127.0.0.1:4566"))


def test_the_cli_lists_as_json(sqs_worker: SqsWorkerWorld, capsys: pytest.CaptureFixture[str]) -> None:
    # Given dead letters
    sqs_worker.app.lambda_handler(load_event("sqs_worker", "mixed_batch.json"), FakeLambdaContext())
    capsys.readouterr()  # the worker's own log lines

    # When the CLI lists them as JSON
    assert main(["list", "--queue-url", sqs_worker.dlq_url, "--json"]) == 0

    # Then the output parses and carries the reasons
    listed: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    assert sorted(item["reason"] for item in listed) == ["empty_body", "invalid_order", "malformed_json"]
