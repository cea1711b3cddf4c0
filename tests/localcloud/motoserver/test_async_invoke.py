"""Contract on the whole local cloud: an asynchronous invoke is queued with its retries and destinations.

lambda/latest/dg/invocation-async.html, invocation-async-error-handling.html and
invocation-async-retain-records.html: Invoke with InvocationType Event answers 202 at once; a failing
event is attempted 3 times (1 and 2 minutes apart), then its record goes to the OnFailure destination
and the event to the function's dead-letter queue; SNS delivers to a subscribed function the same way.
The settings come from the template (EventInvokeConfig, DeadLetterQueue: AsyncFailingFunction and
AsyncSucceedingFunction in tests/localcloud/templates/probe_template.yaml). The cloud runs at time scale
0.01, so a minute of AWS waiting is 0.6 s.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from tests.localcloud.conftest import PROBE_TEMPLATE, cloud_config
from tests.localcloud.waiting import wait_for

pytestmark = pytest.mark.localcloud


@pytest.fixture(scope="module")
def async_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    config = cloud_config(Path(tmp_path_factory.mktemp("async-cloud")), template=PROBE_TEMPLATE,
                          stack_name="probe-async", time_scale=0.01)
    with LocalCloud(config) as cloud:
        yield cloud


def messages(cloud: LocalCloud, queue: str, into: list[dict[str, Any]]) -> bool:
    url = cloud.stack.queues[queue].url
    got = cloud.aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                        WaitTimeSeconds=1).get("Messages", [])
    for message in got:
        cloud.aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    into.extend(got)
    return bool(into)


def test_an_event_invoke_answers_at_once_and_its_failure_reaches_on_failure_and_the_dead_letter_queue(
        async_cloud: LocalCloud) -> None:
    # Given AsyncFailingFunction: it always raises; 2 retries, an OnFailure queue and a dead-letter queue
    function = async_cloud.stack.functions["AsyncFailingFunction"]
    config = async_cloud.aws.lambda_client.get_function_event_invoke_config(FunctionName=function.name)
    assert config["MaximumRetryAttempts"] == 2  # the template's EventInvokeConfig, applied at deploy

    # When it is invoked asynchronously
    response = async_cloud.aws.lambda_client.invoke(FunctionName=function.name, InvocationType="Event",
                                                    Payload=json.dumps({"reason": "async probe"}))

    # Then the invoke answers 202 with a request id, before the function has run
    assert response["StatusCode"] == 202
    request_id = response["ResponseMetadata"]["RequestId"]
    # And after three attempts the OnFailure queue holds the invocation record of that request
    records: list[dict[str, Any]] = []
    wait_for(lambda: messages(async_cloud, "AsyncFailureQueue", records), timeout_s=30,
             what="the OnFailure record")
    record = json.loads(records[0]["Body"])
    assert record["requestContext"] == {"requestId": request_id, "functionArn": f"{function.arn}:$LATEST",
                                        "condition": "RetriesExhausted", "approximateInvokeCount": 3}
    assert record["requestPayload"] == {"reason": "async probe"}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "OrderRejectedError"
    # And the dead-letter queue the event alone, with the request id
    dead_letters: list[dict[str, Any]] = []
    wait_for(lambda: messages(async_cloud, "AsyncDeadLetterQueue", dead_letters), timeout_s=10,
             what="the event in the dead-letter queue")
    assert json.loads(dead_letters[0]["Body"]) == {"reason": "async probe"}
    assert dead_letters[0]["MessageAttributes"]["RequestID"]["StringValue"] == request_id
    stats = async_cloud.runtime_status()["async_invocation"]
    assert stats["retries"] >= 2


def test_a_successful_event_invoke_sends_its_record_to_on_success(async_cloud: LocalCloud) -> None:
    # Given AsyncSucceedingFunction with an OnSuccess queue
    function = async_cloud.stack.functions["AsyncSucceedingFunction"]

    # When it is invoked asynchronously
    response = async_cloud.aws.lambda_client.invoke(FunctionName=function.name, InvocationType="Event",
                                                    Payload=json.dumps({"sleep_s": 0}))

    # Then its answer arrives in the OnSuccess record
    records: list[dict[str, Any]] = []
    wait_for(lambda: messages(async_cloud, "AsyncSuccessQueue", records), timeout_s=20, what="the OnSuccess record")
    record = json.loads(records[0]["Body"])
    assert record["requestContext"]["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert record["requestContext"]["condition"] == "Success"
    assert record["responsePayload"]["slept_s"] == 0


def test_sns_delivers_to_a_subscribed_function_asynchronously_with_its_retries(async_cloud: LocalCloud) -> None:
    # Given AsyncFailingFunction subscribed to an SNS topic
    function = async_cloud.stack.functions["AsyncFailingFunction"]
    sns = async_cloud.aws.client("sns")
    topic = sns.create_topic(Name="async-probe-topic")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function.arn)

    # When a message is published
    sns.publish(TopicArn=topic, Message="hello from SNS")

    # Then the function was invoked as AWS invokes for SNS: asynchronously, retried, then OnFailure
    records: list[dict[str, Any]] = []
    wait_for(lambda: messages(async_cloud, "AsyncFailureQueue", records), timeout_s=30,
             what="the OnFailure record of the SNS delivery")
    record = json.loads(records[0]["Body"])
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"]["Records"][0]["Sns"]["Message"] == "hello from SNS"


def test_put_function_event_invoke_config_replaces_the_configuration(async_cloud: LocalCloud) -> None:
    # Given a function whose configuration is put twice (moto alone keeps answering the first)
    lambda_client = async_cloud.aws.lambda_client
    name = async_cloud.stack.functions["SleeperFunction"].name
    lambda_client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    lambda_client.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=120)

    # Then the second replaced the first, and an update changes only what it names
    config = lambda_client.get_function_event_invoke_config(FunctionName=name)
    assert (config.get("MaximumRetryAttempts"), config["MaximumEventAgeInSeconds"]) == (None, 120)
    lambda_client.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    config = lambda_client.get_function_event_invoke_config(FunctionName=name)
    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (0, 120)
