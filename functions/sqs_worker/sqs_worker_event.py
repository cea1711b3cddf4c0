"""The event SqsWorkerFunction takes (a batch from WorkQueue's event source mapping), and its refusals.

Lambda's SQS poller always sends {"Records": [...]}, each record with eventSource "aws:sqs", its
messageId (the itemIdentifier of the partial batch response) and the queue's eventSourceARN (which
tells a FIFO queue). Any other event (a hand-made direct invoke, or a DynamoDB stream or another
source wired to this function by mistake) cannot be answered record by record: without a messageId
there is no itemIdentifier to report. So it fails the whole invocation with InvalidSqsEventError
BEFORE any record is processed: nothing is written or dead-lettered, and the source keeps its batch
(an SQS message becomes visible again, a stream retries from its checkpoint), so nothing is lost.
Lambda reports the class name as the errorType; the message starts with the reason.

Reasons (the ``reason`` attribute):
    not_an_object       the event is not a JSON object
    no_records          the event has no "Records" list
    not_an_sqs_record   a record is not an object, or its eventSource is not aws:sqs (e.g. aws:dynamodb)
    malformed_record    an SQS record without a usable messageId or eventSourceARN
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError

from lambda_toolkit.errors import PermanentError

SQS_EVENT_SOURCE = "aws:sqs"


class InvalidSqsEventError(PermanentError):
    """The event is not an SQS batch this function can answer; no record of it was processed."""


class SqsRecordEnvelope(BaseModel):
    """What the worker reads of a record besides its body (which parse_order judges on its own)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    messageId: Annotated[str, Strict(), Field(min_length=1)]  # the event's own key names
    eventSourceARN: Annotated[str, Strict(), Field(pattern=r"^arn:[^:]+:sqs:")]


def read_sqs_records(event: Any) -> list[SQSRecord]:
    """The event's records, or InvalidSqsEventError naming what makes it something else."""
    if not isinstance(event, Mapping):
        raise InvalidSqsEventError(
            "not_an_object", f"the event is {_json_type(event)}, not an SQS batch {{\"Records\": [...]}}"
        )
    records = event.get("Records")
    if not isinstance(records, list):
        raise InvalidSqsEventError(
            "no_records",
            f"the event has no Records list (keys: {sorted(str(key) for key in event)[:10]}): this function "
            "takes batches from WorkQueue's event source mapping",
        )
    problems = [problem for index, record in enumerate(records) for problem in _problems(index, record)]
    foreign = [problem for problem in problems if problem["field"] == "eventSource"]
    if foreign:
        first = foreign[0]
        raise InvalidSqsEventError(
            "not_an_sqs_record",
            f"record {first['record']} {first['problem']}: this function takes only SQS batches "
            f"({len(foreign)} of {len(records)} records are not)",
            details=foreign,
        )
    if problems:
        summary = "; ".join(f"record {p['record']} {p['field']}: {p['problem']}" for p in problems[:5])
        raise InvalidSqsEventError("malformed_record", summary, details=problems)
    return [SQSRecord(record) for record in records]


def _problems(index: int, record: Any) -> list[dict[str, Any]]:
    if not isinstance(record, Mapping):
        return [{"record": index, "field": "eventSource", "problem": f"is {_json_type(record)}, not a record"}]
    source = record.get("eventSource")
    if source != SQS_EVENT_SOURCE:
        return [{"record": index, "field": "eventSource", "problem": f"comes from {source!r}, not {SQS_EVENT_SOURCE}"}]
    try:
        SqsRecordEnvelope.model_validate(record)
    except ValidationError as error:
        return [{"record": index, "field": ".".join(str(part) for part in issue["loc"]), "problem": issue["msg"]}
                for issue in error.errors()]
    return []


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
