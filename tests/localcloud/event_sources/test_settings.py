"""Contract: mapping settings carry AWS's defaults and limits, and are read back from a deployed stack."""

from __future__ import annotations

import json
from typing import Any

import pytest

from localcloud.event_sources.settings import (
    EventSourceMappingSettings,
    MappingConfigurationError,
    SourceKind,
    from_event_source_mapping,
    read_stack_mappings,
)
from localcloud.motoserver.native_triggers import detach_moto_event_source_triggers
from tests.localcloud.event_sources.moto_resources import REGION, Aws, unique

pytestmark = pytest.mark.localcloud

QUEUE_ARN = f"arn:aws:sqs:{REGION}:123456789012:WorkQueue"
FIFO_ARN = f"arn:aws:sqs:{REGION}:123456789012:WorkQueue.fifo"
STREAM_ARN = f"arn:aws:dynamodb:{REGION}:123456789012:table/ItemsTable/stream/2026-01-01T00:00:00.000"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:suite-SqsWorkerFunction-ABC123"


def test_sqs_mapping_defaults_are_those_of_aws() -> None:
    # Given a Lambda API mapping that sets nothing optional / When read
    settings = from_event_source_mapping({"EventSourceArn": QUEUE_ARN, "FunctionArn": FUNCTION_ARN,
                                          "State": "Enabled"})

    # Then AWS's defaults apply
    assert settings.kind is SourceKind.SQS
    assert settings.batch_size == 10
    assert settings.maximum_batching_window_seconds == 0
    assert settings.reports_batch_item_failures is False
    assert settings.maximum_concurrency is None
    assert settings.filter_patterns == ()
    assert settings.enabled is True
    assert settings.function_name == "suite-SqsWorkerFunction-ABC123"


def test_stream_mapping_defaults_are_those_of_aws() -> None:
    settings = from_event_source_mapping({"EventSourceArn": STREAM_ARN, "FunctionArn": FUNCTION_ARN,
                                          "StartingPosition": "LATEST"})
    assert settings.kind is SourceKind.DYNAMODB_STREAM
    assert settings.batch_size == 100
    assert settings.maximum_retry_attempts == -1  # retry until the record expires
    assert settings.maximum_record_age_seconds == -1
    assert settings.bisect_batch_on_function_error is False
    assert settings.parallelization_factor == 1
    assert settings.on_failure_destination is None


def test_every_setting_of_a_lambda_api_mapping_is_read() -> None:
    # Given a stream mapping with every setting the pollers honour
    configuration = {
        "UUID": "0bcd0fc6", "EventSourceArn": STREAM_ARN, "FunctionArn": FUNCTION_ARN, "State": "Disabled",
        "BatchSize": 50, "MaximumBatchingWindowInSeconds": 2, "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "FilterCriteria": {"Filters": [{"Pattern": '{"eventName": ["INSERT"]}'}]},
        "StartingPosition": "TRIM_HORIZON", "BisectBatchOnFunctionError": True, "MaximumRetryAttempts": 3,
        "MaximumRecordAgeInSeconds": 3600, "ParallelizationFactor": 1,
        "DestinationConfig": {"OnFailure": {"Destination": QUEUE_ARN}},
    }

    # When read with the template's logical ids
    settings = from_event_source_mapping(configuration, function_name="StreamConsumerFunction",
                                         mapping_logical_id="StreamConsumerFunctionStream")

    # Then nothing is lost
    assert settings.model_dump() == {
        "function_name": "StreamConsumerFunction", "event_source_arn": STREAM_ARN, "function_arn": FUNCTION_ARN,
        "function_timeout_seconds": None, "mapping_id": "0bcd0fc6",
        "mapping_logical_id": "StreamConsumerFunctionStream", "enabled": False, "batch_size": 50,
        "maximum_batching_window_seconds": 2, "function_response_types": ("ReportBatchItemFailures",),
        "filter_patterns": ('{"eventName": ["INSERT"]}',), "maximum_concurrency": None,
        "starting_position": "TRIM_HORIZON", "bisect_batch_on_function_error": True, "maximum_retry_attempts": 3,
        "maximum_record_age_seconds": 3600, "parallelization_factor": 1, "on_failure_destination": QUEUE_ARN,
        "tumbling_window_seconds": None,
    }


@pytest.mark.parametrize(
    ("configuration", "problem"),
    [
        ({"EventSourceArn": QUEUE_ARN, "BatchSize": 10_001}, "less than or equal to 10000"),
        ({"EventSourceArn": QUEUE_ARN, "BatchSize": 100}, "needs MaximumBatchingWindowInSeconds >= 1"),
        ({"EventSourceArn": QUEUE_ARN, "MaximumBatchingWindowInSeconds": 301}, "less than or equal to 300"),
        ({"EventSourceArn": QUEUE_ARN, "ScalingConfig": {"MaximumConcurrency": 1}}, "greater than or equal to 2"),
        ({"EventSourceArn": FIFO_ARN, "BatchSize": 11}, "FIFO queue maximum of 10"),
        ({"EventSourceArn": QUEUE_ARN, "BisectBatchOnFunctionError": True}, "apply to stream mappings"),
        ({"EventSourceArn": QUEUE_ARN, "FilterCriteria": {"Filters": [{"Pattern": "{"}]}}, "not JSON"),
        ({"EventSourceArn": STREAM_ARN}, "needs StartingPosition"),
        ({"EventSourceArn": STREAM_ARN, "StartingPosition": "LATEST", "MaximumRetryAttempts": 10_001},
         "less than or equal to 10000"),
        ({"EventSourceArn": STREAM_ARN, "StartingPosition": "LATEST", "MaximumRecordAgeInSeconds": 59},
         "must be -1 or 60-604800"),
        ({"EventSourceArn": STREAM_ARN, "StartingPosition": "LATEST", "ScalingConfig": {"MaximumConcurrency": 5}},
         "SQS mappings only"),
        ({"EventSourceArn": f"arn:aws:kinesis:{REGION}:123456789012:stream/s"}, "unsupported event source"),
    ],
    ids=["batch-over-10000", "sqs-batch-over-10-without-window", "window-over-300", "concurrency-under-2",
         "fifo-batch-over-10", "stream-setting-on-sqs", "filter-not-json", "stream-without-starting-position",
         "retries-over-10000", "record-age-under-60", "scaling-config-on-stream", "kinesis-not-emulated"],
)
def test_settings_lambda_refuses_are_refused(configuration: dict[str, Any], problem: str) -> None:
    with pytest.raises(MappingConfigurationError, match=problem):
        from_event_source_mapping({"FunctionArn": FUNCTION_ARN, **configuration})


