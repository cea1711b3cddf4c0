"""A translated template's mapping and asynchronous-invocation settings the local cloud does not emulate.

Called by the deploy step (localcloud.deploy.translation) on the CloudFormation template SAM produced,
before anything is created: a setting declared REFUSED in localcloud.event_sources.settings, an
unknown one, or a value that is not emulated (an EventBridge destination, an alias qualifier) makes
the deploy fail with one line per problem, each naming the resource and the setting. Nothing is
accepted and then run with different semantics.

The template still holds intrinsics here (`!GetAtt FailureQueue.Arn`), so a destination's service is
read from the referenced resource's type; a value built from parameters or imports cannot be known
before deploy and is let through (delivering to an unsupported target then fails as on AWS:
Lambda's DestinationDeliveryFailures).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from localcloud.aws.arns import Arn
from localcloud.event_sources.errors import MappingConfigurationError
from localcloud.event_sources.settings import (
    ASYNC_DESTINATION_SERVICES,
    DEAD_LETTER_SERVICES,
    EMULATED_ASYNC_QUALIFIERS,
    EMULATED_ASYNC_SETTINGS,
    EMULATED_MAPPING_DESTINATIONS,
    EMULATED_MAPPING_SETTINGS,
    MAPPING_ON_FAILURE_SERVICES,
    QUALIFIER_REFUSAL,
    REFUSED_ASYNC_DESTINATION_SERVICES,
    REFUSED_ASYNC_SETTINGS,
    REFUSED_MAPPING_DESTINATIONS,
    REFUSED_MAPPING_SETTINGS,
    is_set,
)

# The service whose ARN a resource's Ref or Fn::GetAtt ... Arn / StreamArn gives.
RESOURCE_SERVICES: Final = {
    "AWS::SQS::Queue": "sqs",
    "AWS::SNS::Topic": "sns",
    "AWS::Lambda::Function": "lambda",
    "AWS::Events::EventBus": "events",
    "AWS::S3::Bucket": "s3",
    "AWS::DynamoDB::Table": "dynamodb",
    "AWS::Kinesis::Stream": "kinesis",
    "AWS::MSK::Cluster": "kafka",
    "AWS::AmazonMQ::Broker": "mq",
    "AWS::DocDB::DBCluster": "docdb",
}
MAPPING_SOURCE_SERVICES: Final = frozenset({"sqs", "dynamodb"})
# CloudFormation spells a few parameters differently from the Lambda API (KmsKeyArn vs KMSKeyArn).
_MAPPING_NAMES: Final = {name.lower(): name for name in EMULATED_MAPPING_SETTINGS | set(REFUSED_MAPPING_SETTINGS)}
_ASYNC_NAMES: Final = {name.lower(): name for name in EMULATED_ASYNC_SETTINGS | set(REFUSED_ASYNC_SETTINGS)}


def refuse_unemulated_settings(template: Mapping[str, Any]) -> None:
    """Raise MappingConfigurationError listing every setting of the template that is not emulated."""
    resources: Mapping[str, Any] = template.get("Resources") or {}
    problems = [f"{logical_id}: {problem}" for logical_id, problem in _problems(resources)]
    if problems:
        raise MappingConfigurationError(
            "settings the local cloud does not emulate (it refuses them rather than run them differently "
            "from AWS):\n  " + "\n  ".join(problems))


def _problems(resources: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for logical_id, resource in resources.items():
        kind = resource.get("Type")
        properties: Mapping[str, Any] = resource.get("Properties") or {}
        if kind == "AWS::Lambda::EventSourceMapping":
            found = mapping_problems(properties, resources)
        elif kind == "AWS::Lambda::EventInvokeConfig":
            found = event_invoke_config_problems(properties, resources)
        elif kind == "AWS::Lambda::Function":
            found = dead_letter_problems(properties, resources)
        else:
            continue
        for problem in found:
            yield logical_id, problem


def mapping_problems(properties: Mapping[str, Any], resources: Mapping[str, Any]) -> list[str]:
    """What an AWS::Lambda::EventSourceMapping (or CreateEventSourceMapping request) sets that is refused."""
    problems: list[str] = []
    for key, value in properties.items():
        name = _MAPPING_NAMES.get(key.lower())
        if name is None:
            problems.append(f"{key}: not an event source mapping setting the local cloud knows")
        elif name in REFUSED_MAPPING_SETTINGS and is_set(name, value):
            problems.append(f"{name}: {REFUSED_MAPPING_SETTINGS[name]}")
    source = service_of(properties.get("EventSourceArn"), resources)
    if source is not None and source not in MAPPING_SOURCE_SERVICES:
        problems.append(f"EventSourceArn: {source} event sources are not emulated (SQS and DynamoDB Streams are)")
    destinations = properties.get("DestinationConfig") or {}
    if isinstance(destinations, Mapping):
        for key, destination in destinations.items():
            problems += _mapping_destination_problems(key, destination, resources)
    return problems


def _mapping_destination_problems(key: str, destination: Any, resources: Mapping[str, Any]) -> list[str]:
    if key in REFUSED_MAPPING_DESTINATIONS:
        return [f"DestinationConfig.{key}: {REFUSED_MAPPING_DESTINATIONS[key]}"]
    if key not in EMULATED_MAPPING_DESTINATIONS:
        return [f"DestinationConfig.{key}: not a destination the local cloud knows"]
    service = service_of(_destination_arn(destination), resources)
    if service is not None and service not in MAPPING_ON_FAILURE_SERVICES:
        return [f"DestinationConfig.{key}: {service} destinations of stream mappings are not emulated "
                f"(SQS queues are)"]
    return []


def event_invoke_config_problems(properties: Mapping[str, Any], resources: Mapping[str, Any]) -> list[str]:
    """What an AWS::Lambda::EventInvokeConfig (PutFunctionEventInvokeConfig) sets that is refused."""
    problems: list[str] = []
    for key, value in properties.items():
        name = _ASYNC_NAMES.get(key.lower())
        if name is None:
            problems.append(f"{key}: not an asynchronous invocation setting the local cloud knows")
        elif name in REFUSED_ASYNC_SETTINGS and is_set(name, value):
            problems.append(f"{name}: {REFUSED_ASYNC_SETTINGS[name]}")
    qualifier = properties.get("Qualifier", "$LATEST")
    if isinstance(qualifier, str) and qualifier not in EMULATED_ASYNC_QUALIFIERS:
        problems.append(f"Qualifier {qualifier!r}: {QUALIFIER_REFUSAL}")
    destinations = properties.get("DestinationConfig") or {}
    for key, destination in destinations.items() if isinstance(destinations, Mapping) else ():
        if key not in ("OnSuccess", "OnFailure"):
            problems.append(f"DestinationConfig.{key}: not a destination the local cloud knows")
            continue
        service = service_of(_destination_arn(destination), resources)
        if service in REFUSED_ASYNC_DESTINATION_SERVICES:
            problems.append(f"DestinationConfig.{key}: {REFUSED_ASYNC_DESTINATION_SERVICES[service]}")
        elif service is not None and service not in ASYNC_DESTINATION_SERVICES:
            problems.append(f"DestinationConfig.{key}: {service} destinations are not emulated "
                            f"(SQS queues, SNS topics and Lambda functions are)")
    return problems


def dead_letter_problems(properties: Mapping[str, Any], resources: Mapping[str, Any]) -> list[str]:
    """A function's DeadLetterConfig (asynchronous invokes only) to anything but an SQS queue or SNS topic."""
    config = properties.get("DeadLetterConfig") or {}
    if not isinstance(config, Mapping):
        return []
    service = service_of(config.get("TargetArn"), resources)
    if service is not None and service not in DEAD_LETTER_SERVICES:
        return [f"DeadLetterConfig.TargetArn: a {service} target is not a dead-letter queue Lambda supports "
                f"(an SQS queue or SNS topic)"]
    return []


def service_of(value: Any, resources: Mapping[str, Any]) -> str | None:
    """The AWS service an ARN-valued property points at, or None when it cannot be known before deploy."""
    if isinstance(value, str):
        try:
            return Arn.parse(value).service
        except ValueError:
            return None
    if not isinstance(value, Mapping) or len(value) != 1:
        return None
    ((function, argument),) = value.items()
    target = None
    if function == "Ref" and isinstance(argument, str):
        target = argument
    elif function == "Fn::GetAtt":
        target = argument[0] if isinstance(argument, list) else str(argument).split(".")[0]
    elif function == "Fn::Sub" and isinstance(argument, str) and argument.startswith("arn:"):
        service = argument.split(":")[2] if argument.count(":") >= 2 else ""
        return service if service and "${" not in service else None
    resource_type = (resources.get(target) or {}).get("Type") if target else None
    return RESOURCE_SERVICES.get(resource_type) if isinstance(resource_type, str) else None


def _destination_arn(destination: Any) -> Any:
    return destination.get("Destination") if isinstance(destination, Mapping) else None

