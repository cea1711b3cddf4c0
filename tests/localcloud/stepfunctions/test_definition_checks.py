"""Contract: a ResultWriter WriterConfig, which the local cloud does not emulate, is refused by name at deploy.

step-functions/latest/dg/input-output-resultwriter.html: WriterConfig (OutputType JSON | JSONL,
Transformation NONE | COMPACT | FLATTEN) changes what a distributed Map writes and returns; the local
cloud writes the results as AWS writes them without one, so a definition asking for another format is
refused instead of deployed with the default.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from localcloud.deploy.stack import moto_cloudformation_types
from localcloud.deploy.translation import TemplateError, translate_template
from localcloud.stepfunctions.definition_checks import unemulated_fields


def distributed_map(**result_writer: Any) -> dict[str, Any]:
    return {
        "Type": "Map", "ItemsPath": "$.items", "End": True,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
        "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                         "Parameters": {"Bucket": "b", "Prefix": "p"}, **result_writer},
    }


def test_a_result_writer_with_writer_config_fails_the_deploy_naming_it(tmp_path: Path) -> None:
    # Given a SAM state machine whose distributed Map asks for JSONL output
    definition = {"StartAt": "Fan", "States": {"Fan": distributed_map(
        WriterConfig={"OutputType": "JSONL", "Transformation": "COMPACT"})}}
    (tmp_path / "machine.asl.json").write_text(json.dumps(definition).replace('"b"', '"${Bucket}"'))
    template = {"Transform": "AWS::Serverless-2016-10-31", "Resources": {"Machine": {
        "Type": "AWS::Serverless::StateMachine",
        "Properties": {"DefinitionUri": "machine.asl.json", "DefinitionSubstitutions": {"Bucket": "results"},
                       "Policies": []}}}}
    (tmp_path / "template.json").write_text(json.dumps(template))

    # When it is deployed / Then the deploy fails with the state and the field in the message
    with pytest.raises(TemplateError, match=r"Machine: .*state 'Fan': ResultWriter\.WriterConfig: the output formats"):
        translate_template(tmp_path / "template.json", parameters={}, stack_name="s", region="us-east-1",
                           account_id="123456789012", supported_types=moto_cloudformation_types())


def test_writer_configs_are_found_in_nested_maps_and_parallel_branches() -> None:
    nested = {"Type": "Map", "ItemProcessor": {"StartAt": "Inner", "States": {
        "Inner": distributed_map(WriterConfig={"Transformation": "FLATTEN"})}}, "End": True}
    parallel = {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "Deep", "States": {"Deep": distributed_map(WriterConfig={"OutputType": "JSON"})}}]}
    problems = unemulated_fields({"StartAt": "Outer", "States": {"Outer": nested, "Both": parallel}})
    assert [problem.split(":")[0] for problem in problems] == ["state 'Inner'", "state 'Deep'"]
    # And a ResultWriter without one is fine
    assert unemulated_fields({"StartAt": "Fan", "States": {"Fan": distributed_map()}}) == []
