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


def write_template(tmp_path: Path, template: dict[str, Any]) -> Path:
    (tmp_path / "src").mkdir(exist_ok=True)
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    return path


def test_api_gateway_is_skipped_by_name_with_the_permissions_and_outputs_that_name_it(tmp_path: Path) -> None:
    # Given the SAM hello-world shape: a function with an Api event (SAM's implicit ServerlessRestApi, its
    # deployment, stage and an invoke permission) and an Output with the API's URL
    path = write_template(tmp_path, {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {"Hello": {"Type": "AWS::Serverless::Function", "Properties": {
            "CodeUri": "src", "Handler": "app.handler", "Runtime": "python3.12",
            "Events": {"Get": {"Type": "Api", "Properties": {"Path": "/hello", "Method": "get"}}}}}},
        "Outputs": {"HelloApi": {"Value": {"Fn::Sub": "https://${ServerlessRestApi}.execute-api.amazonaws.com/"}},
                    "HelloArn": {"Value": {"Fn::GetAtt": ["Hello", "Arn"]}}},
    })

    # When it is translated (moto's CloudFormation could create a RestApi: it is skipped all the same)
    local = translate(path)

    # Then every API Gateway resource and the permission are skipped by name, the Output naming the API
    # too, and the function and its other Output stay
    kinds = set(local.skipped.values())
    assert kinds == {"AWS::ApiGateway::RestApi", "AWS::ApiGateway::Deployment", "AWS::ApiGateway::Stage",
                     "AWS::Lambda::Permission"}
    assert "ServerlessRestApi" in local.skipped
    assert not set(local.skipped) & set(local.template["Resources"])
    assert local.skipped_outputs == {"HelloApi": ["ServerlessRestApi"]}
    assert "HelloArn" in local.template["Outputs"]
    assert local.template["Resources"]["Hello"]["Type"] == "AWS::Lambda::Function"


def test_settings_deployed_but_not_emulated_are_listed_by_name(tmp_path: Path) -> None:
    # Given functions with active tracing and the JSON log format (one from Globals), and a traced state machine
    (tmp_path / "machine.json").write_text(json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))
    path = write_template(tmp_path, {
        "Transform": "AWS::Serverless-2016-10-31",
        "Globals": {"Function": {"Tracing": "Active", "Runtime": "python3.12", "Handler": "app.handler",
                                 "CodeUri": "src"}},
        "Resources": {
            "Traced": {"Type": "AWS::Serverless::Function", "Properties": {}},
            "Structured": {"Type": "AWS::Serverless::Function", "Properties": {"LoggingConfig": {"LogFormat": "JSON"}}},
            "Machine": {"Type": "AWS::Serverless::StateMachine",
                        "Properties": {"DefinitionUri": "machine.json", "Tracing": {"Enabled": True}}},
        },
    })

    # When it is translated
    local = translate(path)

    # Then each setting names the resources that have it
    assert local.not_emulated == {"TracingConfig.Mode: Active": ["Traced", "Structured"],
                                  "LoggingConfig.LogFormat: JSON": ["Structured"],
                                  "TracingConfiguration.Enabled: true": ["Machine"]}
