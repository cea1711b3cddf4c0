"""tools.translate_template: the CloudFormation checkov reads is the stack `sam deploy` would create."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import template as tpl
from tools.translate_template import main


def test_the_translation_has_every_resource_with_its_skips_and_policies(tmp_path: Path) -> None:
    # Given template.yaml translated as make lint does
    out = tmp_path / "template.json"
    assert main(["--out", str(out)]) == 0
    translated = json.loads(out.read_text())["Resources"]

    # Then every SAM function is a plain Lambda function, with the checkov skips it carries in the SAM template
    sam_functions = tpl.resources_of_type("AWS::Serverless::Function")
    for name, function in sam_functions.items():
        assert translated[name]["Type"] == "AWS::Lambda::Function"
        assert translated[name]["Metadata"]["checkov"] == function["Metadata"]["checkov"], name
    # ... the resources SAM generates for them are there to be checked too ...
    kinds = {resource["Type"] for resource in translated.values()}
    assert {"AWS::IAM::Role", "AWS::Lambda::EventSourceMapping", "AWS::StepFunctions::StateMachine"} <= kinds
    # ... and the plain resources keep their deletion policies as written
    for name, resource in tpl.template()["Resources"].items():
        if "DeletionPolicy" in resource:
            assert translated[name]["DeletionPolicy"] == resource["DeletionPolicy"], name
