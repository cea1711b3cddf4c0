"""Deploy template.yaml to the local cloud: translate, create or update the stack in moto, finish it.

    stack = deploy(LocalAws(endpoint_url, region), template_path, stack_name=..., parameters=...)

Re-deploying the same stack name is a CloudFormation UpdateStack: moto diffs the templates and adds,
modifies or removes resources (a modified queue keeps its messages, a modified function its name).
After create or update the deploy step applies what moto's CloudFormation cannot (see
localcloud.deploy.translation): alarms, bucket policies, functions' asynchronous invocation settings
(EventInvokeConfig, DeadLetterConfig) and state machine definitions.
"""

from __future__ import annotations

import io
import json
import logging
import time
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from localcloud.aws.clients import LocalAws
from localcloud.config import ACCOUNT_ID
from localcloud.deploy.deployed_stack import (
    DeployedFunction,
    DeployedQueue,
    DeployedResource,
    DeployedStack,
    DeployedStateMachine,
    DeployedTable,
)
from localcloud.deploy.translation import (
    ARTIFACT_BUCKET,
    ARTIFACT_KEY,
    CONDITION_VALUE_KEY,
    DEFINITION_ARTIFACT_KEY,
    PLACEHOLDER_DEFINITION,
    RESOLVER_OUTPUT_PREFIX,
    LocalTemplate,
    resolve_markers,
    resolved_outputs,
    substitute_definition,
    translate_template,
)
from localcloud.stepfunctions.definition_checks import unemulated_fields

logger = logging.getLogger("localcloud.deploy.stack")

STACK_DONE = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
STACK_FAILED_SUFFIXES = ("_FAILED", "ROLLBACK_COMPLETE")
NO_UPDATES = "No updates are to be performed"
# CloudWatch alarm properties that the API takes as numbers while a template may hold strings.
ALARM_NUMBERS = {"Period": int, "EvaluationPeriods": int, "DatapointsToAlarm": int, "Threshold": float}


class DeployError(RuntimeError):
    """The stack did not reach CREATE_COMPLETE / UPDATE_COMPLETE."""


@cache
def moto_cloudformation_types() -> frozenset[str]:
    """Resource types moto's CloudFormation implements (imports moto's models once; about a second)."""
    # Imported here, not at the top: importing moto's models costs about a second that only deploys need.
    from moto.cloudformation.parsing import get_model_map  # noqa: PLC0415

    return frozenset(get_model_map())


def deploy(
    aws: LocalAws,
    template_path: Path,
    *,
    stack_name: str,
    parameters: dict[str, str] | None = None,
    timeout_s: float = 120.0,
) -> DeployedStack:
    local = translate_template(
        template_path, parameters=dict(parameters or {}), stack_name=stack_name, region=aws.region,
        account_id=ACCOUNT_ID, supported_types=moto_cloudformation_types(),
    )
    _upload_placeholder_artifacts(aws)
    _create_or_update(aws, stack_name, local)
    status = _wait_for_stack(aws, stack_name, timeout_s)
    outputs = _stack_outputs(aws, stack_name)
    resolved = resolved_outputs(outputs)
    applied = _apply_api_resources(aws, local, resolved)
    _apply_state_machine_definitions(aws, stack_name, local, resolved)
    return read_deployed_stack(aws, stack_name, local, status=status, api_applied=applied, resolved=resolved)


def _upload_placeholder_artifacts(aws: LocalAws) -> None:
    try:
        aws.s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    except ClientError as error:
        if error.response["Error"]["Code"] not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
            raise
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # Never run: the invokers run the template's code folders. It only makes moto accept the function.
        archive.writestr("README.txt", "placeholder: the local cloud runs this function from its CodeUri folder\n")
    aws.s3.put_object(Bucket=ARTIFACT_BUCKET, Key=ARTIFACT_KEY, Body=buffer.getvalue())
    aws.s3.put_object(Bucket=ARTIFACT_BUCKET, Key=DEFINITION_ARTIFACT_KEY, Body=PLACEHOLDER_DEFINITION.encode())


