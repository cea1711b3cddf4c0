"""statemachines/fanout.asl.json read as template.yaml wires it (DefinitionSubstitutions applied)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.template import properties, template

ASL_PATH = Path(__file__).resolve().parents[3] / "statemachines" / "fanout.asl.json"
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
LAMBDA_TRANSIENT_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
# What each template expression becomes here: an ARN per function, each parameter's default.
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:{}"


BUCKET_NAME = "fanout-bucket"


def substitution_values() -> dict[str, str]:
    values = {}
    for name, expression in properties("FanOutStateMachine")["DefinitionSubstitutions"].items():
        if "Fn::GetAtt" in expression:
            values[name] = FUNCTION_ARN.format(expression["Fn::GetAtt"][0])
        elif expression["Ref"] == "FanOutBucket":
            values[name] = BUCKET_NAME
        else:
            values[name] = str(template()["Parameters"][expression["Ref"]]["Default"])
    return values


def definition() -> dict[str, Any]:
    values = substitution_values()
    parsed: dict[str, Any] = json.loads(PLACEHOLDER.sub(lambda m: values[m.group(1)], ASL_PATH.read_text()))
    return parsed


def all_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(name, state, the States block it lives in), nested ItemProcessors included."""
    for name, state in states.items():
        yield name, state, states
        if "ItemProcessor" in state:
            yield from all_states(state["ItemProcessor"]["States"])


STATES = definition()["States"]


def state(name: str) -> dict[str, Any]:
    return next(s for n, s, _ in all_states(STATES) if n == name)


def test_every_placeholder_has_a_definition_substitution_and_none_is_unused() -> None:
    placeholders = set(PLACEHOLDER.findall(ASL_PATH.read_text()))

    assert placeholders == set(properties("FanOutStateMachine")["DefinitionSubstitutions"])


