"""What a deploy to the local cloud produced: each resource by its template logical id.

Invokers, pollers, the CLI and tests find everything here by the names template.yaml uses
(`stack.queues["WorkQueue"].url`, `stack.functions["SqsWorkerFunction"].environment`), never by the
generated physical names. Saved as JSON in the state directory so later CLI calls need no redeploy.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeployedFunction(_Model):
    logical_id: str
    name: str  # the physical FunctionName (AWS_LAMBDA_FUNCTION_NAME)
    arn: str
    handler: str
    runtime: str | None = None
    code_dir: Path | None  # None: inline or image code, which only moto would hold
    layer_dirs: tuple[Path, ...] = ()
    timeout_s: int = Field(ge=1, le=900)
    memory_mb: int = Field(ge=128, le=10_240)
    # EphemeralStorage.Size: the size of the function's /tmp (localcloud.runtime.sandbox).
    ephemeral_storage_mb: int = Field(default=512, ge=512, le=10_240)
    # As the template resolves them in the local stack (physical names, local queue URLs).
    environment: dict[str, str] = Field(default_factory=dict)
    reserved_concurrency: int | None = None
    # LoggingConfig (moto does not keep it): Lambda tells the runtime through AWS_LAMBDA_LOG_FORMAT/LEVEL.
    log_format: str = "Text"
    application_log_level: str | None = None
    # DeadLetterConfig.TargetArn (an SQS queue or SNS topic): where failed asynchronous invokes go.
    dead_letter_target_arn: str | None = None


class DeployedQueue(_Model):
    logical_id: str
    name: str
    url: str  # the URL on the local endpoint (what clients here use)
    arn: str


class DeployedTable(_Model):
    logical_id: str
    name: str
    arn: str
    stream_arn: str | None = None


class DeployedStateMachine(_Model):
    logical_id: str
    name: str
    arn: str


class DeployedResource(_Model):
    logical_id: str
    type: str
    physical_id: str | None = None
    # How it came to exist: moto's CloudFormation, or the deploy step through the resource's own API.
    created_by: str = "cloudformation"


class DeployedStack(_Model):
    stack_name: str
    stack_id: str
    status: str
    region: str
    account_id: str
    endpoint_url: str
    resources: dict[str, DeployedResource]
    outputs: dict[str, str] = Field(default_factory=dict)
    functions: dict[str, DeployedFunction] = Field(default_factory=dict)
    queues: dict[str, DeployedQueue] = Field(default_factory=dict)
    tables: dict[str, DeployedTable] = Field(default_factory=dict)
    state_machines: dict[str, DeployedStateMachine] = Field(default_factory=dict)
    buckets: dict[str, str] = Field(default_factory=dict)
    event_source_mappings: dict[str, str] = Field(default_factory=dict)  # logical id -> UUID
    skipped: dict[str, str] = Field(default_factory=dict)  # logical id -> type neither moto nor we create
    skipped_outputs: dict[str, list[str]] = Field(default_factory=dict)  # output -> the skipped ids it names
    # Deployed, but not emulated (localcloud.deploy.translation.NOT_EMULATED_SETTINGS): setting -> logical ids.
    not_emulated: dict[str, list[str]] = Field(default_factory=dict)

    def function_logical_id(self, name_or_arn: str) -> str | None:
        """The logical id of a function known by physical name, ARN (qualified or not) or logical id."""
        if name_or_arn in self.functions:
            return name_or_arn
        name = name_or_arn.split(":")[6] if name_or_arn.startswith("arn:") else name_or_arn
        for function in self.functions.values():
            if function.name == name:
                return function.logical_id
        return None

    def queue_by_arn(self, arn: str) -> DeployedQueue | None:
        return next((queue for queue in self.queues.values() if queue.arn == arn), None)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(self.model_dump_json(indent=2))
        temporary.replace(path)  # readers never see half a file

    @classmethod
    def load(cls, path: Path) -> DeployedStack:
        return cls.model_validate_json(path.read_text())