def _create_or_update(aws: LocalAws, stack_name: str, local: LocalTemplate) -> None:
    declared = local.template.get("Parameters", {})
    arguments: dict[str, Any] = {
        "StackName": stack_name,
        "TemplateBody": json.dumps(local.template),
        "Parameters": [{"ParameterKey": key, "ParameterValue": value}
                       for key, value in local.parameters.items() if key in declared],
        "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    }
    try:
        if _stack_exists(aws, stack_name):
            aws.cloudformation.update_stack(**arguments)
        else:
            aws.cloudformation.create_stack(**arguments)
    except ClientError as error:
        if NO_UPDATES in str(error):
            return
        raise DeployError(f"CloudFormation refused {stack_name}: {error}") from error


def _stack_exists(aws: LocalAws, stack_name: str) -> bool:
    try:
        stacks = aws.cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError:
        return False
    return any(stack["StackStatus"] != "DELETE_COMPLETE" for stack in stacks)


def _wait_for_stack(aws: LocalAws, stack_name: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        stack = aws.cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        status = stack["StackStatus"]
        if status in STACK_DONE:
            return status
        if status.endswith(STACK_FAILED_SUFFIXES):
            raise DeployError(f"{stack_name}: {status}: {stack.get('StackStatusReason', 'no reason given')}")
        if time.monotonic() > deadline:
            raise DeployError(f"{stack_name} still {status} after {timeout_s} s")
        time.sleep(0.2)


def _stack_outputs(aws: LocalAws, stack_name: str) -> dict[str, str]:
    stack = aws.cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {output["OutputKey"]: output.get("OutputValue", "") for output in stack.get("Outputs", [])}


def _apply_api_resources(aws: LocalAws, local: LocalTemplate, resolved: dict[int, str]) -> list[DeployedResource]:
    applied = []
    for logical_id, resource in local.api_applied.items():
        if CONDITION_VALUE_KEY in resource and resolve_markers(resource[CONDITION_VALUE_KEY], resolved) != "true":
            # CloudFormation does not create a resource whose Condition is false (e.g. a prod-only policy).
            logger.info("%s skipped: its condition %s is false", logical_id, resource.get("Condition"))
            continue
        properties = resolve_markers(resource.get("Properties", {}), resolved)
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            physical_id = _put_alarm(aws, logical_id, properties)
        elif resource["Type"] == "AWS::Lambda::EventInvokeConfig":
            physical_id = _put_event_invoke_config(aws, properties)
        else:  # AWS::S3::BucketPolicy
            aws.s3.put_bucket_policy(Bucket=properties["Bucket"], Policy=json.dumps(properties["PolicyDocument"]))
            physical_id = properties["Bucket"]
        applied.append(DeployedResource(logical_id=logical_id, type=resource["Type"], physical_id=physical_id,
                                        created_by="api"))
    return applied


def _put_alarm(aws: LocalAws, logical_id: str, properties: dict[str, Any]) -> str:
    arguments = {key: ALARM_NUMBERS[key](value) if key in ALARM_NUMBERS else value
                 for key, value in properties.items()}
    # A stable name (CloudFormation would generate one): a redeploy updates the alarm, not a new one.
    arguments.setdefault("AlarmName", logical_id)
    aws.cloudwatch.put_metric_alarm(**arguments)
    return str(arguments["AlarmName"])


def _put_event_invoke_config(aws: LocalAws, properties: dict[str, Any]) -> str:
    """PutFunctionEventInvokeConfig, where asynchronous invocation reads it (and GetFunctionEventInvokeConfig)."""
    settings = {key: properties[key] for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds",
                                                 "DestinationConfig") if key in properties}
    qualifier = properties.get("Qualifier", "$LATEST")
    # A put replaces the whole configuration (as an update of the resource does); moto 5.2.5 appends
    # instead and answers with the first one kept, so the old one is deleted first.
    try:
        aws.lambda_client.delete_function_event_invoke_config(FunctionName=properties["FunctionName"])
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    aws.lambda_client.put_function_event_invoke_config(FunctionName=properties["FunctionName"], **settings)
    return f"{properties['FunctionName']}:{qualifier}"


def _apply_state_machine_definitions(
    aws: LocalAws, stack_name: str, local: LocalTemplate, resolved: dict[int, str]
) -> None:
    physical = _physical_ids(aws, stack_name)
    for logical_id, deferred in local.state_machines.items():
        substitutions = resolve_markers(deferred.substitutions, resolved)
        definition = substitute_definition(deferred.definition, substitutions)
        try:
            document = json.loads(definition)
        except json.JSONDecodeError as error:
            raise DeployError(f"{logical_id}: the definition is not JSON after its substitutions: {error}") from error
        if refused := unemulated_fields(document):
            raise DeployError(f"{logical_id}: the local cloud does not emulate " + "; ".join(refused))
        aws.stepfunctions.update_state_machine(stateMachineArn=physical[logical_id], definition=definition)


def _physical_ids(aws: LocalAws, stack_name: str) -> dict[str, str]:
    resources = aws.cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
    return {resource["LogicalResourceId"]: resource["PhysicalResourceId"] for resource in resources
            if resource.get("LogicalResourceId") and resource.get("PhysicalResourceId")}


def read_deployed_stack(
    aws: LocalAws,
    stack_name: str,
    local: LocalTemplate,
    *,
    status: str,
    api_applied: list[DeployedResource],
    resolved: dict[int, str] | None = None,
) -> DeployedStack:
    stack = aws.cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    resources = {
        resource["LogicalResourceId"]: DeployedResource(
            logical_id=resource["LogicalResourceId"], type=resource["ResourceType"],
            physical_id=resource.get("PhysicalResourceId"),
        )
        for resource in aws.cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
        # moto also lists a function role's inline policies, with no logical id.
        if resource.get("LogicalResourceId") and resource.get("ResourceType")
    }
    resources.update({resource.logical_id: resource for resource in api_applied})
    queues = {logical_id: _queue(aws, resource) for logical_id, resource in resources.items()
              if resource.type == "AWS::SQS::Queue" and resource.physical_id}
    # CloudFormation names a queue by an amazonaws.com URL; functions get the URL that works here.
    local_urls = {resource.physical_id: queues[logical_id].url for logical_id, resource in resources.items()
                  if logical_id in queues}
    return DeployedStack(
        stack_name=stack_name,
        stack_id=stack["StackId"],
        status=status,
        region=aws.region,
        account_id=ACCOUNT_ID,
        endpoint_url=aws.endpoint_url,
        resources=resources,
        outputs={output["OutputKey"]: output.get("OutputValue", "") for output in stack.get("Outputs", [])
                 if not output["OutputKey"].startswith(RESOLVER_OUTPUT_PREFIX)},
        functions={logical_id: _function(aws, resource, local, local_urls, resolved or {})
                   for logical_id, resource in resources.items()
                   if resource.type == "AWS::Lambda::Function" and resource.physical_id},
        queues=queues,
        tables={logical_id: _table(aws, resource) for logical_id, resource in resources.items()
                if resource.type == "AWS::DynamoDB::Table" and resource.physical_id},
        state_machines={
            logical_id: DeployedStateMachine(logical_id=logical_id, name=resource.physical_id.split(":")[-1],
                                             arn=resource.physical_id)
            for logical_id, resource in resources.items()
            if resource.type == "AWS::StepFunctions::StateMachine" and resource.physical_id
        },
        buckets={logical_id: resource.physical_id for logical_id, resource in resources.items()
                 if resource.type == "AWS::S3::Bucket" and resource.physical_id},
        event_source_mappings={logical_id: resource.physical_id for logical_id, resource in resources.items()
                               if resource.type == "AWS::Lambda::EventSourceMapping" and resource.physical_id},
        skipped=local.skipped,
        skipped_outputs=local.skipped_outputs,
        not_emulated=local.not_emulated,
    )


def _queue(aws: LocalAws, resource: DeployedResource) -> DeployedQueue:
    assert resource.physical_id is not None
    name = resource.physical_id.rstrip("/").rsplit("/", 1)[-1]
    url = aws.sqs.get_queue_url(QueueName=name)["QueueUrl"]
    arn = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return DeployedQueue(logical_id=resource.logical_id, name=name, url=url, arn=arn)


def _table(aws: LocalAws, resource: DeployedResource) -> DeployedTable:
    assert resource.physical_id is not None
    table = aws.dynamodb.describe_table(TableName=resource.physical_id)["Table"]
    return DeployedTable(logical_id=resource.logical_id, name=resource.physical_id, arn=table["TableArn"],
                         stream_arn=table.get("LatestStreamArn"))


def _function(
    aws: LocalAws, resource: DeployedResource, local: LocalTemplate, local_urls: dict[str | None, str],
    resolved: dict[int, str],
) -> DeployedFunction:
    assert resource.physical_id is not None
    configuration = aws.lambda_client.get_function_configuration(FunctionName=resource.physical_id)
    try:
        reserved = aws.lambda_client.get_function_concurrency(FunctionName=resource.physical_id).get(
            "ReservedConcurrentExecutions")
    except ClientError:
        reserved = None
    if reserved is None:
        reserved = _declared_reserved_concurrency(local, resource.logical_id)
    source = local.functions.get(resource.logical_id)
    environment = configuration.get("Environment", {}).get("Variables", {})
    return DeployedFunction(
        logical_id=resource.logical_id,
        name=configuration["FunctionName"],
        arn=configuration["FunctionArn"],
        handler=configuration.get("Handler", ""),
        runtime=configuration.get("Runtime"),
        code_dir=source.code_dir if source else None,
        layer_dirs=tuple(_layer_python_dir(local.layers[layer]) for layer in (source.layer_ids if source else ())),
        timeout_s=configuration.get("Timeout", 3),
        memory_mb=configuration.get("MemorySize", 128),
        ephemeral_storage_mb=configuration.get("EphemeralStorage", {}).get("Size", 512),
        # Lambda holds every variable as a string; moto keeps a Ref to a Number parameter as a number.
        environment={name: local_urls.get(str(value), str(value)) for name, value in environment.items()},
        reserved_concurrency=int(reserved) if reserved is not None else None,
        log_format=str(_declared_logging(local, resource.logical_id, "LogFormat") or "Text"),
        application_log_level=_declared_logging(local, resource.logical_id, "ApplicationLogLevel"),
        dead_letter_target_arn=_dead_letter_target(local, resource.logical_id, resolved),
    )


def _declared_logging(local: LocalTemplate, logical_id: str, key: str) -> str | None:
    """A LoggingConfig setting (LogFormat, ApplicationLogLevel) as the template declares it: moto drops them."""
    declared = local.template["Resources"].get(logical_id, {}).get("Properties", {}).get("LoggingConfig", {})
    value = _declared_literal(local, declared.get(key)) if isinstance(declared, dict) else None
    return None if value is None else str(value)


def _dead_letter_target(local: LocalTemplate, logical_id: str, resolved: dict[int, str]) -> str | None:
    target = local.dead_letter_targets.get(logical_id)
    if target is None:
        return None
    return str(resolve_markers(target, resolved))


def _declared_reserved_concurrency(local: LocalTemplate, logical_id: str) -> int | None:
    """ReservedConcurrentExecutions: 0 as the template declares it (literal or parameter).

    moto 5.2.5 keeps the setting only when it is truthy, so a function reserved to 0 (every invoke
    throttled, how AWS switches a function off) would otherwise run unlimited here.
    """
    properties = local.template["Resources"].get(logical_id, {}).get("Properties", {})
    value = _declared_literal(local, properties.get("ReservedConcurrentExecutions"))
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _declared_literal(local: LocalTemplate, value: Any) -> Any:
    """A template value that is a literal or a Ref to a parameter, as deployed; None for other intrinsics."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        parameter = local.template.get("Parameters", {}).get(value["Ref"], {})
        return local.parameters.get(value["Ref"], parameter.get("Default"))
    return None if isinstance(value, dict | list) else value


def _layer_python_dir(layer_dir: Path) -> Path:
    """What Lambda puts on sys.path from a layer: its python/ folder (built layout) or the source root."""
    built = layer_dir / "python"
    return built if built.is_dir() else layer_dir
