"""What the Map produced for each item, read from either Map mode, as one list of ItemOutcome.

INLINE: the Map's output array ($.results). Each element is either the worker's result
    {"status": "SUCCEEDED", "item": {...}, "prime_count", "duration_ms", ...}
or what the Catch made of a failed item (the iteration input kept, the error added, then shaped by the
RecordItemFailure Pass state)
    {"status": "FAILED", "item": {...}, "error": {"Error": ..., "Cause": ...}}

DISTRIBUTED: the ResultWriter's output {"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}}, where
Key is the run's manifest.json. The manifest lists result files per status (SUCCEEDED, FAILED,
PENDING); each file is a JSON array of child executions with "Input" and "Output" as JSON strings and,
for failed ones, "Error" and "Cause". A child's Output is the worker's result; a failed child's Input
is the ItemSelector's output, which names the item.

Any index in 0..item_count-1 that no result names is reported as failed with error "NoResult": an
item is never silently dropped from the count, whatever a manifest lists (moto 5.2.5's own
ResultWriter, for one, lists no result files; the local cloud's moto writes them as AWS does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from lambda_toolkit.errors import PermanentError
from lambda_toolkit.validation import permanent_error

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Error messages are cut to this length in the report, which must stay under the 256 KB state limit.
MAX_MESSAGE_CHARS = 300


class AggregateInputError(PermanentError):
    """The Aggregate step was given something the state machine never produces."""


class JobSummary(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    job_id: Annotated[str, Field(min_length=1)]
    n: StrictInt
    k: StrictInt
    fail_items: list[int] = []


class ResultWriterDetails(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    Bucket: Annotated[str, Field(min_length=3)]
    Key: Annotated[str, Field(min_length=1)]


class ResultWriterOutput(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    MapRunArn: str | None = None
    ResultWriterDetails: ResultWriterDetails


class AggregateEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    mode: Literal["INLINE", "DISTRIBUTED"]
    job: JobSummary
    item_count: Annotated[StrictInt, Field(ge=1)]
    results: list[dict[str, Any]] | ResultWriterOutput


@dataclass(frozen=True)
class ItemOutcome:
    index: int
    succeeded: bool
    start: int | None = None
    stop: int | None = None
    prime_count: int | None = None
    duration_ms: float | None = None
    error: str | None = None
    message: str | None = None


def parse_aggregate_event(event: Any) -> AggregateEvent:
    if not isinstance(event, dict):
        raise AggregateInputError(
            "not_an_object", f"the Aggregate event is {type(event).__name__}, not an object"
        )
    try:
        parsed = AggregateEvent.model_validate(event)
    except ValidationError as error:
        raise permanent_error(error, "invalid_aggregate_input", root="event",
                              error_type=AggregateInputError) from error
    expects_list = parsed.mode == "INLINE"
    if expects_list != isinstance(parsed.results, list):
        raise AggregateInputError(
            "invalid_aggregate_input", f"mode {parsed.mode} does not match the shape of results"
        )
    return parsed


def outcome_from_result(result: Any, fallback_index: int | None = None) -> ItemOutcome:
    """One inline Map result (or a distributed child's Output) -> ItemOutcome."""
    if not isinstance(result, dict):
        return _malformed(fallback_index, f"result is {type(result).__name__}, not an object")
    item = _as_dict(result.get("item"))
    index = item.get("index", fallback_index)
    if not isinstance(index, int):
        return _malformed(fallback_index, "result names no item index")
    start, stop = item.get("start"), item.get("stop")
    status = result.get("status")
    if status == "SUCCEEDED" and isinstance(result.get("prime_count"), int):
        duration = result.get("duration_ms")
        return ItemOutcome(
            index=index, succeeded=True, start=start, stop=stop, prime_count=result["prime_count"],
            duration_ms=float(duration) if isinstance(duration, int | float) else None,
        )
    if status == "FAILED":
        error = _as_dict(result.get("error"))
        return ItemOutcome(
            index=index, succeeded=False, start=start, stop=stop,
            error=str(error.get("Error") or "Unknown"), message=describe_cause(error.get("Cause")),
        )
    return _malformed(index, f"unexpected status {status!r}")


def outcomes_from_manifest(s3: Any, details: ResultWriterDetails, allowed_bucket: str) -> list[ItemOutcome]:
    """Read a distributed Map's manifest and its result files from S3."""
    if details.Bucket != allowed_bucket:
        raise AggregateInputError(
            "foreign_bucket", f"the results manifest is in bucket {details.Bucket}, not {allowed_bucket}"
        )
    manifest = _read_json(s3, details.Bucket, details.Key)
    files = manifest.get("ResultFiles") or {}
    outcomes: list[ItemOutcome] = []
    for status in ("SUCCEEDED", "FAILED", "PENDING"):
        for entry in files.get(status) or []:
            for record in _read_json(s3, details.Bucket, entry["Key"]):
                outcomes.append(_outcome_from_child(record, status))
    return outcomes


def complete_outcomes(outcomes: list[ItemOutcome], item_count: int) -> list[ItemOutcome]:
    """One outcome per index 0..item_count-1, in order: a success wins over a failure of the same
    index (a redriven item), and an index with no outcome at all is a NoResult failure."""
    by_index: dict[int, ItemOutcome] = {}
    for outcome in outcomes:
        if not 0 <= outcome.index < item_count:
            continue
        known = by_index.get(outcome.index)
        if known is None or (outcome.succeeded and not known.succeeded):
            by_index[outcome.index] = outcome
    return [
        by_index.get(index)
        or ItemOutcome(
            index=index, succeeded=False, error="NoResult", message="the Map reported no result for this item"
        )
        for index in range(item_count)
    ]


def describe_cause(cause: Any) -> str | None:
    """A Lambda error's Cause is the JSON of {errorMessage, errorType, stackTrace}; keep the message."""
    if cause is None:
        return None
    text = str(cause)
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("errorMessage"):
        text = str(parsed["errorMessage"])
    return text[:MAX_MESSAGE_CHARS]


def _outcome_from_child(record: dict[str, Any], status: str) -> ItemOutcome:
    if status == "SUCCEEDED":
        return outcome_from_result(_loads_or_none(record.get("Output")))
    child_input = _loads_or_none(record.get("Input"))
    item = _as_dict(_as_dict(child_input).get("item"))
    index = item.get("index")
    error = record.get("Error") or ("NotRun" if status == "PENDING" else "Unknown")
    message = describe_cause(record.get("Cause")) or f"child execution {record.get('Status', status)}"
    if not isinstance(index, int):
        # Without an index it cannot be matched to an item; the item shows up as NoResult instead.
        return _malformed(-1, message)
    return ItemOutcome(index=index, succeeded=False, start=item.get("start"), stop=item.get("stop"),
                       error=str(error), message=message)


def _malformed(index: int | None, why: str) -> ItemOutcome:
    return ItemOutcome(
        index=-1 if index is None else index, succeeded=False, error="MalformedResult", message=why
    )


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _loads_or_none(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _read_json(s3: S3Client, bucket: str, key: str) -> Any:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return json.loads(body)
