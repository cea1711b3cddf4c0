"""template.yaml -> the CloudFormation template the local cloud deploys to moto, and what it must remember.

The SAM template is translated by aws-sam-translator, as `sam deploy` has CloudFormation do it. A few
things of the result cannot go to moto as they are; each is adapted here, and only here:

- Code locations. CodeUri/ContentUri/DefinitionUri are local folders and files (`sam package` would
  upload them). moto only needs SOME code to register a function, so every one points at a tiny
  placeholder zip in S3; the real folders are remembered: the invokers run the functions from them.
  Functions also reach moto without their Layers (a moto 5.2.5 bug, see _drop_function_layers); the
  layers' folders are remembered the same way.
- Resource types moto's CloudFormation does not implement (AWS::CloudWatch::Alarm,
  AWS::S3::BucketPolicy and AWS::Lambda::EventInvokeConfig in moto 5.2.5): left out of the stack and
  applied by the deploy step through their own APIs (PutMetricAlarm, PutBucketPolicy,
  PutFunctionEventInvokeConfig) once the stack exists. Types neither moto nor the deploy step handles
  are listed as skipped, and so are API Gateway's (NOT_EMULATED_TYPE_PREFIXES) even where moto could
  create them. What exists only for a skipped resource is skipped with it: a Lambda permission
  granting it an invoke, an Output naming it.
- A function's DeadLetterConfig: moto's CloudFormation drops it (its create_from_cloudformation_json
  keeps a fixed list of properties), so its TargetArn is resolved like the other deferred values and
  carried on the deployed function, where asynchronous invocation reads it.
- Settings the local cloud does not emulate (event source mapping and asynchronous invocation
  settings, localcloud.event_sources.template_settings) fail the translation, by name, before anything
  is created.
- State machine definitions. moto ignores DefinitionSubstitutions, and an ASL file with `${...}`
  placeholders is not even JSON before substitution, so the stack gets a one-state placeholder
  definition and the deploy step sets the real one (UpdateStateMachine) with the placeholders filled.
- Values those steps need (a queue's name, a function's ARN) are intrinsics. They are resolved by
  moto itself: each becomes an Output of the stack, and the deferred JSON holds a marker in its place.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

from localcloud.event_sources.errors import MappingConfigurationError
from localcloud.event_sources.template_settings import refuse_unemulated_settings
from localcloud.stepfunctions.definition_checks import unemulated_fields

ARTIFACT_BUCKET = "localcloud-artifacts"
ARTIFACT_KEY = "placeholder-code.zip"
DEFINITION_ARTIFACT_KEY = "placeholder-definition.json"
RESOLVER_OUTPUT_PREFIX = "LocalCloudResolved"
MARKER_PREFIX = "{{localcloud:resolve:"
MARKER_SUFFIX = "}}"
# Applied through their own API after the stack is created (see localcloud.deploy.stack).
API_APPLIED_TYPES = frozenset({"AWS::CloudWatch::Alarm", "AWS::S3::BucketPolicy", "AWS::Lambda::EventInvokeConfig"})
# In an api_applied resource: its Condition's value, "true" or "false" once resolved (see localcloud.deploy.stack).
CONDITION_VALUE_KEY = "LocalCloudConditionValue"
PLACEHOLDER_DEFINITION = json.dumps(
    {"Comment": "placeholder: the local cloud's deploy step sets the real definition",
     "StartAt": "Placeholder", "States": {"Placeholder": {"Type": "Pass", "End": True}}}
)
# Not emulated although moto's CloudFormation creates some of them: nothing here serves an API's HTTP
# endpoint, so an API in moto would only pretend to exist (and moto refuses the deployment of an
# OpenAPI body whose methods are service integrations). Skipped, by name.
NOT_EMULATED_TYPE_PREFIXES = ("AWS::ApiGateway::", "AWS::ApiGatewayV2::")
# Kept resources that only give a skipped resource something (an invoke permission): skipped with it.
SKIPPED_WITH_THEIR_TARGET = frozenset({"AWS::Lambda::Permission"})
# Settings the local cloud deploys but does not emulate, by resource type: listed by name at deploy
# (DeployedStack.not_emulated, the `up` summary) with the resources that have them.
NOT_EMULATED_SETTINGS: dict[str, tuple[tuple[str, tuple[str, str], Any], ...]] = {
    "AWS::Lambda::Function": (
        # No X-Ray daemon runs here: no trace is recorded (the sandbox sets POWERTOOLS_TRACE_DISABLED).
        ("TracingConfig.Mode: Active", ("TracingConfig", "Mode"), "Active"),
        # The functions get AWS_LAMBDA_LOG_FORMAT/AWS_LAMBDA_LOG_LEVEL as in Lambda, so loggers that read
        # them (Powertools) follow them, and so does the runtime's root logger (worker_main); the
        # platform records (START, END, REPORT) stay plain text.
        ("LoggingConfig.LogFormat: JSON", ("LoggingConfig", "LogFormat"), "JSON"),
    ),
    "AWS::StepFunctions::StateMachine": (
        ("TracingConfiguration.Enabled: true", ("TracingConfiguration", "Enabled"), True),
    ),
}
INTRINSIC_KEYS = frozenset({
    "Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::If", "Fn::Select", "Fn::Split", "Fn::ImportValue",
    "Fn::FindInMap", "Fn::Base64", "Fn::GetAZs",
})


class TemplateError(ValueError):
    """The template cannot be deployed to the local cloud."""


@dataclass(frozen=True)
class FunctionSource:
    """Where a function's code lives on this machine and which of the template's layers it uses."""

    code_dir: Path | None  # None: InlineCode or an image, which the subprocess invoker cannot run
    layer_ids: tuple[str, ...] = ()
    external_layers: tuple[str, ...] = ()  # layer ARNs that are not the template's own


@dataclass(frozen=True)
class DeferredStateMachine:
    definition: str  # the ASL text with its ${...} placeholders
    substitutions: dict[str, Any]  # placeholder -> value or resolver marker


@dataclass
class LocalTemplate:
    """The translated template for moto plus everything the deploy step applies afterwards."""

    template: dict[str, Any]
    parameters: dict[str, str]
    functions: dict[str, FunctionSource] = field(default_factory=dict)
    layers: dict[str, Path] = field(default_factory=dict)
    state_machines: dict[str, DeferredStateMachine] = field(default_factory=dict)
    api_applied: dict[str, dict[str, Any]] = field(default_factory=dict)  # logical id -> resource
    skipped: dict[str, str] = field(default_factory=dict)  # logical id -> type
    skipped_outputs: dict[str, list[str]] = field(default_factory=dict)  # output -> the skipped ids it names
    not_emulated: dict[str, list[str]] = field(default_factory=dict)  # setting -> logical ids that have it
    # Function logical id -> its DeadLetterConfig.TargetArn (a resolver marker until deployed).
    dead_letter_targets: dict[str, Any] = field(default_factory=dict)


def _no_extra_policies() -> dict[str, str]:
    """aws-sam-translator asks for managed policy ARNs by name beyond its bundled map: there are none."""
    return {}


def load_sam_template(path: Path) -> dict[str, Any]:
    parsed: dict[str, Any] = yaml_parse(path.read_text())
    return parsed


def translate_template(
    template_path: Path,
    *,
    parameters: dict[str, str],
    stack_name: str,
    region: str,
    account_id: str,
    supported_types: frozenset[str],
) -> LocalTemplate:
    """Translate a SAM template and adapt it for moto (see the module docstring)."""
    sam_template = load_sam_template(template_path)
    base_dir = template_path.parent
    local = LocalTemplate(template={}, parameters=dict(parameters))
    _replace_code_locations(sam_template, base_dir, local)
    pseudo = {"AWS::Region": region, "AWS::AccountId": account_id, "AWS::Partition": "aws",
              "AWS::StackName": stack_name, "AWS::URLSuffix": "amazonaws.com"}
    try:
        # A Translator with its own session: the region must not depend on this process's environment.
        translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
        translated = translator.translate(
            sam_template, parameter_values={**pseudo, **parameters}, get_managed_policy_map=_no_extra_policies,
        )
    except Exception as error:  # samtranslator raises its own InvalidDocumentException family
        raise TemplateError(f"aws-sam-translator refused {template_path}: {error}") from error
    try:
        refuse_unemulated_settings(translated)
    except MappingConfigurationError as error:
        raise TemplateError(f"{template_path}: {error}") from error
    _refuse_unemulated_definitions(local)
    _drop_function_layers(translated)
    resolver = _Resolver()
    _defer_dead_letter_targets(translated, local, resolver)
    _defer_state_machine_definitions(translated, local, resolver)
    _defer_unsupported_resources(translated, local, resolver, supported_types)
    local.not_emulated = settings_not_emulated(translated["Resources"])
    outputs = translated.setdefault("Outputs", {})
    outputs.update(resolver.outputs())
    local.template = translated
    return local


def _replace_code_locations(sam_template: dict[str, Any], base_dir: Path, local: LocalTemplate) -> None:
    globals_function = sam_template.get("Globals", {}).get("Function", {})
    resources: dict[str, Any] = sam_template.get("Resources", {})
    placeholder = f"s3://{ARTIFACT_BUCKET}/{ARTIFACT_KEY}"
    for logical_id, resource in resources.items():
        properties = resource.setdefault("Properties", {})
        kind = resource.get("Type")
        if kind == "AWS::Serverless::LayerVersion":
            local.layers[logical_id] = _local_dir(properties.get("ContentUri"), base_dir, logical_id)
            properties["ContentUri"] = placeholder
    for logical_id, resource in resources.items():
        properties = resource["Properties"]
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Function":
            code_uri = properties.get("CodeUri", globals_function.get("CodeUri"))
            code_dir = None
            if "InlineCode" not in properties and properties.get("PackageType", "Zip") == "Zip":
                code_dir = _local_dir(code_uri, base_dir, logical_id)
                properties["CodeUri"] = placeholder
            layers = properties.get("Layers", globals_function.get("Layers", []))
            refs = [layer.get("Ref") if isinstance(layer, dict) else None for layer in layers]
            own = tuple(ref for ref in refs if ref in local.layers)
            external = tuple(str(layer) for layer, ref in zip(layers, refs, strict=True) if ref not in local.layers)
            local.functions[logical_id] = FunctionSource(code_dir=code_dir, layer_ids=own, external_layers=external)
        elif kind == "AWS::Serverless::StateMachine":
            local.state_machines[logical_id] = DeferredStateMachine(
                definition=_definition_text(properties, base_dir, logical_id),
                substitutions=dict(properties.get("DefinitionSubstitutions", {})),
            )
            properties.pop("Definition", None)
            properties["DefinitionUri"] = f"s3://{ARTIFACT_BUCKET}/{DEFINITION_ARTIFACT_KEY}"


def _drop_function_layers(translated: dict[str, Any]) -> None:
    """Functions reach moto without Layers; the invokers take each function's layers from the template.

    moto 5.2.5 gives an AWS::Lambda::LayerVersion no physical id, so `Layers: [!Ref CommonLayer]`
    resolves to nothing on CreateStack and crashes UpdateStack (it passes the LayerVersion object where
    an ARN belongs).
    """
    for resource in translated["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            resource.get("Properties", {}).pop("Layers", None)


def _refuse_unemulated_definitions(local: LocalTemplate) -> None:
    """ASL fields the local cloud does not run as AWS does, refused before anything is created.

    The definitions still hold their ${...} placeholders; each is read as a 0 for this check (a
    definition that is not JSON that way is checked again once substituted, by the deploy step).
    """
    for logical_id, deferred in local.state_machines.items():
        try:
            document = json.loads(re.sub(r"\$\{[^}]+\}", "0", deferred.definition))
        except json.JSONDecodeError:
            continue
        if refused := unemulated_fields(document):
            raise TemplateError(f"{logical_id}: the local cloud does not emulate " + "; ".join(refused))


def _defer_dead_letter_targets(translated: dict[str, Any], local: LocalTemplate, resolver: _Resolver) -> None:
    for logical_id, resource in translated["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        target = (resource.get("Properties", {}).get("DeadLetterConfig") or {}).get("TargetArn")
        if target:
            local.dead_letter_targets[logical_id] = resolver.defer(copy.deepcopy(target))


def _local_dir(uri: Any, base_dir: Path, logical_id: str) -> Path:
    if not isinstance(uri, str) or uri.startswith("s3://"):
        raise TemplateError(f"{logical_id}: the local cloud runs code from a local folder, not {uri!r}")
    folder = (base_dir / uri).resolve()
    if not folder.is_dir():
        raise TemplateError(f"{logical_id}: code folder {folder} does not exist")
    return folder


def _definition_text(properties: dict[str, Any], base_dir: Path, logical_id: str) -> str:
    if "Definition" in properties:
        return json.dumps(properties["Definition"])
    uri = properties.get("DefinitionUri")
    if not isinstance(uri, str) or uri.startswith("s3://"):
        raise TemplateError(f"{logical_id}: the local cloud reads a state machine definition from a local file")
    path = (base_dir / uri).resolve()
    if not path.is_file():
        raise TemplateError(f"{logical_id}: definition file {path} does not exist")
    return path.read_text()


class _Resolver:
    """Collects intrinsics to be resolved by moto as stack Outputs, leaving markers in their place."""

    def __init__(self) -> None:
        self._values: list[Any] = []

    def defer(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1 and next(iter(value)) in INTRINSIC_KEYS:
                self._values.append(value)
                return f"{MARKER_PREFIX}{len(self._values) - 1}{MARKER_SUFFIX}"
            return {key: self.defer(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.defer(item) for item in value]
        return value

    def outputs(self) -> dict[str, Any]:
        return {f"{RESOLVER_OUTPUT_PREFIX}{index}": {"Value": value} for index, value in enumerate(self._values)}


def _defer_state_machine_definitions(translated: dict[str, Any], local: LocalTemplate, resolver: _Resolver) -> None:
    for logical_id, deferred in list(local.state_machines.items()):
        properties = translated["Resources"][logical_id]["Properties"]
        for key in ("DefinitionS3Location", "DefinitionString", "Definition", "DefinitionSubstitutions"):
            properties.pop(key, None)
        properties["DefinitionString"] = PLACEHOLDER_DEFINITION
        local.state_machines[logical_id] = DeferredStateMachine(
            definition=deferred.definition, substitutions=resolver.defer(deferred.substitutions)
        )


def _defer_unsupported_resources(
    translated: dict[str, Any], local: LocalTemplate, resolver: _Resolver, supported_types: frozenset[str]
) -> None:
    resources: dict[str, Any] = translated["Resources"]
    for logical_id, resource in list(resources.items()):
        kind = resource["Type"]
        if not kind.startswith(NOT_EMULATED_TYPE_PREFIXES) and (kind in supported_types or kind.startswith("Custom::")):
            continue
        del resources[logical_id]
        if kind in API_APPLIED_TYPES:
            deferred = resolver.defer(copy.deepcopy(resource))
            if "Condition" in resource:
                # moto evaluates the template's Conditions (with the deployed parameter values) for the
                # stack; the deploy step applies the resource only when its condition resolves "true".
                deferred[CONDITION_VALUE_KEY] = resolver.defer({"Fn::If": [resource["Condition"], "true", "false"]})
            local.api_applied[logical_id] = deferred
        else:
            local.skipped[logical_id] = kind
    _skip_what_serves_only_skipped(translated, local)
    _check_no_dangling_references(resources, set(local.api_applied) | set(local.skipped))


def _skip_what_serves_only_skipped(translated: dict[str, Any], local: LocalTemplate) -> None:
    """Skip the permissions granted to skipped resources and the Outputs naming them.

    A `Type: Api` event gives its function an AWS::Lambda::Permission whose SourceArn names the API;
    an Output such as `!Sub https://${ServerlessRestApi}.execute-api...` names it too. Neither could
    be created without it, and neither does anything here without it.
    """
    resources: dict[str, Any] = translated["Resources"]
    for logical_id, resource in list(resources.items()):
        if resource["Type"] in SKIPPED_WITH_THEIR_TARGET and referenced_ids(resource.get("Properties", {})) & set(
                local.skipped):
            del resources[logical_id]
            local.skipped[logical_id] = resource["Type"]
    outputs: dict[str, Any] = translated.get("Outputs", {})
    for name, output in list(outputs.items()):
        named = referenced_ids(output.get("Value")) & set(local.skipped)
        if named:
            del outputs[name]
            local.skipped_outputs[name] = sorted(named)


def settings_not_emulated(resources: dict[str, Any]) -> dict[str, list[str]]:
    """The NOT_EMULATED_SETTINGS that resources have: setting -> their logical ids."""
    found: dict[str, list[str]] = {}
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        for setting, (group, key), value in NOT_EMULATED_SETTINGS.get(resource["Type"], ()):
            declared = properties.get(group)
            if isinstance(declared, dict) and declared.get(key) == value:
                found.setdefault(setting, []).append(logical_id)
    return found


def _check_no_dangling_references(resources: dict[str, Any], removed: set[str]) -> None:
    """A kept resource that refers to a removed one could not be created: say so plainly.

    DependsOn on a removed resource is dropped instead: the order it asked for cannot matter to a
    resource that is not in the stack.
    """
    for logical_id, resource in resources.items():
        depends_on = resource.get("DependsOn")
        if depends_on is not None:
            kept = [name for name in ([depends_on] if isinstance(depends_on, str) else depends_on)
                    if name not in removed]
            if kept:
                resource["DependsOn"] = kept
            else:
                del resource["DependsOn"]
        dangling = referenced_ids(resource.get("Properties", {})) & removed
        if dangling:
            raise TemplateError(
                f"{logical_id} refers to {', '.join(sorted(dangling))}, which moto's CloudFormation does not create "
                f"(the local cloud skips it, or applies it through its own API after the stack)"
            )


def referenced_ids(value: Any) -> set[str]:
    """Logical ids (and parameters) a JSON value refers to through Ref, Fn::GetAtt and Fn::Sub."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= referenced_ids(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                found.add(item[0] if isinstance(item, list) else str(item).split(".")[0])
            elif key == "Fn::Sub":
                text = item[0] if isinstance(item, list) else item
                found |= {name.split(".")[0] for name in re.findall(r"\$\{([^!}][^}]*)\}", str(text))}
                if isinstance(item, list):
                    found |= referenced_ids(item[1])
            else:
                found |= referenced_ids(item)
    return found


def resolve_markers(value: Any, resolved: dict[int, str]) -> Any:
    """Put the resolved values (by marker index) back where the markers stand."""
    if isinstance(value, str) and value.startswith(MARKER_PREFIX) and value.endswith(MARKER_SUFFIX):
        return resolved[int(value[len(MARKER_PREFIX):-len(MARKER_SUFFIX)])]
    if isinstance(value, dict):
        return {key: resolve_markers(item, resolved) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_markers(item, resolved) for item in value]
    return value


def resolved_outputs(outputs: dict[str, str]) -> dict[int, str]:
    """The resolver's Outputs of a deployed stack, by marker index."""
    return {int(key[len(RESOLVER_OUTPUT_PREFIX):]): value for key, value in outputs.items()
            if key.startswith(RESOLVER_OUTPUT_PREFIX)}


def substitute_definition(definition: str, substitutions: dict[str, Any]) -> str:
    """Fill ${name} placeholders the way Step Functions' DefinitionSubstitutions do (plain text)."""
    for name, value in substitutions.items():
        text = value if isinstance(value, str) else json.dumps(value)
        definition = definition.replace("${" + name + "}", text)
    return definition
