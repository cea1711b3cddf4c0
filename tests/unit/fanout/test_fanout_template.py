"""The fan-out's resources in template.yaml: least privilege, and fault injection only in dev."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.template import properties, resource, template


def statements(logical_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in properties(logical_id).get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            found.extend(policy["Statement"])
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize(
    "logical_id",
    ["FanOutSplitFunction", "FanOutWorkerFunction", "FanOutAggregateFunction", "FanOutStateMachine"],
)
def test_no_fan_out_policy_allows_a_wildcard_action(logical_id: str) -> None:
    for statement in statements(logical_id):
        assert all("*" not in action for action in as_list(statement["Action"])), statement["Sid"]


def test_s3_access_is_scoped_to_the_fan_out_buckets_prefixes() -> None:
    def s3_resources(logical_id: str) -> list[str]:
        return [
            resource_expr["Fn::Sub"]
            for statement in statements(logical_id)
            if any(action.startswith("s3:") for action in as_list(statement["Action"]))
            for resource_expr in as_list(statement["Resource"])
        ]

    assert s3_resources("FanOutSplitFunction") == ["${FanOutBucket.Arn}/jobs/*"]
    assert s3_resources("FanOutAggregateFunction") == ["${FanOutBucket.Arn}/results/*"]
    assert sorted(s3_resources("FanOutStateMachine")) == [
        "${FanOutBucket.Arn}/jobs/*",
        "${FanOutBucket.Arn}/results/*",
    ]
    assert statements("FanOutWorkerFunction") == []


def test_the_state_machine_may_invoke_exactly_the_three_fan_out_functions() -> None:
    invoked = [
        policy["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for policy in properties("FanOutStateMachine")["Policies"]
        if isinstance(policy, dict) and "LambdaInvokePolicy" in policy
    ]
    assert sorted(invoked) == ["FanOutAggregateFunction", "FanOutSplitFunction", "FanOutWorkerFunction"]


def test_the_distributed_maps_execution_permissions_name_only_this_state_machine() -> None:
    name = properties("FanOutStateMachine")["Name"]["Fn::Sub"]
    states_statements = [s for s in statements("FanOutStateMachine") if as_list(s["Action"])[0].startswith("states:")]
    actions = sorted(action for s in states_statements for action in as_list(s["Action"]))
    assert actions == ["states:DescribeExecution", "states:StartExecution", "states:StopExecution"]
    for statement in states_statements:
        for arn in as_list(statement["Resource"]):
            assert f":{name}" in arn["Fn::Sub"]


def test_the_bucket_is_encrypted_private_and_expires_its_working_data() -> None:
    bucket = properties("FanOutBucket")
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] >= 1


def test_test_failures_can_only_be_switched_on_outside_prod() -> None:
    flag = properties("FanOutSplitFunction")["Environment"]["Variables"]["FANOUT_ALLOW_TEST_FAILURES"]
    assert flag == {"Fn::If": ["IsProd", "false", "true"]}


def test_split_and_aggregate_size_things_with_the_same_parameters_as_the_worker() -> None:
    worker = properties("FanOutWorkerFunction")
    split_env = properties("FanOutSplitFunction")["Environment"]["Variables"]
    aggregate_env = properties("FanOutAggregateFunction")["Environment"]["Variables"]
    assert worker["MemorySize"] == split_env["FANOUT_WORKER_MEMORY_MB"] == aggregate_env["FANOUT_WORKER_MEMORY_MB"]
    assert worker["Timeout"] == split_env["FANOUT_WORKER_TIMEOUT_S"]
    state_machine = properties("FanOutStateMachine")["DefinitionSubstitutions"]
    assert state_machine["FanOutMaxConcurrency"] == aggregate_env["FANOUT_MAX_CONCURRENCY"]


def test_the_state_machine_logs_errors_without_execution_data_and_is_traced() -> None:
    state_machine = properties("FanOutStateMachine")
    assert state_machine["Logging"]["Level"] == "ERROR"
    assert state_machine["Logging"]["IncludeExecutionData"] is False
    assert state_machine["Tracing"] == {"Enabled": True}
    # Kept as long as the functions' logs: the LogRetentionInDays parameter, never forever
    retention = resource("FanOutStateMachineLogGroup")["Properties"]["RetentionInDays"]
    assert retention == {"Ref": "LogRetentionInDays"}
    assert min(template()["Parameters"]["LogRetentionInDays"]["AllowedValues"]) > 0


def test_the_tolerated_failure_percentage_is_a_number_from_zero_to_one_hundred() -> None:
    # Substituted into a States.StringToJson('...') argument (statemachines/fanout.asl.json, MapSettings):
    # an integer (10) as well as a decimal (10.5) parses to the number ToleratedFailurePercentagePath reads
    parameter = template()["Parameters"]["FanOutToleratedFailurePercentage"]
    assert parameter["Type"] == "Number"
    assert (parameter["MinValue"], parameter["MaxValue"]) == (0, 100)
    assert 0 <= parameter["Default"] <= 100
