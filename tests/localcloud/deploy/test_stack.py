"""Deploying template.yaml to the local cloud: the resources are the template's, with its settings."""

from __future__ import annotations

import json

import pytest

from localcloud.cloud import LocalCloud
from localcloud.config import PROJECT_ROOT
from localcloud.event_sources.settings import read_stack_mappings
from tests.support.requirements import require_resources
from tests.support.template import properties, resource, template

pytestmark = pytest.mark.localcloud


def test_the_stack_reaches_create_complete_with_every_resource_of_the_template(local_cloud: LocalCloud) -> None:
    # Given template.yaml deployed by the session's local cloud
    stack = local_cloud.stack

    # Then the stack is complete, and every resource the template names exists (SAM adds roles, mappings),
    # except the prod-only ones: the session's stack is Stage=dev, and a resource whose Condition is false
    # is not created (CloudFormation's rule; FanOutBucketPolicy would make S3 refuse every request here)
    assert stack.status == "CREATE_COMPLETE"
    prod_only = {name for name in template()["Resources"] if resource(name).get("Condition") == "IsProd"}
    assert set(template()["Resources"]) - prod_only <= set(stack.resources) | {
        # SAM names a layer version with a content hash suffix (CommonLayer<hash>).
        name for name in template()["Resources"] if resource(name)["Type"] == "AWS::Serverless::LayerVersion"}
    assert not prod_only & set(stack.resources), prod_only & set(stack.resources)
    assert not stack.skipped


def test_work_queue_has_the_templates_redrive_policy_and_timeouts(local_cloud: LocalCloud) -> None:
    # Given the template's WorkQueue settings
    expected = properties("WorkQueue")
    stack = local_cloud.stack

    # When the deployed queue is read back
    attributes = local_cloud.aws.sqs.get_queue_attributes(
        QueueUrl=stack.queues["WorkQueue"].url, AttributeNames=["All"])["Attributes"]

    # Then it has the template's visibility timeout, retention and redrive policy to WorkDeadLetterQueue
    assert int(attributes["VisibilityTimeout"]) == expected["VisibilityTimeout"]
    assert int(attributes["MessageRetentionPeriod"]) == expected["MessageRetentionPeriod"]
    policy = json.loads(attributes["RedrivePolicy"])
    assert policy["deadLetterTargetArn"] == stack.queues["WorkDeadLetterQueue"].arn
    assert int(policy["maxReceiveCount"]) == expected["RedrivePolicy"]["maxReceiveCount"]


def test_tables_have_the_templates_keys_and_streams(local_cloud: LocalCloud) -> None:
    for logical_id, table in local_cloud.stack.tables.items():
        # Given a table of the template
        expected = properties(logical_id)

        # When it is described
        description = local_cloud.aws.dynamodb.describe_table(TableName=table.name)["Table"]

        # Then its key schema and stream are the template's
        assert description["KeySchema"] == expected["KeySchema"], logical_id
        stream = expected.get("StreamSpecification")
        if stream is None:
            assert table.stream_arn is None, logical_id
        else:
            assert description["StreamSpecification"] == {"StreamEnabled": True, **stream}, logical_id
            assert table.stream_arn == description["LatestStreamArn"]