STACK_TEMPLATE = {
    "Resources": {
        "FunctionRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}},
        },
        "WorkerFunction": {
            "Type": "AWS::Lambda::Function",
            "Properties": {"Runtime": "python3.12", "Handler": "index.handler", "Timeout": 7,
                           "Role": {"Fn::GetAtt": ["FunctionRole", "Arn"]},
                           "Code": {"ZipFile": "def handler(event, context):\n    return None\n"}},
        },
        "WorkQueue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 42}},
        "FailureQueue": {"Type": "AWS::SQS::Queue"},
        "ItemsTable": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {"BillingMode": "PAY_PER_REQUEST",
                           "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                           "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                           "StreamSpecification": {"StreamViewType": "NEW_IMAGE"}},
        },
        "WorkerFunctionWorkQueueEvent": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {"EventSourceArn": {"Fn::GetAtt": ["WorkQueue", "Arn"]},
                           "FunctionName": {"Ref": "WorkerFunction"}, "BatchSize": 5,
                           "MaximumBatchingWindowInSeconds": 1, "FunctionResponseTypes": ["ReportBatchItemFailures"],
                           "ScalingConfig": {"MaximumConcurrency": 3},
                           "FilterCriteria": {"Filters": [{"Pattern": json.dumps({"body": {"kind": ["order"]}})}]}},
        },
        "WorkerFunctionStream": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {"EventSourceArn": {"Fn::GetAtt": ["ItemsTable", "StreamArn"]},
                           "FunctionName": {"Ref": "WorkerFunction"}, "StartingPosition": "LATEST",
                           "BatchSize": 25, "BisectBatchOnFunctionError": True, "MaximumRetryAttempts": 2,
                           "MaximumRecordAgeInSeconds": 120,
                           "DestinationConfig": {"OnFailure": {
                               "Destination": {"Fn::GetAtt": ["FailureQueue", "Arn"]}}}},
        },
    }
}


def test_mappings_are_read_from_a_deployed_stack_by_logical_id(aws: Aws) -> None:
    # Given a stack with a queue mapping and a stream mapping, deployed to moto's CloudFormation
    stack_name = unique("stack")
    aws.cloudformation.create_stack(StackName=stack_name, TemplateBody=json.dumps(STACK_TEMPLATE))
    detach_moto_event_source_triggers()  # moto must not consume the stack's queue and stream itself
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                for r in aws.cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
                if "LogicalResourceId" in r}
    queue_arn = aws.sqs.get_queue_attributes(QueueUrl=physical["WorkQueue"],
                                             AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    # When its mappings are read
    mappings = {m.mapping_logical_id: m for m in read_stack_mappings(
        cloudformation=aws.cloudformation, lambda_client=aws.lambda_client, stack_name=stack_name)}

    # Then each names the function by its logical id, with the resolved source and every setting
    assert set(mappings) == {"WorkerFunctionWorkQueueEvent", "WorkerFunctionStream"}
    queue_mapping = mappings["WorkerFunctionWorkQueueEvent"]
    assert queue_mapping.function_name == "WorkerFunction"
    assert queue_mapping.function_timeout_seconds == 7
    assert queue_mapping.event_source_arn == queue_arn
    assert queue_mapping.mapping_id == physical["WorkerFunctionWorkQueueEvent"]
    assert (queue_mapping.batch_size, queue_mapping.maximum_batching_window_seconds,
            queue_mapping.maximum_concurrency, queue_mapping.reports_batch_item_failures) == (5, 1, 3, True)
    assert queue_mapping.filter_patterns == (json.dumps({"body": {"kind": ["order"]}}),)
    stream_mapping = mappings["WorkerFunctionStream"]
    assert stream_mapping.function_name == "WorkerFunction"
    assert stream_mapping.kind is SourceKind.DYNAMODB_STREAM
    assert physical["ItemsTable"] in stream_mapping.event_source_arn
    assert (stream_mapping.starting_position, stream_mapping.batch_size, stream_mapping.bisect_batch_on_function_error,
            stream_mapping.maximum_retry_attempts, stream_mapping.maximum_record_age_seconds) == (
        "LATEST", 25, True, 2, 120)
    assert stream_mapping.on_failure_destination is not None
    assert stream_mapping.on_failure_destination.endswith(physical["FailureQueue"].rsplit("/", 1)[1])


def test_settings_objects_are_immutable() -> None:
    settings = EventSourceMappingSettings(function_name="F", event_source_arn=QUEUE_ARN)
    with pytest.raises(ValueError, match="frozen"):
        settings.batch_size = 5  # type: ignore[misc]
