"""Powertools for AWS Lambda (Python)'s DynamoDB Streams batch processing sample.

Deployed from its own template (ddb-powertools-batch-processing/examples/batch_processing/sam/
dynamodb_batch_processing.yaml, SOURCE.md): SampleTable's stream -> HelloWorldFunction
(ReportBatchItemFailures, MaximumRetryAttempts 2, OnFailure -> SampleDLQ), the handler being the
docs' getting_started_dynamodb.py, staged at the template's CodeUri (hello_world/app.py). Powertools'
batch processing page documents (docs/utilities/batch.md):

    "For completeness, this demonstrates IAM permissions and Dead Letter Queue where batch records
    will be sent after 2 retries were attempted." ("Required resources")

    "With this utility, batch records are processed individually – only messages that failed to be
    processed return to the queue or stream for a further retry." ("Background")

The handler fails a record whose new image's "Message" is not JSON (json.loads raises) and logs each
record's new image before it parses it: the function's log says which records it processed, how often.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from tests.localcloud.foreign.conftest import foreign_cloud, function_log_messages
from tests.localcloud.waiting import wait_for

pytestmark = pytest.mark.localcloud

APP = Path(__file__).parent / "ddb-powertools-batch-processing"
SAMPLE = APP / "examples" / "batch_processing"
TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with foreign_cloud(tmp_path_factory, SAMPLE / "sam" / "dynamodb_batch_processing.yaml",
                       "ddb-batch-processing") as started:
        yield started


def item(pk: str, message: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "1"}, "Message": {"S": message}}


def times_processed(cloud: LocalCloud, pk: str) -> int:
    """How many invokes logged this record's new image (Logger.info(record.dynamodb.new_image))."""
    lines = [json.loads(message) for message in function_log_messages(cloud, "HelloWorldFunction")
             if message.startswith("{")]
    return sum(1 for line in lines if isinstance(line.get("message"), dict) and line["message"].get("pk") == pk)


def next_dlq_record(cloud: LocalCloud) -> dict[str, Any]:
    queue_url = cloud.stack.queues["SampleDLQ"].url

    def receive() -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = cloud.aws.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        return messages

    messages = wait_for(receive, timeout_s=TIMEOUT_S, what="an on-failure record in SampleDLQ")
    assert len(messages) == 1, messages
    cloud.aws.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
    record: dict[str, Any] = json.loads(messages[0]["Body"])
    return record


def dlq_is_empty(cloud: LocalCloud) -> bool:
    attributes = cloud.aws.sqs.get_queue_attributes(
        QueueUrl=cloud.stack.queues["SampleDLQ"].url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return all(value == "0" for value in attributes.values())


def test_the_staged_handler_is_the_docs_sample_unchanged() -> None:
    # Given the template's CodeUri (hello_world) and the docs' sample handler
    # Then the staged app.py is byte for byte the published getting_started_dynamodb.py
    staged = SAMPLE / "sam" / "hello_world" / "app.py"
    assert staged.read_bytes() == (SAMPLE / "src" / "getting_started_dynamodb.py").read_bytes()


def test_a_record_processed_successfully_is_processed_once_and_never_dead_lettered(cloud: LocalCloud) -> None:
    # Given an item whose Message is JSON
    table = cloud.stack.tables["SampleTable"].name

    # When it is written to the table
    cloud.aws.dynamodb.put_item(TableName=table, Item=item("good-1", json.dumps({"hello": "world"})))

    # Then the function processed its stream record once, and nothing went to the DLQ
    wait_for(lambda: times_processed(cloud, "good-1") == 1, timeout_s=TIMEOUT_S, what="good-1 processed")
    assert dlq_is_empty(cloud)
    assert times_processed(cloud, "good-1") == 1


def test_a_record_that_keeps_failing_goes_to_the_dlq_after_two_retries(cloud: LocalCloud) -> None:
    # Given an item whose Message is not JSON: every attempt at it fails
    stack = cloud.stack
    table = stack.tables["SampleTable"]

    # When it is written to the table
    cloud.aws.dynamodb.put_item(TableName=table.name, Item=item("bad-1", "not json"))

    # Then after the first attempt and 2 retries its batch went to SampleDLQ as an on-failure record
    record = next_dlq_record(cloud)
    assert times_processed(cloud, "bad-1") == 3
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"] == stack.functions["HelloWorldFunction"].arn
    batch = record["DDBStreamBatchInfo"]
    assert batch["streamArn"] == table.stream_arn
    assert batch["batchSize"] == 1
    assert batch["startSequenceNumber"] == batch["endSequenceNumber"]


def test_only_the_failed_record_of_a_batch_is_retried(cloud: LocalCloud) -> None:
    # Given a good item and a bad one written together (one batch, or two: either way the good one
    # must be processed once)
    table = cloud.stack.tables["SampleTable"].name
    requests = [{"PutRequest": {"Item": item("good-2", json.dumps({"n": 2}))}},
                {"PutRequest": {"Item": item("bad-2", "not json either")}}]

    # When they are written
    cloud.aws.dynamodb.batch_write_item(RequestItems={table: requests})

    # Then the bad record was retried twice and dead-lettered alone, and the good one never retried
    record = next_dlq_record(cloud)
    assert record["DDBStreamBatchInfo"]["batchSize"] == 1
    assert times_processed(cloud, "bad-2") == 3
    assert times_processed(cloud, "good-2") == 1
    assert dlq_is_empty(cloud)