def test_event_source_mappings_keep_the_templates_settings(local_cloud: LocalCloud) -> None:
    # Given the template's two event sources
    sqs_event = properties("SqsWorkerFunction")["Events"]["WorkQueueEvent"]["Properties"]
    stream_event = properties("StreamConsumerFunction")["Events"]["ItemsStream"]["Properties"]
    stack = local_cloud.stack

    # When the pollers' settings are read from the deployed stack
    mappings = {m.function_name: m for m in read_stack_mappings(
        cloudformation=local_cloud.aws.cloudformation, lambda_client=local_cloud.aws.lambda_client,
        stack_name=stack.stack_name)}

    # Then the SQS mapping has the template's batching, partial batch responses and scaling
    work = mappings["SqsWorkerFunction"]
    assert work.event_source_arn == stack.queues["WorkQueue"].arn
    assert work.batch_size == sqs_event["BatchSize"]
    assert work.maximum_batching_window_seconds == sqs_event["MaximumBatchingWindowInSeconds"]
    assert work.function_response_types == tuple(sqs_event["FunctionResponseTypes"])
    assert work.maximum_concurrency == template()["Parameters"]["SqsWorkerMaxConcurrency"]["Default"]
    # And the stream mapping its retries, bisecting, record age, filter and OnFailure queue
    stream = mappings["StreamConsumerFunction"]
    assert stream.event_source_arn == stack.tables["ItemsTable"].stream_arn
    assert stream.starting_position == stream_event["StartingPosition"]
    assert stream.batch_size == stream_event["BatchSize"]
    assert stream.bisect_batch_on_function_error is stream_event["BisectBatchOnFunctionError"]
    assert stream.maximum_retry_attempts == stream_event["MaximumRetryAttempts"]
    assert stream.maximum_record_age_seconds == stream_event["MaximumRecordAgeInSeconds"]
    assert stream.on_failure_destination == stack.queues["StreamFailureQueue"].arn
    assert [json.loads(p) for p in stream.filter_patterns] == [
        json.loads(f["Pattern"]) for f in stream_event["FilterCriteria"]["Filters"]]


def test_functions_get_their_settings_with_names_resolved_to_the_local_resources(local_cloud: LocalCloud) -> None:
    # Given the deployed SqsWorkerFunction
    stack = local_cloud.stack
    function = stack.functions["SqsWorkerFunction"]

    # Then its settings are the template's (Globals included) and its variables name local resources
    assert function.code_dir == PROJECT_ROOT / "functions" / "sqs_worker"
    assert function.layer_dirs == (PROJECT_ROOT / "layers" / "common",)
    assert function.handler == template()["Globals"]["Function"]["Handler"]
    assert function.timeout_s == properties("SqsWorkerFunction")["Timeout"]
    assert function.memory_mb == template()["Globals"]["Function"]["MemorySize"]
    assert function.environment["ITEMS_TABLE_NAME"] == stack.tables["ItemsTable"].name
    # A queue URL that works on this endpoint, not the amazonaws.com one CloudFormation names it by
    assert function.environment["DEAD_LETTER_QUEUE_URL"] == stack.queues["WorkDeadLetterQueue"].url
    assert function.environment["STAGE"] == "dev"


def test_alarms_exist_with_their_dimensions_resolved(local_cloud: LocalCloud) -> None:
    # Given the template's DLQ alarm (created through PutMetricAlarm: moto's CloudFormation has no alarms)
    stack = local_cloud.stack

    # When the alarms are listed
    alarms = {a["AlarmName"]: a for a in local_cloud.aws.cloudwatch.describe_alarms()["MetricAlarms"]}

    # Then it watches the deployed DLQ by its physical name
    alarm = alarms["WorkDeadLetterQueueAlarm"]
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": stack.queues["WorkDeadLetterQueue"].name}]
    assert alarm["Threshold"] == properties("WorkDeadLetterQueueAlarm")["Threshold"]
    assert stack.resources["WorkDeadLetterQueueAlarm"].created_by == "api"


def test_the_state_machine_definition_has_its_substitutions_filled(local_cloud: LocalCloud) -> None:
    stack = local_cloud.stack
    require_resources("state machine", stack.state_machines, "FanOutStateMachine")
    # When the deployed definition is read back
    definition = local_cloud.aws.stepfunctions.describe_state_machine(
        stateMachineArn=stack.state_machines["FanOutStateMachine"].arn)["definition"]

    # Then no placeholder is left and the tasks name the deployed functions
    document = json.loads(definition)
    assert "${" not in json.dumps({k: v for k, v in document.items() if k != "Comment"})
    split = document["States"]["SplitJob"]["Parameters"]["FunctionName"]
    assert split == stack.functions["FanOutSplitFunction"].arn
