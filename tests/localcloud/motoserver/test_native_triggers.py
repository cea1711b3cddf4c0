"""Contract: with moto's own event source triggers detached, queues and streams behave as in AWS.

moto 5.2.5 consumes a queue or stream that has a mapping by itself (see
localcloud/motoserver/native_triggers.py); these tests create such mappings through the Lambda API and check
that, once detached, nothing but the pollers reads the queue or touches the stream.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest

from localcloud.motoserver.native_triggers import detach_moto_event_source_triggers
from tests.localcloud.event_sources.moto_resources import Aws, QueueUnderTest, TableUnderTest, put_items, unique

pytestmark = pytest.mark.localcloud


def create_function(aws: Aws) -> str:
    role_arn = aws.iam.create_role(
        RoleName=unique("role"),
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return None\n")
    name = unique("function")
    aws.lambda_client.create_function(FunctionName=name, Runtime="python3.12", Role=role_arn,
                                      Handler="index.handler", Code={"ZipFile": code.getvalue()})
    return name


def test_detached_mappings_leave_queues_and_streams_to_the_pollers(
    aws: Aws, make_queue: Any, make_stream_table: Any,
) -> None:
    # Given moto mappings from a queue and from a stream to a function
    queue: QueueUnderTest = make_queue(visibility_timeout=30)
    table: TableUnderTest = make_stream_table()
    function_name = create_function(aws)
    aws.lambda_client.create_event_source_mapping(EventSourceArn=queue.arn, FunctionName=function_name)
    aws.lambda_client.create_event_source_mapping(EventSourceArn=table.stream_arn, FunctionName=function_name,
                                                  StartingPosition="TRIM_HORIZON")

    # When moto's own triggers are detached
    detached = detach_moto_event_source_triggers()

    # Then sending does not receive the message behind the pollers' back (its first receive is the
    # test's own), writes stay in the stream, and the mappings are still listed for the pollers
    assert detached >= 2
    aws.sqs.send_message(QueueUrl=queue.url, MessageBody="hello")
    aws.sqs.send_message(QueueUrl=queue.url, MessageBody="world")
    received = aws.sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10,
                                       MessageSystemAttributeNames=["All"])["Messages"]
    assert sorted(m["Attributes"]["ApproximateReceiveCount"] for m in received) == ["1", "1"]
    put_items(aws, table, ["k1", "k2"])
    streams = aws.clients.dynamodbstreams
    shard_id = streams.describe_stream(StreamArn=table.stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=table.stream_arn, ShardId=shard_id,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == ["k1", "k2"]
    listed = aws.lambda_client.list_event_source_mappings(FunctionName=function_name)["EventSourceMappings"]
    assert {m["EventSourceArn"] for m in listed} == {queue.arn, table.stream_arn}
    assert detach_moto_event_source_triggers() == 0  # idempotent
