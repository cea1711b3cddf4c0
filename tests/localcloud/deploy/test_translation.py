"""template.yaml -> what moto gets: local code folders remembered, unsupported resources deferred."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from localcloud.config import ACCOUNT_ID, PROJECT_ROOT
from localcloud.deploy.stack import moto_cloudformation_types
from localcloud.deploy.translation import (
    MARKER_PREFIX,
    PLACEHOLDER_DEFINITION,
    TemplateError,
    referenced_ids,
    resolve_markers,
    resolved_outputs,
    substitute_definition,
    translate_template,
)
from tests.support.template import TEMPLATE_PATH, resources_of_type

pytestmark = pytest.mark.localcloud


def translate(path: Path = TEMPLATE_PATH) -> Any:
    return translate_template(path, parameters={"Stage": "dev"}, stack_name="lambda-suite-dev", region="us-east-1",
                              account_id=ACCOUNT_ID, supported_types=moto_cloudformation_types())


def test_every_function_runs_from_its_code_folder_with_the_templates_layer() -> None:
    # Given template.yaml's functions
    functions = resources_of_type("AWS::Serverless::Function")

    # When it is translated for the local cloud
    local = translate()

    # Then each function's CodeUri folder and the shared layer are remembered, and moto gets a placeholder
    assert set(local.functions) == set(functions)
    for logical_id, resource in functions.items():
        assert local.functions[logical_id].code_dir == (PROJECT_ROOT / resource["Properties"]["CodeUri"]).resolve()
        assert local.functions[logical_id].layer_ids == ("CommonLayer",)
        code = local.template["Resources"][logical_id]["Properties"]["Code"]
        assert code["S3Bucket"] == "localcloud-artifacts"
    assert local.layers == {"CommonLayer": PROJECT_ROOT / "layers" / "common"}


def test_resources_moto_cannot_create_are_applied_through_their_api_instead() -> None:
    # Given template.yaml's alarms (moto 5.2.5's CloudFormation has no AWS::CloudWatch::Alarm)
    alarms = resources_of_type("AWS::CloudWatch::Alarm")
    assert alarms, "template.yaml has alarms; this test checks they are deferred"

    # When it is translated
    local = translate()

    # Then they are out of moto's template and deferred, with their intrinsics replaced by markers
    for logical_id in alarms:
        assert logical_id not in local.template["Resources"]
        dimension = local.api_applied[logical_id]["Properties"]["Dimensions"][0]["Value"]
        assert dimension.startswith(MARKER_PREFIX)
    assert not local.skipped


def test_state_machines_get_a_placeholder_and_their_definition_is_filled_after_deploy() -> None:
    # Given the test template's state machine (an ASL file with ${...} DefinitionSubstitutions)
    template = Path(__file__).parents[1] / "templates" / "probe_template.yaml"

    # When it is translated
    local = translate(template)

    # Then moto gets a one-state placeholder, and the substitutions wait for the stack's outputs
    properties = local.template["Resources"]["ProbeStateMachine"]["Properties"]
    assert properties["DefinitionString"] == PLACEHOLDER_DEFINITION
    assert "DefinitionSubstitutions" not in properties
    deferred = local.state_machines["ProbeStateMachine"]
    assert "${SleeperFunctionArn}" in deferred.definition
    assert deferred.substitutions["MapConcurrency"] == 2
    marker = deferred.substitutions["SleeperFunctionArn"]
    index = int(marker[len(MARKER_PREFIX):-2])
    assert local.template["Outputs"][f"LocalCloudResolved{index}"]["Value"] == {
        "Fn::GetAtt": ["SleeperFunction", "Arn"]}


def test_substitution_fills_only_the_named_placeholders() -> None:
    # Given a definition with placeholders next to JSONPath and context references
    definition = '{"F": "${Fn}", "N": ${Count}, "P.$": "$$.Execution.Name", "Q.$": "$.x", "O": "${Other}"}'

    # When the substitutions are applied
    filled = substitute_definition(definition, {"Fn": "arn:aws:lambda:us-east-1:1:function:f", "Count": 3})

    # Then exactly those change (a number stays a number; $$ and $. are untouched)
    assert json.loads(filled) == {"F": "arn:aws:lambda:us-east-1:1:function:f", "N": 3, "P.$": "$$.Execution.Name",
                                  "Q.$": "$.x", "O": "${Other}"}


def test_markers_are_resolved_from_the_stacks_outputs() -> None:
    # Given deferred JSON with markers, and the resolver outputs of a deployed stack
    deferred = {"Bucket": f"{MARKER_PREFIX}0}}}}", "Resource": [f"{MARKER_PREFIX}1}}}}", "literal"]}
    outputs = {"LocalCloudResolved0": "bucket-name", "LocalCloudResolved1": "arn:aws:s3:::bucket-name",
               "WorkQueueUrl": "not a resolver output"}

    # When they are resolved
    resolved = resolve_markers(deferred, resolved_outputs(outputs))

    # Then every marker holds its value
    assert resolved == {"Bucket": "bucket-name", "Resource": ["arn:aws:s3:::bucket-name", "literal"]}


def test_references_are_found_in_every_intrinsic_form() -> None:
    # Given a value referring to resources through Ref, both GetAtt forms and Sub
    value = {"A": {"Ref": "Queue"}, "B": {"Fn::GetAtt": ["Table", "Arn"]}, "C": {"Fn::GetAtt": "Bucket.Arn"},
             "D": {"Fn::Sub": "${Topic.Arn}/x/${AWS::Region}/${!Literal}"},
             "E": {"Fn::Sub": ["${Name}", {"Name": {"Ref": "Function"}}]}}

    # When its references are collected, Then each is found (and ${!Literal} is not one)
    assert referenced_ids(value) == {"Queue", "Table", "Bucket", "Topic", "AWS::Region", "Name", "Function"}


def test_a_resource_that_refers_to_an_uncreatable_one_is_refused(tmp_path: Path) -> None:
    # Given a template whose queue names a resource type neither moto nor the deploy step creates
    template = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Odd": {"Type": "AWS::Pipes::Pipe", "Properties": {"Source": "a", "Target": "b", "RoleArn": "r"}},
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"Tags": [{"Key": "k", "Value": {"Ref": "Odd"}}]}},
        },
    }
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))

    # When it is translated, Then the refusal names both
    with pytest.raises(TemplateError, match="Queue refers to Odd"):
        translate(path)