def test_the_file_is_json_as_stored_with_every_placeholder_inside_a_string() -> None:
    # Given the file as the repository holds it (editors, graph views and validators read it so)
    stored = json.loads(ASL_PATH.read_text())

    # Then each placeholder sits in a string value, and the numbers come from MapSettings at run time
    def strings(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for value in node.values():
                yield from strings(value)
        elif isinstance(node, list):
            for value in node:
                yield from strings(value)
        elif isinstance(node, str):
            yield node

    in_strings = {name for text in strings(stored) for name in PLACEHOLDER.findall(text)}
    assert in_strings == set(properties("FanOutStateMachine")["DefinitionSubstitutions"])


def test_map_settings_turn_the_substituted_numbers_back_into_numbers() -> None:
    # Given the deployed definition (substitutions applied): the Pass state between SplitJob and the Choice
    settings = state("MapSettings")
    assert state("SplitJob")["Next"] == "MapSettings"
    assert settings["Type"] == "Pass"
    assert settings["Next"] == "ChooseMapMode"
    assert settings["ResultPath"] == "$.map_settings"

    # Then it parses each template value as JSON (States.StringToJson), so the Map fields get numbers
    parameters = template()["Parameters"]
    assert settings["Parameters"] == {
        "max_concurrency.$": f"States.StringToJson('{parameters['FanOutMaxConcurrency']['Default']}')",
        "tolerated_failure_percentage.$":
            f"States.StringToJson('{parameters['FanOutToleratedFailurePercentage']['Default']}')",
    }


def test_every_state_name_is_unique_and_every_next_exists_in_its_scope() -> None:
    names = [name for name, _, _ in all_states(STATES)]
    assert len(names) == len(set(names))
    for _, body, scope in all_states(STATES):
        targets = [body.get("Next"), body.get("Default")]
        targets += [c["Next"] for c in body.get("Choices", []) + body.get("Catch", [])]
        assert all(target in scope for target in targets if target)
        assert body["Type"] in {"Fail", "Choice"} or body.get("End") is True or "Next" in body


def test_every_lambda_task_retries_the_four_transient_lambda_errors_with_full_jitter() -> None:
    tasks = [(name, body) for name, body, _ in all_states(STATES) if body["Type"] == "Task"]
    assert {name for name, _ in tasks} == {"SplitJob", "CountPrimes", "CountPrimesInChild", "Aggregate"}
    for name, body in tasks:
        assert body["Resource"] == "arn:aws:states:::lambda:invoke", name
        (retrier,) = [r for r in body["Retry"] if set(r["ErrorEquals"]) == LAMBDA_TRANSIENT_ERRORS]
        assert retrier["JitterStrategy"] == "FULL"
        assert retrier["IntervalSeconds"] >= 1
        assert retrier["BackoffRate"] >= 1
        assert retrier["MaxAttempts"] >= 3
        assert retrier["MaxDelaySeconds"] >= retrier["IntervalSeconds"]


def test_tasks_invoke_the_templates_functions() -> None:
    assert state("SplitJob")["Parameters"]["FunctionName"] == FUNCTION_ARN.format("FanOutSplitFunction")
    assert state("CountPrimes")["Parameters"]["FunctionName"] == FUNCTION_ARN.format("FanOutWorkerFunction")
    assert state("CountPrimesInChild")["Parameters"]["FunctionName"] == FUNCTION_ARN.format("FanOutWorkerFunction")
    assert state("Aggregate")["Parameters"]["FunctionName"] == FUNCTION_ARN.format("FanOutAggregateFunction")


def test_a_job_the_split_refuses_fails_the_execution_with_invalid_job_error_before_any_map() -> None:
    assert definition()["StartAt"] == "SplitJob"
    (catcher,) = state("SplitJob")["Catch"]
    assert catcher["ErrorEquals"] == ["InvalidJobError"]
    rejected = state(catcher["Next"])
    assert rejected["Type"] == "Fail"
    assert (rejected["ErrorPath"], rejected["CausePath"]) == ("$.Error", "$.Cause")
    assert state("SplitJob")["Next"] == "MapSettings"


def test_the_choice_sends_distributed_jobs_to_the_distributed_map_and_the_rest_inline() -> None:
    choice = state("ChooseMapMode")
    assert choice["Choices"] == [{"Variable": "$.mode", "StringEquals": "DISTRIBUTED", "Next": "FanOutDistributed"}]
    assert choice["Default"] == "FanOutInline"
    assert state("FanOutInline")["Next"] == state("FanOutDistributed")["Next"] == "Aggregate"


def test_the_inline_map_takes_its_concurrency_from_the_template_and_catches_each_items_failure() -> None:
    inline = state("FanOutInline")
    assert inline["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    assert inline["MaxConcurrencyPath"] == "$.map_settings.max_concurrency"
    assert "MaxConcurrency" not in inline
    assert inline["ItemsPath"] == "$.items"
    assert inline["ItemSelector"] == {"job_id.$": "$.job.job_id", "item.$": "$$.Map.Item.Value"}
    assert inline["ResultPath"] == "$.results"
    # A failure is caught with the iteration input kept (ResultPath adds the error beside it) ...
    (catcher,) = state("CountPrimes")["Catch"]
    assert catcher["ErrorEquals"] == ["States.ALL"]
    assert catcher["ResultPath"] == "$.error"
    # ... and ends the iteration as a FAILED result naming the item, so the Map carries on
    recorder = state(catcher["Next"])
    assert recorder["Type"] == "Pass"
    assert recorder["End"] is True
    assert recorder["Parameters"] == {"status": "FAILED", "item.$": "$.item", "error.$": "$.error"}


def test_the_distributed_map_reads_items_from_s3_and_writes_results_there_within_a_failure_tolerance() -> None:
    distributed = state("FanOutDistributed")
    assert distributed["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert distributed["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert distributed["ItemReader"]["ReaderConfig"] == {"InputType": "JSON"}
    assert distributed["ItemReader"]["Parameters"] == {
        "Bucket.$": "$.items_location.bucket",
        "Key.$": "$.items_location.key",
    }
    assert distributed["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"
    # A fixed bucket and prefix (Step Functions adds the map run id), matching the role's S3 scope
    assert distributed["ResultWriter"]["Parameters"] == {"Bucket": BUCKET_NAME, "Prefix": "results"}
    assert distributed["ToleratedFailurePercentagePath"] == "$.map_settings.tolerated_failure_percentage"
    assert distributed["MaxConcurrencyPath"] == "$.map_settings.max_concurrency"
    assert "ToleratedFailurePercentage" not in distributed
    assert "MaxConcurrency" not in distributed
    # Children are not caught: a failed child counts against the tolerance and is in the FAILED file
    assert "Catch" not in state("CountPrimesInChild")


def test_the_aggregate_gets_the_job_and_whichever_results_the_map_produced() -> None:
    assert state("Aggregate")["Parameters"]["Payload"] == {
        "mode.$": "$.mode",
        "job.$": "$.job",
        "item_count.$": "$.item_count",
        "results.$": "$.results",
    }
    assert state("Aggregate")["End"] is True


@pytest.mark.parametrize("task", ["SplitJob", "CountPrimes", "CountPrimesInChild", "Aggregate"])
def test_each_task_passes_on_the_functions_own_result(task: str) -> None:
    assert state(task)["OutputPath"] == "$.Payload"
