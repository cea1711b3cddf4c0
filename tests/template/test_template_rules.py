"""The AWS rules of ../shared/AWS_SEMANTICS.md that the template must honour, read off template.yaml."""

from __future__ import annotations

import ast
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support import template as tpl
from tests.support.sam_cli import sam_executable

ROOT = tpl.ROOT
FUNCTION_TYPE = "AWS::Serverless::Function"


def functions() -> dict[str, dict[str, Any]]:
    return tpl.resources_of_type(FUNCTION_TYPE)


def function_timeout(logical_id: str) -> int:
    timeout = functions()[logical_id]["Properties"].get("Timeout", tpl.template()["Globals"]["Function"]["Timeout"])
    assert isinstance(timeout, int), f"{logical_id}: an SQS-triggered function needs a literal Timeout"
    return timeout


def ref_target(value: Any) -> str:
    """The logical id behind !GetAtt X.Arn or !Ref X."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else target.split(".")[0])
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    raise AssertionError(f"expected a reference to a resource, got {value!r}")


def events_of_type(event_type: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, event["Properties"])
        for name, function in functions().items()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == event_type
    ]


def test_sam_validate_lint_is_clean() -> None:
    result = subprocess.run(
        [sam_executable(), "validate", "--lint", "--template", str(tpl.TEMPLATE_PATH)],
        capture_output=True, text=True, check=False, env={**__import__("os").environ, "SAM_CLI_TELEMETRY": "0"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_functions_deploy_on_python_3_13_with_the_shared_layer() -> None:
    globals_ = tpl.template()["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.13"
    assert {"Ref": "CommonLayer"} in globals_["Layers"]
    layer = tpl.resource("CommonLayer")
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    for name, function in functions().items():
        assert function["Properties"].get("Runtime", "python3.13") == "python3.13", name


@pytest.mark.parametrize("function_and_event", events_of_type("SQS"), ids=lambda fe: fe[0])
def test_sqs_sources_give_the_queue_six_times_the_timeout_and_report_batch_item_failures(
    function_and_event: tuple[str, dict[str, Any]],
) -> None:
    function, event = function_and_event
    queue = tpl.properties(ref_target(event["Queue"]))
    window = event.get("MaximumBatchingWindowInSeconds", 0)
    assert queue["VisibilityTimeout"] >= 6 * function_timeout(function) + window
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    concurrency = event["ScalingConfig"]["MaximumConcurrency"]
    if isinstance(concurrency, dict):
        concurrency = tpl.template()["Parameters"][concurrency["Ref"]]["MinValue"]
    assert 2 <= concurrency <= 1000
    if event.get("BatchSize", 10) > 10:
        assert window >= 1, "BatchSize > 10 needs MaximumBatchingWindowInSeconds >= 1"


@pytest.mark.parametrize("function_and_event", events_of_type("SQS"), ids=lambda fe: fe[0])
def test_sqs_sources_redrive_to_a_14_day_dlq_after_at_least_five_receives(
    function_and_event: tuple[str, dict[str, Any]],
) -> None:
    _, event = function_and_event
    queue = tpl.properties(ref_target(event["Queue"]))
    redrive = queue["RedrivePolicy"]
    assert redrive["maxReceiveCount"] >= 5
    dlq = tpl.properties(ref_target(redrive["deadLetterTargetArn"]))
    assert dlq["MessageRetentionPeriod"] == 1_209_600


def test_the_work_dlq_has_an_alarm_on_visible_messages() -> None:
    alarms = tpl.resources_of_type("AWS::CloudWatch::Alarm").values()
    watched = [
        ref_target(dim["Value"]) for alarm in alarms for dim in alarm["Properties"].get("Dimensions", [])
        if alarm["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    ]
    assert "WorkDeadLetterQueue" in watched


def test_every_dynamodb_stream_source_bounds_retries_and_record_age_and_keeps_failures() -> None:
    stream_events = events_of_type("DynamoDB")
    assert stream_events, "the stream consumer is wired to ItemsTable's stream"
    for function, event in stream_events:
        assert 0 <= event["MaximumRetryAttempts"] <= 10_000, function
        assert 60 <= event["MaximumRecordAgeInSeconds"] <= 604_800, function
        assert event["BisectBatchOnFunctionError"] is True, function
        assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"], function
        assert event["StartingPosition"] in ("TRIM_HORIZON", "LATEST"), function
        destination = tpl.properties(ref_target(event["DestinationConfig"]["OnFailure"]["Destination"]))
        assert destination["MessageRetentionPeriod"] == 1_209_600


def test_every_queue_is_encrypted_at_rest() -> None:
    for name, queue in tpl.resources_of_type("AWS::SQS::Queue").items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, name


def test_every_table_is_encrypted_at_rest() -> None:
    for name, table in tpl.resources_of_type("AWS::DynamoDB::Table").items():
        assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True, name


def _statements(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            found.append(node)
        for value in node.values():
            found.extend(_statements(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_statements(value))
    return found


# Actions that AWS does not scope by resource, so "Resource": "*" is the only form they take
# (Step Functions log delivery, X-Ray tracing).
UNSCOPABLE_ACTIONS = {
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
    "xray:GetSamplingRules", "xray:GetSamplingTargets",
}


def _allow_statements() -> list[dict[str, Any]]:
    # Deny statements (e.g. a bucket policy refusing plain HTTP for s3:*) only narrow access.
    return [s for s in _statements(tpl.template()["Resources"]) if s["Effect"] == "Allow"]


def test_no_policy_statement_allows_a_wildcard_action() -> None:
    statements = _allow_statements()
    assert statements, "the functions carry inline least-privilege statements"
    for statement in statements:
        assert "NotAction" not in statement
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            assert isinstance(action, str) and "*" not in action, statement


def test_inline_statements_name_the_resources_they_touch() -> None:
    for statement in _allow_statements():
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if "*" in resources:
            assert set(actions) <= UNSCOPABLE_ACTIONS, statement


def test_no_function_carries_a_secret_in_its_environment() -> None:
    secret_like = re.compile(r"(SECRET|PASSWORD|TOKEN|PRIVATE_KEY|ACCESS_KEY)", re.IGNORECASE)
    scopes = [tpl.template()["Globals"]["Function"]] + [f["Properties"] for f in functions().values()]
    for scope in scopes:
        for name in scope.get("Environment", {}).get("Variables", {}):
            assert not secret_like.search(name), name


def _code_folder(function: dict[str, Any]) -> Path:
    return ROOT / function["Properties"]["CodeUri"]


def test_every_function_has_a_handler_module_with_lambda_handler() -> None:
    for name, function in functions().items():
        handler = function["Properties"].get("Handler", tpl.template()["Globals"]["Function"]["Handler"])
        module, attribute = handler.rsplit(".", 1)
        source = (_code_folder(function) / f"{module}.py").read_text()
        defined = {node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}
        assert attribute in defined, name


def test_function_modules_other_than_app_have_unique_names() -> None:
    # All function folders share one test interpreter and pythonpath; a repeated name would shadow.
    names = Counter(
        path.stem for function in functions().values() for path in _code_folder(function).glob("*.py")
        if path.stem != "app"
    )
    assert [name for name, count in names.items() if count > 1] == []


def test_fault_injection_variables_are_set_only_under_a_condition_that_excludes_prod() -> None:
    variables = tpl.template()["Globals"]["Function"]["Environment"]["Variables"]
    fault_variables = {name: value for name, value in variables.items() if name.startswith("FAULT_")}
    assert "FAULT_INJECTION_ENABLED" in fault_variables
    for value in fault_variables.values():
        condition = value["Fn::If"][0]
        assert value["Fn::If"][2] == {"Ref": "AWS::NoValue"}
        assert {"Fn::Not": [{"Condition": "IsProd"}]} in tpl.template()["Conditions"][condition]["Fn::And"]
    for function in functions().values():
        own = function["Properties"].get("Environment", {}).get("Variables", {})
        assert not [name for name in own if name.startswith("FAULT_")], "set only in Globals, conditionally"


# --- What a stack delete or a replacing update keeps ---------------------------------------------------------
STATEFUL_TYPES = ("AWS::SQS::Queue", "AWS::DynamoDB::Table", "AWS::Logs::LogGroup")
# Stateful resources that go with the stack in every stage, and why (none today: only the log groups,
# checked by type below, go in prod too).
EPHEMERAL: dict[str, str] = {}
DELETION_POLICIES = {"Delete", "Retain", "RetainExceptOnCreate", "Snapshot"}
UPDATE_REPLACE_POLICIES = {"Delete", "Retain", "Snapshot"}
KEPT = {"Retain", "RetainExceptOnCreate"}


def policy_in_stage(value: Any, stage: str) -> str:
    """A DeletionPolicy or UpdateReplacePolicy as CloudFormation resolves it for Stage=stage."""
    if isinstance(value, str):
        return value
    condition, if_true, if_false = value["Fn::If"]
    assert tpl.template()["Conditions"][condition] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}, condition
    return policy_in_stage(if_true if stage == "prod" else if_false, stage)


def stateful_resources() -> dict[str, dict[str, Any]]:
    return {name: res for kind in STATEFUL_TYPES for name, res in tpl.resources_of_type(kind).items()}


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_every_stateful_resource_says_what_a_delete_and_a_replacement_do_with_valid_policies(stage: str) -> None:
    for name, resource in stateful_resources().items():
        assert "DeletionPolicy" in resource and "UpdateReplacePolicy" in resource, name
        assert policy_in_stage(resource["DeletionPolicy"], stage) in DELETION_POLICIES, name
        assert policy_in_stage(resource["UpdateReplacePolicy"], stage) in UPDATE_REPLACE_POLICIES, name


def test_prod_keeps_every_queue_and_table_that_holds_data_users_cannot_recreate() -> None:
    holders = {name: res for kind in ("AWS::SQS::Queue", "AWS::DynamoDB::Table")
               for name, res in tpl.resources_of_type(kind).items() if name not in EPHEMERAL}
    # The dead letters and the stream's failure records above all
    assert {"WorkDeadLetterQueue", "StreamFailureQueue", "WorkQueue", "ItemsTable", "AggregatesTable"} <= set(holders)
    for name, resource in holders.items():
        assert policy_in_stage(resource["DeletionPolicy"], "prod") in KEPT, name
        assert policy_in_stage(resource["UpdateReplacePolicy"], "prod") == "Retain", name


def test_what_is_deleted_in_every_stage_is_only_what_holds_nothing_lasting() -> None:
    for name, resource in stateful_resources().items():
        deleted = {policy_in_stage(resource["DeletionPolicy"], stage) for stage in ("dev", "prod")} == {"Delete"}
        expected = name in EPHEMERAL or resource["Type"] == "AWS::Logs::LogGroup"
        assert deleted == expected, name


# --- Where the logs go -------------------------------------------------------------------------------------
LOG_RETENTION_DAYS = {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653}
APPLICATION_LEVELS = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
SYSTEM_LEVELS = {"DEBUG", "INFO", "WARN"}
# How Powertools reads Lambda's level (AWS_LAMBDA_LOG_LEVEL) as a Python level name.
PYTHON_LEVEL_OF = {"TRACE": "NOTSET", "DEBUG": "DEBUG", "INFO": "INFO", "WARN": "WARNING", "ERROR": "ERROR",
                   "FATAL": "CRITICAL"}


def test_functions_log_json_filtered_by_the_log_level_parameter() -> None:
    logging_config = tpl.template()["Globals"]["Function"]["LoggingConfig"]
    assert logging_config["LogFormat"] == "JSON"
    assert logging_config["ApplicationLogLevel"] == {"Fn::FindInMap": ["LogLevels", {"Ref": "LogLevel"}, "Application"]}
    assert logging_config["SystemLogLevel"] == {"Fn::FindInMap": ["LogLevels", {"Ref": "LogLevel"}, "System"]}
    assert tpl.template()["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == {
        "Ref": "LogLevel"}


def test_every_log_level_maps_to_lambda_levels_that_agree_with_powertools() -> None:
    levels = tpl.template()["Mappings"]["LogLevels"]
    assert sorted(levels) == sorted(tpl.template()["Parameters"]["LogLevel"]["AllowedValues"])
    for log_level, lambda_levels in levels.items():
        application, system = lambda_levels["Application"], lambda_levels["System"]
        assert application in APPLICATION_LEVELS and system in SYSTEM_LEVELS, log_level
        # The same level for Powertools and Lambda's filter: no line Powertools writes is dropped unseen
        assert PYTHON_LEVEL_OF[application] == log_level, log_level
        # System logs: the same level where Lambda has it, else WARN, their least detailed
        assert system == (application if application in SYSTEM_LEVELS else "WARN"), log_level


def test_every_function_logs_to_its_own_log_group_kept_for_the_retention_parameter() -> None:
    retention = tpl.template()["Parameters"]["LogRetentionInDays"]
    assert set(retention["AllowedValues"]) <= LOG_RETENTION_DAYS and retention["Default"] in retention["AllowedValues"]
    groups = [ref_target(function["Properties"]["LoggingConfig"]["LogGroup"]) for function in functions().values()]
    assert len(set(groups)) == len(functions()), "one log group per function"
    state_machine_group = tpl.resource("FanOutStateMachineLogGroup")
    for group in [*(tpl.resource(name) for name in groups), state_machine_group]:
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}


# --- Who can run the big functions, and how many at once ------------------------------------------------
def test_the_cpu_benchmark_reserves_a_small_concurrency_from_a_parameter() -> None:
    reserved = tpl.properties("CpuBenchmarkFunction")["ReservedConcurrentExecutions"]
    parameter = tpl.template()["Parameters"][reserved["Ref"]]
    assert parameter["Type"] == "Number"
    # 0 would throttle every invoke; a handful is all a benchmark needs
    assert 1 <= parameter["MinValue"] <= parameter["Default"] <= parameter["MaxValue"] <= 10


# --- Linters ---------------------------------------------------------------------------------------------
def test_every_skipped_checkov_check_says_why() -> None:
    for name, resource in tpl.template()["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]), (name, skip)
            assert len(skip.get("comment", "")) >= 60, f"{name} skips {skip['id']} without saying why"


def test_every_cfn_lint_rule_ignored_for_a_resource_has_its_reason_beside_it() -> None:
    lines = tpl.TEMPLATE_PATH.read_text().splitlines()
    ignored = [index for index, line in enumerate(lines) if line.strip().startswith("ignore_checks:")]
    assert ignored, "the dead-letter queues and the functions' log groups need one (see template.yaml)"
    for index in ignored:
        assert lines[index - 1].strip().startswith("#"), f"template.yaml:{index + 1} ignores a rule without a reason"
