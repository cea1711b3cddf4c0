"""Contract: no event source mapping or asynchronous invocation setting is accepted and silently ignored.

Every request parameter of CreateEventSourceMapping and PutFunctionEventInvokeConfig, and CreateFunction's
DeadLetterConfig, listed from botocore's service model (so a parameter AWS adds fails this test until the
local cloud declares it), is either emulated or refused by name at deploy
(localcloud.event_sources.settings). AWS pages: lambda/latest/api/API_CreateEventSourceMapping.html,
API_PutFunctionEventInvokeConfig.html, and lambda/latest/dg/invocation-async-retain-records.html for the
destinations.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest

from localcloud.deploy.stack import moto_cloudformation_types
from localcloud.deploy.translation import TemplateError, translate_template
from localcloud.event_sources.settings import (
    EMULATED_ASYNC_SETTINGS,
    EMULATED_MAPPING_DESTINATIONS,
    EMULATED_MAPPING_SETTINGS,
    REFUSED_ASYNC_SETTINGS,
    REFUSED_MAPPING_DESTINATIONS,
    REFUSED_MAPPING_SETTINGS,
    MappingConfigurationError,
    from_event_source_mapping,
)

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:q"
STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-01-01T00:00:00.000"
# A value of the right shape for each refused mapping setting (CloudFormation passes them through).
REFUSED_VALUES: dict[str, Any] = {
    "KMSKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234",
    "MetricsConfig": {"Metrics": ["EventCount"]},
    "LoggingConfig": {"SystemLogLevel": "INFO"},
    "TumblingWindowInSeconds": 60,
    "StartingPositionTimestamp": 1_700_000_000,
    "ProvisionedPollerConfig": {"MinimumPollers": 1, "MaximumPollers": 2},
    "Topics": ["orders"],
    "Queues": ["orders"],
    "SourceAccessConfigurations": [{"Type": "BASIC_AUTH", "URI": "arn:aws:secretsmanager:us-east-1:1:secret:s"}],
    "SelfManagedEventSource": {"Endpoints": {"KafkaBootstrapServers": ["broker:9092"]}},
    "AmazonManagedKafkaEventSourceConfig": {"ConsumerGroupId": "g"},
    "SelfManagedKafkaEventSourceConfig": {"ConsumerGroupId": "g"},
    "DocumentDBEventSourceConfig": {"DatabaseName": "db"},
}


def request_parameters(operation: str) -> set[str]:
    model = boto3.client("lambda", region_name="us-east-1").meta.service_model
    return set(model.operation_model(operation).input_shape.members)


def destination_members() -> set[str]:
    model = boto3.client("lambda", region_name="us-east-1").meta.service_model
    shape = model.operation_model("CreateEventSourceMapping").input_shape.members["DestinationConfig"]
    return set(shape.members)  # type: ignore[attr-defined]


def test_every_event_source_mapping_setting_is_emulated_or_refused_by_name() -> None:
    # Given every request parameter of CreateEventSourceMapping in the Lambda API model
    parameters = request_parameters("CreateEventSourceMapping")

    # Then each one is declared exactly once: emulated, or refused with a reason
    assert not EMULATED_MAPPING_SETTINGS & set(REFUSED_MAPPING_SETTINGS)
    undeclared = parameters - EMULATED_MAPPING_SETTINGS - set(REFUSED_MAPPING_SETTINGS)
    assert not undeclared, f"declare these in localcloud/event_sources/settings.py: {sorted(undeclared)}"
    assert all(reason for reason in REFUSED_MAPPING_SETTINGS.values())
    # And so is every destination a mapping's DestinationConfig can name
    assert destination_members() <= EMULATED_MAPPING_DESTINATIONS | set(REFUSED_MAPPING_DESTINATIONS)
    assert set(REFUSED_VALUES) == set(REFUSED_MAPPING_SETTINGS)


def test_every_asynchronous_invocation_setting_is_emulated_or_refused_by_name() -> None:
    # Given PutFunctionEventInvokeConfig's parameters and the function's DeadLetterConfig
    parameters = request_parameters("PutFunctionEventInvokeConfig") | (
        request_parameters("CreateFunction") & {"DeadLetterConfig"})

    # Then each one is emulated or refused
    assert "DeadLetterConfig" in parameters
    undeclared = parameters - EMULATED_ASYNC_SETTINGS - set(REFUSED_ASYNC_SETTINGS)
    assert not undeclared, f"declare these in localcloud/event_sources/settings.py: {sorted(undeclared)}"


def write_template(tmp_path: Path, resources: dict[str, Any]) -> Path:
    code = tmp_path / "fn"
    code.mkdir(exist_ok=True)
    (code / "app.py").write_text("def lambda_handler(event, context):\n    return event\n")
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Work": {"Type": "AWS::SQS::Queue"},
            "Failures": {"Type": "AWS::SQS::Queue"},
            "Topic": {"Type": "AWS::SNS::Topic"},
            "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "bus"}},
            "Bucket": {"Type": "AWS::S3::Bucket"},
            "Fn": {"Type": "AWS::Serverless::Function",
                   "Properties": {"CodeUri": "fn/", "Handler": "app.lambda_handler", "Runtime": "python3.13"}},
            **resources,
        },
    }
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    return path


def deploy_step(path: Path) -> None:
    translate_template(path, parameters={}, stack_name="s", region="us-east-1", account_id="123456789012",
                       supported_types=moto_cloudformation_types())


def mapping(**properties: Any) -> dict[str, Any]:
    return {"Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {"EventSourceArn": {"Fn::GetAtt": ["Work", "Arn"]}, "FunctionName": {"Ref": "Fn"},
                           **properties}}


@pytest.mark.parametrize("setting", sorted(REFUSED_MAPPING_SETTINGS))
def test_a_mapping_with_a_refused_setting_fails_the_deploy_naming_it(tmp_path: Path, setting: str) -> None:
    # Given a template whose mapping sets a refused setting
    path = write_template(tmp_path, {"Mapping": mapping(**{setting: REFUSED_VALUES[setting]})})

    # When it is deployed / Then the deploy fails, naming the mapping and the setting with the reason
    with pytest.raises(TemplateError, match=re.escape(f"Mapping: {setting}: {REFUSED_MAPPING_SETTINGS[setting]}")):
        deploy_step(path)
    # And a mapping made through the API with it is refused the same way when it is read
    with pytest.raises(MappingConfigurationError, match=setting):
        from_event_source_mapping({"EventSourceArn": STREAM_ARN if setting == "TumblingWindowInSeconds" else QUEUE_ARN,
                                   "FunctionArn": FUNCTION_ARN, "StartingPosition": "LATEST",
                                   setting: REFUSED_VALUES[setting]})


def test_cloudformation_spellings_and_unknown_mapping_settings_are_refused_too(tmp_path: Path) -> None:
    # Given CloudFormation's KmsKeyArn spelling and a property no API has
    path = write_template(tmp_path, {"Mapping": mapping(KmsKeyArn="arn:aws:kms:us-east-1:1:key/k", Frobnicate=1)})
    # When deployed / Then both are named
    with pytest.raises(TemplateError, match=r"(?s)KMSKeyArn: encrypting.*Frobnicate: not an event source mapping"):
        deploy_step(path)


@pytest.mark.parametrize(
    ("destination", "problem"),
    [
        ({"OnSuccess": {"Destination": {"Fn::GetAtt": ["Failures", "Arn"]}}}, "DestinationConfig.OnSuccess"),
        ({"OnFailure": {"Destination": {"Ref": "Topic"}}}, "DestinationConfig.OnFailure: sns destinations"),
        ({"OnFailure": {"Destination": {"Fn::GetAtt": ["Bucket", "Arn"]}}}, "DestinationConfig.OnFailure: s3"),
    ],
    ids=["on-success", "sns-on-failure", "s3-on-failure"],
)
def test_stream_mapping_destinations_other_than_an_sqs_on_failure_queue_are_refused(
        tmp_path: Path, destination: dict[str, Any], problem: str) -> None:
    stream_mapping = mapping(StartingPosition="LATEST", DestinationConfig=destination)
    path = write_template(tmp_path, {"Mapping": stream_mapping})
    with pytest.raises(TemplateError, match=problem):
        deploy_step(path)


def async_function(**event_invoke_config: Any) -> dict[str, Any]:
    return {"Type": "AWS::Serverless::Function",
            "Properties": {"CodeUri": "fn/", "Handler": "app.lambda_handler", "Runtime": "python3.13",
                           **event_invoke_config}}


@pytest.mark.parametrize(
    ("properties", "problem"),
    [
        ({"EventInvokeConfig": {"DestinationConfig": {"OnFailure": {
            "Type": "EventBridge", "Destination": {"Fn::GetAtt": ["Bus", "Arn"]}}}}},
         "DestinationConfig.OnFailure: EventBridge event bus destinations are not emulated"),
        ({"EventInvokeConfig": {"DestinationConfig": {"OnFailure": {
            "Type": "S3Bucket", "Destination": {"Fn::GetAtt": ["Bucket", "Arn"]}}}}},
         "DestinationConfig.OnFailure: S3 bucket destinations are not emulated"),
        ({"AutoPublishAlias": "live", "EventInvokeConfig": {"MaximumRetryAttempts": 1}},
         "Qualifier 'live': versions and aliases are not emulated"),
        ({"DeadLetterQueue": {"Type": "SQS", "TargetArn": "arn:aws:events:us-east-1:123456789012:event-bus/b"}},
         "DeadLetterConfig.TargetArn: a events target"),
    ],
    ids=["eventbridge-destination", "s3-destination", "alias-qualifier", "dead-letter-to-a-bus"],
)
def test_asynchronous_invocation_values_that_are_not_emulated_fail_the_deploy_naming_them(
        tmp_path: Path, properties: dict[str, Any], problem: str) -> None:
    # Given a function whose asynchronous invocation settings name something the local cloud cannot do
    path = write_template(tmp_path, {"Async": async_function(**properties)})
    # When deployed / Then the deploy fails with the setting in the message
    with pytest.raises(TemplateError, match=problem):
        deploy_step(path)


def test_emulated_asynchronous_invocation_settings_deploy(tmp_path: Path) -> None:
    # Given SQS, SNS and Lambda destinations, retries, event age and an SQS dead-letter queue
    path = write_template(tmp_path, {"Async": async_function(
        DeadLetterQueue={"Type": "SQS", "TargetArn": {"Fn::GetAtt": ["Failures", "Arn"]}},
        EventInvokeConfig={"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 120, "DestinationConfig": {
            "OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": ["Failures", "Arn"]}},
            "OnSuccess": {"Type": "SNS", "Destination": {"Ref": "Topic"}}}})})
    # When translated / Then nothing is refused, and the EventInvokeConfig is applied through its API
    local = translate_template(path, parameters={}, stack_name="s", region="us-east-1", account_id="123456789012",
                               supported_types=moto_cloudformation_types())
    assert "AsyncEventInvokeConfig" in local.api_applied
    assert "Async" in local.dead_letter_targets
