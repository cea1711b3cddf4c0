"""Event source mapping settings, with AWS's defaults and limits, read from a deployed stack.

The settings are checked the way Lambda checks them at CreateEventSourceMapping, so a template the
real service would refuse is refused here too instead of running with semantics AWS never has.

Source of the settings: moto's Lambda ListEventSourceMappings. After SAM translation the template's
AWS::Lambda::EventSourceMapping resources still hold intrinsics (`!GetAtt WorkQueue.Arn`,
`!Ref SqsWorkerMaxConcurrency`); moto's mappings hold them resolved (checked on moto 5.2.5: BatchSize,
window, FunctionResponseTypes, ScalingConfig, FilterCriteria, StartingPosition, Bisect, retries, record
age, ParallelizationFactor, DestinationConfig and TumblingWindowInSeconds are all kept). The stack's
resources give the logical ids: a mapping's physical id is its UUID, a function's is its name.

Every request parameter of CreateEventSourceMapping and of the function's asynchronous invocation
settings (PutFunctionEventInvokeConfig, and CreateFunction's DeadLetterConfig) is declared below as
EMULATED or REFUSED (with the reason): a refused one fails the deploy with a message that names it
(localcloud.event_sources.template_settings), never runs with semantics AWS does not have. The contract
test lists the parameters from botocore's service model, so a parameter AWS adds later fails the test
until it is declared here.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from localcloud.aws.arns import Arn, function_name_of
from localcloud.event_sources.errors import MappingConfigurationError
from localcloud.event_sources.filter_criteria import MAX_FILTERS, FilterCriteria

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_lambda import LambdaClient

REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
SQS_DEFAULT_BATCH_SIZE = 10
STREAM_DEFAULT_BATCH_SIZE = 100
FIFO_MAX_BATCH_SIZE = 10
SQS_BATCH_SIZE_WITHOUT_WINDOW = 10
MIN_RECORD_AGE_SECONDS = 60
MAX_RECORD_AGE_SECONDS = 604_800

# CreateEventSourceMapping's parameters that the pollers honour (sqs.py, dynamodb_streams.py).
# Tags are metadata with no effect on delivery; moto keeps them for ListTags, which is all they do.
EMULATED_MAPPING_SETTINGS: Final = frozenset({
    "EventSourceArn", "FunctionName", "Enabled", "BatchSize", "FilterCriteria", "ScalingConfig",
    "MaximumBatchingWindowInSeconds", "ParallelizationFactor", "StartingPosition", "DestinationConfig",
    "MaximumRecordAgeInSeconds", "BisectBatchOnFunctionError", "MaximumRetryAttempts", "FunctionResponseTypes",
    "Tags",
})
_KAFKA_MQ_DOCUMENTDB = "Kafka, Amazon MQ and DocumentDB event sources are not emulated (SQS and DynamoDB Streams are)"
# Parameters the local cloud does not emulate: a mapping that sets one is refused at deploy.
REFUSED_MAPPING_SETTINGS: Final[dict[str, str]] = {
    "KMSKeyArn": "encrypting the filter criteria with a KMS key is not emulated",
    "MetricsConfig": "event source mapping metrics (EventCount) are not emulated",
    "LoggingConfig": "event source mapping system logs are not emulated",
    "TumblingWindowInSeconds": "tumbling windows (state carried between invokes, isFinalInvokeForWindow) are "
                               "not emulated",
    "StartingPositionTimestamp": "AT_TIMESTAMP applies to Kinesis and Kafka sources, which are not emulated",
    "ProvisionedPollerConfig": "provisioned mode (dedicated event pollers) is not emulated",
    "Topics": _KAFKA_MQ_DOCUMENTDB,
    "Queues": _KAFKA_MQ_DOCUMENTDB,
    "SourceAccessConfigurations": _KAFKA_MQ_DOCUMENTDB,
    "SelfManagedEventSource": _KAFKA_MQ_DOCUMENTDB,
    "AmazonManagedKafkaEventSourceConfig": _KAFKA_MQ_DOCUMENTDB,
    "SelfManagedKafkaEventSourceConfig": _KAFKA_MQ_DOCUMENTDB,
    "DocumentDBEventSourceConfig": _KAFKA_MQ_DOCUMENTDB,
}
# Within DestinationConfig of a mapping: OnFailure to an SQS queue is emulated (destinations.py).
EMULATED_MAPPING_DESTINATIONS: Final = frozenset({"OnFailure"})
REFUSED_MAPPING_DESTINATIONS: Final[dict[str, str]] = {
    "OnSuccess": "OnSuccess destinations of event source mappings (Kafka sources) are not emulated",
}
MAPPING_ON_FAILURE_SERVICES: Final = frozenset({"sqs"})

# Asynchronous invocation (localcloud.event_sources.async_invoke): every PutFunctionEventInvokeConfig
# parameter and the function's DeadLetterConfig are emulated; some VALUES are refused (below).
EMULATED_ASYNC_SETTINGS: Final = frozenset({
    "FunctionName", "Qualifier", "MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig",
    "DeadLetterConfig",
})
REFUSED_ASYNC_SETTINGS: Final[dict[str, str]] = {}
EMULATED_ASYNC_QUALIFIERS: Final = frozenset({"$LATEST"})
QUALIFIER_REFUSAL: Final = "versions and aliases are not emulated: the local cloud runs $LATEST only"
# Destination services of asynchronous invocation records, and of the dead-letter queue (event only).
ASYNC_DESTINATION_SERVICES: Final = frozenset({"sqs", "sns", "lambda"})
REFUSED_ASYNC_DESTINATION_SERVICES: Final[dict[str, str]] = {
    "events": "EventBridge event bus destinations are not emulated",
    "s3": "S3 bucket destinations are not emulated",
}
DEAD_LETTER_SERVICES: Final = frozenset({"sqs", "sns"})


def is_set(name: str, value: Any) -> bool:
    """Whether a setting holds a value (an empty one, or TumblingWindowInSeconds 0, is the API's "none")."""
    if value is None or value in ([], {}, "", False):
        return False
    return not (name == "TumblingWindowInSeconds" and value == 0)


class SourceKind(StrEnum):
    SQS = "sqs"
    SQS_FIFO = "sqs-fifo"
    DYNAMODB_STREAM = "dynamodb-stream"


def source_kind_of(event_source_arn: str) -> SourceKind:
    arn = Arn.parse(event_source_arn)
    if arn.service == "sqs":
        return SourceKind.SQS_FIFO if arn.resource.endswith(".fifo") else SourceKind.SQS
    if arn.service == "dynamodb" and "/stream/" in arn.resource:
        return SourceKind.DYNAMODB_STREAM
    raise MappingConfigurationError(
        f"unsupported event source {event_source_arn!r}: the local cloud polls SQS queues and DynamoDB streams"
    )


class EventSourceMappingSettings(BaseModel):
    """One event source mapping. Field defaults are AWS's; limits are those of the Lambda API."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # What is invoked: the template's logical id when known (what the invokers take), else the name.
    function_name: str = Field(min_length=1)
    event_source_arn: str
    function_arn: str | None = None
    function_timeout_seconds: int | None = Field(default=None, ge=1, le=900)
    mapping_id: str | None = None
    mapping_logical_id: str | None = None
    enabled: bool = True

    # Left out, it is the source's default (SQS 10, streams 100): see _default_batch_size.
    batch_size: int = Field(default=SQS_DEFAULT_BATCH_SIZE, ge=1, le=10_000)
    maximum_batching_window_seconds: int = Field(default=0, ge=0, le=300)
    function_response_types: tuple[Literal["ReportBatchItemFailures"], ...] = ()
    filter_patterns: tuple[str, ...] = Field(default=(), max_length=MAX_FILTERS)

    # SQS only. None = no ScalingConfig: Lambda scales up to 1,000 concurrent batches.
    maximum_concurrency: int | None = Field(default=None, ge=2, le=1_000)

    # Streams only.
    starting_position: Literal["TRIM_HORIZON", "LATEST"] | None = None
    bisect_batch_on_function_error: bool = False
    maximum_retry_attempts: int = Field(default=-1, ge=-1, le=10_000)
    maximum_record_age_seconds: int = Field(default=-1, ge=-1, le=MAX_RECORD_AGE_SECONDS)
    parallelization_factor: int = Field(default=1, ge=1, le=10)
    on_failure_destination: str | None = None
    tumbling_window_seconds: int | None = Field(default=None, ge=0, le=900)

    @model_validator(mode="before")
    @classmethod
    def _default_batch_size(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("batch_size") is None and "event_source_arn" in data:
            stream = source_kind_of(data["event_source_arn"]) is SourceKind.DYNAMODB_STREAM
            return {**data, "batch_size": STREAM_DEFAULT_BATCH_SIZE if stream else SQS_DEFAULT_BATCH_SIZE}
        return data

    @model_validator(mode="after")
    def _lambda_accepts_it(self) -> EventSourceMappingSettings:
        kind = source_kind_of(self.event_source_arn)
        # Compiled here so that a pattern Lambda refuses fails the deploy, not the first poll.
        FilterCriteria(self.filter_patterns, sqs=kind is not SourceKind.DYNAMODB_STREAM)
        if kind is SourceKind.DYNAMODB_STREAM:
            self._check_stream_settings()
        else:
            self._check_queue_settings(kind)
        return self

    def _check_stream_settings(self) -> None:
        if self.tumbling_window_seconds:
            raise MappingConfigurationError(
                f"TumblingWindowInSeconds: {REFUSED_MAPPING_SETTINGS['TumblingWindowInSeconds']}")
        if self.starting_position is None:
            raise MappingConfigurationError("a DynamoDB stream mapping needs StartingPosition (TRIM_HORIZON or LATEST)")
        if self.maximum_concurrency is not None:
            raise MappingConfigurationError("ScalingConfig.MaximumConcurrency applies to SQS mappings only")
        if self.maximum_record_age_seconds != -1 and self.maximum_record_age_seconds < MIN_RECORD_AGE_SECONDS:
            raise MappingConfigurationError(
                f"MaximumRecordAgeInSeconds must be -1 or {MIN_RECORD_AGE_SECONDS}-{MAX_RECORD_AGE_SECONDS}, "
                f"not {self.maximum_record_age_seconds}"
            )

    def _check_queue_settings(self, kind: SourceKind) -> None:
        stream_only = {
            "StartingPosition": self.starting_position is not None,
            "BisectBatchOnFunctionError": self.bisect_batch_on_function_error,
            "MaximumRetryAttempts": self.maximum_retry_attempts != -1,
            "MaximumRecordAgeInSeconds": self.maximum_record_age_seconds != -1,
            "ParallelizationFactor": self.parallelization_factor != 1,
            "DestinationConfig": self.on_failure_destination is not None,
            "TumblingWindowInSeconds": self.tumbling_window_seconds is not None,
        }
        if given := [name for name, is_set in stream_only.items() if is_set]:
            raise MappingConfigurationError(f"{', '.join(given)} apply to stream mappings, not SQS")
        batch_size = self.batch_size
        if kind is SourceKind.SQS_FIFO:
            if batch_size > FIFO_MAX_BATCH_SIZE:
                raise MappingConfigurationError(
                    f"BatchSize {batch_size} exceeds the FIFO queue maximum of {FIFO_MAX_BATCH_SIZE}"
                )
            if self.maximum_batching_window_seconds:
                raise MappingConfigurationError("MaximumBatchingWindowInSeconds is not available on FIFO queues")
        elif batch_size > SQS_BATCH_SIZE_WITHOUT_WINDOW and self.maximum_batching_window_seconds < 1:
            raise MappingConfigurationError(
                f"BatchSize {batch_size} > {SQS_BATCH_SIZE_WITHOUT_WINDOW} needs MaximumBatchingWindowInSeconds >= 1"
            )

    @property
    def kind(self) -> SourceKind:
        return source_kind_of(self.event_source_arn)

    @property
    def reports_batch_item_failures(self) -> bool:
        return REPORT_BATCH_ITEM_FAILURES in self.function_response_types

    @property
    def region(self) -> str:
        return Arn.parse(self.event_source_arn).region

    @property
    def account_id(self) -> str:
        return Arn.parse(self.event_source_arn).account_id

    @property
    def source_name(self) -> str:
        """The queue name or `table/stream-label` part of the source, for logs and status lines."""
        resource = Arn.parse(self.event_source_arn).resource
        return resource.split("/")[1] if self.kind is SourceKind.DYNAMODB_STREAM else resource

    @property
    def display_name(self) -> str:
        return self.mapping_logical_id or f"{self.function_name}<-{self.source_name}"


def from_event_source_mapping(
    configuration: Mapping[str, Any],
    *,
    function_name: str | None = None,
    function_timeout_seconds: int | None = None,
    mapping_logical_id: str | None = None,
) -> EventSourceMappingSettings:
    """Settings from a Lambda API mapping (Get/ListEventSourceMappings) or resolved CFN Properties.

    ``function_name`` overrides the name taken from FunctionArn/FunctionName (pass the logical id).
    """
    function_ref = configuration.get("FunctionArn") or configuration.get("FunctionName")
    if not function_ref:
        raise MappingConfigurationError(f"mapping has no FunctionArn/FunctionName: {dict(configuration)!r}")
    where = mapping_logical_id or configuration.get("UUID") or configuration["EventSourceArn"]
    _refuse_unemulated(configuration, where)
    scaling = configuration.get("ScalingConfig") or {}
    filters = (configuration.get("FilterCriteria") or {}).get("Filters") or []
    on_failure = ((configuration.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    fields: dict[str, Any] = {
        "function_name": function_name or function_name_of(function_ref),
        "event_source_arn": configuration["EventSourceArn"],
        "function_arn": function_ref if function_ref.startswith("arn:") else None,
        "function_timeout_seconds": function_timeout_seconds,
        "mapping_id": configuration.get("UUID"),
        "mapping_logical_id": mapping_logical_id,
        "enabled": _is_enabled(configuration),
        "batch_size": configuration.get("BatchSize"),
        "maximum_batching_window_seconds": configuration.get("MaximumBatchingWindowInSeconds") or 0,
        "function_response_types": tuple(configuration.get("FunctionResponseTypes") or ()),
        "filter_patterns": tuple(entry["Pattern"] for entry in filters),
        "maximum_concurrency": scaling.get("MaximumConcurrency"),
        "starting_position": configuration.get("StartingPosition"),
        "bisect_batch_on_function_error": bool(configuration.get("BisectBatchOnFunctionError", False)),
        "maximum_retry_attempts": _int_or_default(configuration.get("MaximumRetryAttempts"), -1),
        "maximum_record_age_seconds": _int_or_default(configuration.get("MaximumRecordAgeInSeconds"), -1),
        "parallelization_factor": _int_or_default(configuration.get("ParallelizationFactor"), 1),
        "on_failure_destination": on_failure,
        "tumbling_window_seconds": configuration.get("TumblingWindowInSeconds"),
    }
    try:
        return EventSourceMappingSettings(**fields)
    except ValidationError as error:
        problems = "; ".join(issue["msg"] for issue in error.errors())
        raise MappingConfigurationError(f"event source mapping {where}: {problems}") from error


def _refuse_unemulated(configuration: Mapping[str, Any], where: str) -> None:
    """A mapping made through the API (not the template) is held to the same refusals as a deployed one."""
    refused = [f"{name}: {reason}" for name, reason in REFUSED_MAPPING_SETTINGS.items()
               if is_set(name, configuration.get(name))]
    destinations = configuration.get("DestinationConfig") or {}
    refused += [f"DestinationConfig.{name}: {reason}" for name, reason in REFUSED_MAPPING_DESTINATIONS.items()
                if is_set(name, destinations.get(name))]
    if refused:
        raise MappingConfigurationError(f"event source mapping {where}: {'; '.join(refused)}")


def _is_enabled(configuration: Mapping[str, Any]) -> bool:
    if "State" in configuration:  # Lambda API: Creating/Enabled/Disabled/Enabling/Disabling/Updating
        return configuration["State"] in {"Creating", "Enabled", "Enabling", "Updating"}
    return bool(configuration.get("Enabled", True))  # CloudFormation Properties


def _int_or_default(value: Any, default: int) -> int:
    return default if value is None else int(value)


def read_stack_mappings(
    *, cloudformation: CloudFormationClient, lambda_client: LambdaClient, stack_name: str
) -> list[EventSourceMappingSettings]:
    """Every event source mapping of a deployed stack, named by the template's logical ids.

    Each function's Timeout is read too, so the SQS poller can refuse a queue whose visibility
    timeout is shorter than the function's timeout, as Lambda does.
    """
    resources = cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
    function_logical_ids: dict[str, str] = {}
    mapping_logical_ids: dict[str, str] = {}
    for resource in resources:
        logical_id = resource.get("LogicalResourceId")
        physical_id = resource.get("PhysicalResourceId")
        if not logical_id or not physical_id:
            continue  # moto lists some resources (e.g. inline policies) without ids
        if resource["ResourceType"] == "AWS::Lambda::Function":
            function_logical_ids[physical_id] = logical_id
        elif resource["ResourceType"] == "AWS::Lambda::EventSourceMapping":
            mapping_logical_ids[physical_id] = logical_id

    settings = []
    for configuration in _all_event_source_mappings(lambda_client):
        mapping_logical_id = mapping_logical_ids.get(configuration["UUID"])
        if mapping_logical_id is None:
            continue  # another stack's mapping
        function_arn = configuration["FunctionArn"]
        physical_name = function_name_of(function_arn)
        timeout = lambda_client.get_function_configuration(FunctionName=function_arn).get("Timeout")
        settings.append(
            from_event_source_mapping(
                dict(configuration),
                function_name=function_logical_ids.get(physical_name, physical_name),
                function_timeout_seconds=timeout,
                mapping_logical_id=mapping_logical_id,
            )
        )
    return settings


def _all_event_source_mappings(lambda_client: LambdaClient) -> list[Mapping[str, Any]]:
    mappings: list[Mapping[str, Any]] = []
    marker: str | None = None
    while True:
        page = (lambda_client.list_event_source_mappings(Marker=marker) if marker
                else lambda_client.list_event_source_mappings())
        mappings.extend(page.get("EventSourceMappings", []))
        marker = page.get("NextMarker")
        if not marker:
            return mappings
