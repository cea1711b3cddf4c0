"""AWS's "Python: Amazon API Gateway, AWS Lambda, Amazon SQS Example" (serverless-test-samples).

Deployed from its own template.yaml (sqs-apigw-sqs-lambda-sqs/, SOURCE.md): InputQueue ->
ProcessInputQueue -> OutputQueue -> WriteTestResult (SQS filter criteria) -> TestResultsTable, with
InputQueueDLQ (maxReceiveCount 1) also feeding WriteTestResult. Its front door, an API Gateway REST
API whose POST /inbox enqueues `{"data": <request body>}` on InputQueue, is not emulated by the local
cloud: the deploy skips it by name, and these tests enqueue exactly what its mapping template would
(`Action=SendMessage&MessageBody={"data":$input.body}`).

The README documents (README.md, "Sample project description" and "Run the Integration Test"):

    "3. InputQueue is triggering the ProcessInputQueue Lambda function to process the message/job/test
    in the queue. [...] 4. When the ProcessInputQueue Lambda finishes its processing, it sends the
    testing result to the OutputQueue [...]. This triggers the write_test_result.py Lambda function
    which writes the result in the DynamoDB table. Please note we have implemented Lambda filter on the
    SQS Queues, so that the function will be triggered only if the test message will contain
    "type":"TEST" in the message body."

    "test_exception_scenario - sending a malformed message [...] In this case, the SQS InputQueue will
    deliver the message to the SQS InputQueueDLQ dead letter queue, which will trigger the
    write_test_result.py Lambda to write the exception result to the DynamoDB table."

and its integration test (tests/integration/test_api_gatway.py, is_validate) checks the table item: the
message's id, its "Message", and "Queue_Name" = the output queue's name (the DLQ's for the exception).
Each test sends one message, as each of the sample's tests does: a batch fails as a whole (the function
reports no batch item failures), so a malformed message would take its batch-mates to the DLQ too.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from tests.localcloud.foreign.conftest import foreign_cloud
from tests.localcloud.waiting import wait_for

pytestmark = pytest.mark.localcloud

APP = Path(__file__).parent / "sqs-apigw-sqs-lambda-sqs"
# The sample's SLA is 10 s; the exception path adds InputQueue's 5 s visibility timeout before redrive.
SLA_S = 30.0


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with foreign_cloud(tmp_path_factory, APP / "template.yaml", "apigw-sqs-lambda-sqs") as started:
        yield started


def send_through_the_inbox(cloud: LocalCloud, message: dict[str, Any]) -> None:
    """What POST /inbox does: the request body, wrapped by the API's mapping template, on InputQueue."""
    # The template's own Output, as the sample's test reads it (a queue URL; the local one is the same queue).
    queue_name = cloud.stack.outputs["SQSInputQueue"].rsplit("/", 1)[-1]
    queue_url = cloud.aws.sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    cloud.aws.sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"data": message}))


def recorded_result(cloud: LocalCloud, message_id: str) -> dict[str, Any] | None:
    table = cloud.stack.outputs["DynamoDBTableName"]
    items = cloud.aws.dynamodb.query(TableName=table, KeyConditionExpression="id = :id",
                                     ExpressionAttributeValues={":id": {"S": message_id}})["Items"]
    return {key: value["S"] for key, value in items[0].items()} if items else None


def queue_name_of_output(cloud: LocalCloud, output: str) -> str:
    # As the sample's test computes it: self.sqs_output.split("/")[-1]
    return cloud.stack.outputs[output].split("/")[-1]


def test_a_test_message_goes_through_both_queues_into_the_results_table(cloud: LocalCloud) -> None:
    # Given the sample's positive scenario message
    message_id = f"TEST001_{uuid.uuid4()}"
    message = {"id": message_id, "message": "This is a test_positive_scenario", "type": "TEST"}

    # When it enters through the inbox
    send_through_the_inbox(cloud, message)

    # Then ProcessInputQueue forwarded it to OutputQueue and WriteTestResult recorded it from there
    result = wait_for(lambda: recorded_result(cloud, message_id), timeout_s=SLA_S, what=f"{message_id} in the table")
    assert result == {"id": message_id, "Message": message["message"],
                      "Queue_Name": queue_name_of_output(cloud, "SQSOutputQueue")}


def test_a_malformed_message_reaches_the_results_table_through_the_input_dlq(cloud: LocalCloud) -> None:
    # Given the sample's exception scenario: ProcessInputQueue raises on MALFORMED_MASSAGE
    message_id = f"TEST003_{uuid.uuid4()}"
    message = {"id": message_id, "message": "MALFORMED_MASSAGE - this is a test_exception_scenario", "type": "TEST"}

    # When it enters through the inbox
    send_through_the_inbox(cloud, message)

    # Then after its one receive (maxReceiveCount 1) SQS moved it to InputQueueDLQ, and WriteTestResult
    # recorded it from there
    result = wait_for(lambda: recorded_result(cloud, message_id), timeout_s=SLA_S, what=f"{message_id} in the table")
    assert result == {"id": message_id, "Message": message["message"],
                      "Queue_Name": queue_name_of_output(cloud, "SQSInputQueueDLQ")}


def test_a_message_without_the_test_type_is_processed_but_never_recorded(cloud: LocalCloud) -> None:
    # Given a message that is not a test message (no "type": "TEST")
    message_id = f"PROD001_{uuid.uuid4()}"
    mapping = "WriteTestResultOutputQueue"
    filtered_before = cloud.runtime_status()["pollers"][mapping]["records_filtered_out"]

    # When it enters through the inbox
    send_through_the_inbox(cloud, {"id": message_id, "message": "a production message"})

    # Then it reached OutputQueue, where WriteTestResult's filter dropped it: never recorded
    wait_for(lambda: cloud.runtime_status()["pollers"][mapping]["records_filtered_out"] > filtered_before,
             timeout_s=SLA_S, what="OutputQueue's mapping filtering the message out")
    assert recorded_result(cloud, message_id) is None


def test_the_api_is_skipped_by_name_and_everything_else_is_deployed(cloud: LocalCloud) -> None:
    # Given the deployed application
    stack = cloud.stack

    # Then the API Gateway resources and the Outputs naming them are listed as skipped, and every queue,
    # function, mapping and the table exist
    assert stack.skipped == {"Api": "AWS::ApiGateway::RestApi", "ApiProdStage": "AWS::ApiGateway::Stage",
                             **{name: "AWS::ApiGateway::Deployment" for name in stack.skipped
                                if name.startswith("ApiDeployment")}}
    assert len(stack.skipped) == 3
    assert stack.skipped_outputs == {"APIGatewayURL": ["Api"], "APIGatewayInputEndPoint": ["Api"]}
    assert set(stack.queues) == {"InputQueue", "OutputQueue", "InputQueueDLQ", "OutputQueueDLQ"}
    assert set(stack.functions) == {"ProcessInputQueue", "WriteTestResult"}
    assert set(stack.event_source_mappings) == {"ProcessInputQueueSampleSQSEvent", "WriteTestResultOutputQueue",
                                                "WriteTestResultInputQueueDLQ"}
    assert set(stack.tables) == {"TestResultsTable"}
