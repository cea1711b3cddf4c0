"""template.yaml -> the plain CloudFormation that `sam deploy` hands CloudFormation, for linters.

    python -m tools.translate_template [--template template.yaml] [--out .aws-sam/lint/template.json]

checkov reads CloudFormation, not SAM: it would check a few SAM resources and miss every resource the
SAM transform generates (roles, event source mappings, permissions). aws-sam-translator is the library
the transform runs on; translating here lets checkov see what the stack really holds.

aws-sam-translator accepts only S3 locations for code and definitions (`sam package` uploads the
folders first), so each CodeUri, ContentUri and DefinitionUri becomes a placeholder S3 object: the
location of the code is not what is being checked. Parameters keep their defaults and conditions stay
as Fn::If, so both stages' branches are in the output.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / ".aws-sam" / "lint" / "template.json"
PLACEHOLDER = "s3://lint-placeholder-bucket/placeholder.zip"
# Resolved by CloudFormation at deploy time; any well-formed values will do for checking.
PSEUDO_PARAMETERS = {
    "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws",
    "AWS::StackName": "lambda-suite-lint", "AWS::URLSuffix": "amazonaws.com",
}
LOCATION_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}


def translate(sam_template: dict[str, Any]) -> dict[str, Any]:
    for resource in sam_template.get("Resources", {}).values():
        location = LOCATION_PROPERTIES.get(resource.get("Type", ""))
        properties = resource.get("Properties", {})
        if location is not None and location in properties:
            properties[location] = PLACEHOLDER
    # Its own session: the translation must not depend on this shell's AWS settings.
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name="us-east-1"))
    translated: dict[str, Any] = translator.translate(
        sam_template, parameter_values=dict(PSEUDO_PARAMETERS), get_managed_policy_map=dict,
    )
    return translated


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    translated = translate(yaml_parse(args.template.read_text()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(translated, indent=1, sort_keys=True) + "\n")
    print(f"{args.template} -> {args.out} ({len(translated['Resources'])} resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
