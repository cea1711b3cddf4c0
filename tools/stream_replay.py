"""Replay the stream records behind StreamFailureQueue's OnFailure messages through the consumer.

    python -m tools.stream_replay [--stack-name lambda-suite-dev |
                                   --queue-url URL --aggregates-table NAME] [--dry-run] [--json]

An OnFailure message holds no records, only where they were (DDBStreamBatchInfo: streamArn, shardId,
startSequenceNumber, endSequenceNumber, batchSize). For each message this reads that range back from
the stream (GetShardIterator AT_SEQUENCE_NUMBER, then GetRecords until past endSequenceNumber) and
applies each record with the consumer's own AggregateConsumer.process_record, so replay and function
cannot drift apart; that processing is idempotent and skips records a newer change superseded.

A message is deleted only when the whole range was read back (its first and last sequence numbers
included) and every record in it was applied or found already applied/superseded. Otherwise it stays
in the queue (made visible again at the end of the run) and the report says precisely why: which
records still fail and with what error, or which part of the range can no longer be read (trimmed:
stream records live 24 hours; the stream or shard is gone; the shard ended before the range did).
A record that fails does not stop the others: each record is checked against its order's marker, so
applying a later change first is safe, and it makes the earlier one a harmless stale record.

Exit code 0: every message was replayed and deleted (or, with --dry-run, listed); 1: some were left.
Logs go to stderr so that stdout carries only the report.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from aggregate_consumer import AggregateConsumer
from aggregate_store import AggregateStore
from botocore.exceptions import ClientError

from lambda_toolkit import aws_clients
from lambda_toolkit.observability import logger
from lambda_toolkit.pagination import receive_all
from tools.stack_outputs import stack_outputs

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_sqs import SQSClient

SequenceIteratorType = Literal["AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"]

DONE_OUTCOMES = frozenset({"applied", "already_applied", "superseded"})
# GetRecords on an open shard may answer with no records before the data it has; after this many
# empty answers in a row the rest of the range is taken as unreadable.
MAX_EMPTY_POLLS = 3
# How often an expired shard iterator is renewed before the read is given up.
MAX_ITERATOR_RENEWALS = 3
GET_RECORDS_LIMIT = 1000
DEFAULT_VISIBILITY_TIMEOUT_S = 300


class RecordProcessor(Protocol):
    def process_record(self, record: Mapping[str, Any]) -> str: ...


@dataclass(frozen=True)
class BatchInfo:
    """DDBStreamBatchInfo of one OnFailure invocation record."""

    stream_arn: str
    shard_id: str
    start_sequence_number: str
    end_sequence_number: str
    batch_size: int | None = None
    condition: str | None = None

    @classmethod
    def from_message_body(cls, body: str) -> BatchInfo:
        try:
            document = json.loads(body)
            info = document["DDBStreamBatchInfo"]
            batch = cls(
                stream_arn=str(info["streamArn"]),
                shard_id=str(info["shardId"]),
                start_sequence_number=str(info["startSequenceNumber"]),
                end_sequence_number=str(info["endSequenceNumber"]),
                batch_size=None if info.get("batchSize") is None else int(info["batchSize"]),
                condition=(document.get("requestContext") or {}).get("condition"),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"not an OnFailure record with DDBStreamBatchInfo: {error!r}") from error
        if not (batch.start_sequence_number.isdigit() and batch.end_sequence_number.isdigit()):
            raise ValueError("DDBStreamBatchInfo sequence numbers are not decimal strings")
        return batch

    @property
    def start(self) -> int:
        return int(self.start_sequence_number)

    @property
    def end(self) -> int:
        return int(self.end_sequence_number)


@dataclass(frozen=True)
class RecordResult:
    sequence_number: str
    event_name: str | None
    keys: dict[str, Any]
    outcome: str  # applied | already_applied | superseded | failed | listed
    error: str | None = None


@dataclass(frozen=True)
class UnreadableRange:
    """Part of a batch's range that could not be read back from the stream."""

    reason: str  # trimmed | stream_not_found | incomplete | read_error
    detail: str
    # The unread part: records with from_sequence_number <= n < before_sequence_number (open-ended
    # when before is None) and/or after_sequence_number < n <= to_sequence_number.
    gaps: list[dict[str, str | None]] = field(default_factory=list)


@dataclass
class MessageReport:
    message_id: str
    batch: BatchInfo | None
    records: list[RecordResult] = field(default_factory=list)
    unreadable: UnreadableRange | None = None
    problem: str | None = None
    deleted: bool = False

    @property
    def replayed(self) -> bool:
        return (
            self.batch is not None
            and self.problem is None
            and self.unreadable is None
            and all(record.outcome in DONE_OUTCOMES for record in self.records)
        )

    def to_document(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "batch": None if self.batch is None else asdict(self.batch),
            "replayed": self.replayed,
            "deleted": self.deleted,
            "problem": self.problem,
            "unreadable": None if self.unreadable is None else asdict(self.unreadable),
            "failed_records": [asdict(r) for r in self.records if r.outcome == "failed"],
            "records": [asdict(r) for r in self.records],
        }


@dataclass
class ReplayReport:
    dry_run: bool
    messages: list[MessageReport] = field(default_factory=list)

    @property
    def left_in_queue(self) -> list[MessageReport]:
        return [message for message in self.messages if not message.deleted]

    @property
    def ok(self) -> bool:
        return self.dry_run or not self.left_in_queue

    def to_document(self) -> dict[str, Any]:
        records = [record for message in self.messages for record in message.records]
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "summary": {
                "messages": len(self.messages),
                "deleted": sum(message.deleted for message in self.messages),
                "left_in_queue": len(self.left_in_queue),
                "records": len(records),
                **{outcome: sum(r.outcome == outcome for r in records)
                   for outcome in ("applied", "already_applied", "superseded", "failed", "listed")},
            },
            "messages": [message.to_document() for message in self.messages],
        }


def consumer_for(aggregates_table: Table) -> AggregateConsumer:
    """The function's own processing, bound to an AggregatesTable resource."""
    return AggregateConsumer(AggregateStore(aggregates_table), safety_margin_ms=0)


def as_lambda_record(raw: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record in the shape Lambda hands to the function."""
    record = dict(raw)
    stream = dict(record.get("dynamodb") or {})
    created = stream.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        # boto3 parses it into a datetime; the Lambda event carries epoch seconds.
        stream["ApproximateCreationDateTime"] = int(created.timestamp())
    record["dynamodb"] = stream
    record.setdefault("eventSourceARN", stream_arn)
    return record


def read_batch_records(
    streams: DynamoDBStreamsClient, batch: BatchInfo
) -> tuple[list[dict[str, Any]], UnreadableRange | None]:
    """The stream records of the batch's range, in order, and what part of it could not be read."""
    records: list[dict[str, Any]] = []
    try:
        iterator: str | None = _iterator(streams, batch, "AT_SEQUENCE_NUMBER", batch.start_sequence_number)
        empty_polls = renewals = 0
        while iterator is not None and empty_polls < MAX_EMPTY_POLLS:
            try:
                page = streams.get_records(ShardIterator=iterator, Limit=GET_RECORDS_LIMIT)
            except ClientError as error:
                if _code(error) != "ExpiredIteratorException" or renewals >= MAX_ITERATOR_RENEWALS:
                    raise
                renewals += 1
                after = records[-1]["dynamodb"]["SequenceNumber"] if records else None
                iterator = _iterator(
                    streams, batch, "AFTER_SEQUENCE_NUMBER" if after else "AT_SEQUENCE_NUMBER",
                    after or batch.start_sequence_number,
                )
                continue
            page_records = page.get("Records", [])
            empty_polls = 0 if page_records else empty_polls + 1
            for raw in page_records:
                sequence = int(raw["dynamodb"]["SequenceNumber"])
                if sequence > batch.end:
                    return records, _completeness(batch, records)
                if sequence >= batch.start:
                    records.append(as_lambda_record(raw, batch.stream_arn))
            iterator = page.get("NextShardIterator")
    except ClientError as error:
        return records, _read_failure(batch, records, error)
    return records, _completeness(batch, records)


def _iterator(
    streams: DynamoDBStreamsClient, batch: BatchInfo, kind: SequenceIteratorType, sequence_number: str
) -> str | None:
    response = streams.get_shard_iterator(
        StreamArn=batch.stream_arn, ShardId=batch.shard_id, ShardIteratorType=kind, SequenceNumber=sequence_number
    )
    iterator = response.get("ShardIterator")
    return None if iterator is None else str(iterator)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _read_failure(batch: BatchInfo, records: list[dict[str, Any]], error: ClientError) -> UnreadableRange:
    code = _code(error)
    reason = {
        "TrimmedDataAccessException": "trimmed",
        "ResourceNotFoundException": "stream_not_found",
    }.get(code, "read_error")
    detail = f"{code}: {error.response.get('Error', {}).get('Message', '')}"
    return UnreadableRange(reason, detail, _gaps(batch, records))


def _completeness(batch: BatchInfo, records: list[dict[str, Any]]) -> UnreadableRange | None:
    gaps = _gaps(batch, records)
    if not gaps:
        return None
    return UnreadableRange(
        "incomplete",
        f"read {len(records)} record(s) of the range {batch.start_sequence_number}..{batch.end_sequence_number}"
        f" (batchSize {batch.batch_size}); the rest is no longer in the shard",
        gaps,
    )


def _gaps(batch: BatchInfo, records: list[dict[str, Any]]) -> list[dict[str, str | None]]:
    """The unread parts of the range: before the first record read and after the last one."""
    if not records:
        return [{"from_sequence_number": batch.start_sequence_number,
                 "to_sequence_number": batch.end_sequence_number}]
    first = records[0]["dynamodb"]["SequenceNumber"]
    last = records[-1]["dynamodb"]["SequenceNumber"]
    gaps: list[dict[str, str | None]] = []
    if int(first) != batch.start:
        gaps.append({"from_sequence_number": batch.start_sequence_number, "before_sequence_number": first})
    if int(last) != batch.end:
        gaps.append({"after_sequence_number": last, "to_sequence_number": batch.end_sequence_number})
    return gaps


def replay_message(
    message: Mapping[str, Any], *, streams: DynamoDBStreamsClient, processor: RecordProcessor, dry_run: bool
) -> MessageReport:
    """Read back and (unless dry_run) apply one OnFailure message's records; delete nothing."""
    try:
        batch = BatchInfo.from_message_body(str(message.get("Body", "")))
    except ValueError as error:
        return MessageReport(str(message["MessageId"]), None, problem=str(error))
    report = MessageReport(str(message["MessageId"]), batch)
    records, report.unreadable = read_batch_records(streams, batch)
    for record in records:
        report.records.append(_apply(record, processor, dry_run))
    return report


def _apply(record: Mapping[str, Any], processor: RecordProcessor, dry_run: bool) -> RecordResult:
    stream = record.get("dynamodb") or {}
    sequence, event_name, keys = str(stream.get("SequenceNumber")), record.get("eventName"), stream.get("Keys", {})
    if dry_run:
        return RecordResult(sequence, event_name, keys, "listed")
    try:
        outcome = processor.process_record(record)
    except Exception as error:  # noqa: BLE001 - reported per record; the message stays in the queue
        return RecordResult(sequence, event_name, keys, "failed", repr(error))
    return RecordResult(sequence, event_name, keys, outcome)


def replay_failure_queue(
    *,
    sqs: SQSClient,
    streams: DynamoDBStreamsClient,
    queue_url: str,
    processor: RecordProcessor,
    dry_run: bool = False,
    max_messages: int = 100,
    visibility_timeout_s: int = DEFAULT_VISIBILITY_TIMEOUT_S,
) -> ReplayReport:
    """Replay up to max_messages OnFailure messages; delete each one only once it is fully replayed."""
    report = ReplayReport(dry_run=dry_run)
    left: dict[str, str] = {}
    # Received messages stay invisible for the run, so each is handled once; the ones left are made
    # visible again at the end for the next run (and keep the queue's alarm up).
    for message in receive_all(sqs, queue_url, visibility_timeout_s=visibility_timeout_s, limit=max_messages,
                               AttributeNames=["All"]):
        result = replay_message(message, streams=streams, processor=processor, dry_run=dry_run)
        if result.replayed and not dry_run:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            result.deleted = True
        else:
            left[message["MessageId"]] = message["ReceiptHandle"]
        report.messages.append(result)
    for receipt_handle in left.values():
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=0)
    return report


def _print_human(report: ReplayReport) -> None:
    summary = report.to_document()["summary"]
    mode = "dry run: " if report.dry_run else ""
    print(f"{mode}{summary['messages']} message(s), {summary['deleted']} replayed and deleted, "
          f"{summary['left_in_queue']} left in the queue")
    for message in report.messages:
        batch = message.batch
        where = "?" if batch is None else (
            f"{batch.shard_id} {batch.start_sequence_number}..{batch.end_sequence_number} "
            f"(batchSize {batch.batch_size}, {batch.condition})"
        )
        state = "deleted" if message.deleted else ("listed" if report.dry_run else "LEFT")
        print(f"- {message.message_id} [{state}] {where}")
        if message.problem:
            print(f"    problem: {message.problem}")
        if message.unreadable:
            print(f"    unreadable ({message.unreadable.reason}): {message.unreadable.detail}")
            for gap in message.unreadable.gaps:
                print(f"      gap: {gap}")
        for record in message.records:
            line = f"    {record.sequence_number} {record.event_name} {record.outcome}"
            print(line + (f": {record.error}" if record.error else ""))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.stream_replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack-name", default="lambda-suite-dev")
    parser.add_argument("--queue-url", help="StreamFailureQueue's URL (instead of reading the stack's outputs)")
    parser.add_argument("--aggregates-table", help="AggregatesTable's name (instead of the stack's outputs)")
    parser.add_argument("--dry-run", action="store_true", help="read and list the records; apply and delete nothing")
    parser.add_argument("--max-messages", type=int, default=100)
    parser.add_argument("--visibility-timeout", type=int, default=DEFAULT_VISIBILITY_TIMEOUT_S,
                        help="seconds a message stays hidden while it is replayed")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)

    queue_url, table_name = args.queue_url, args.aggregates_table
    if not (queue_url and table_name):
        outputs = stack_outputs(aws_clients.client("cloudformation"), args.stack_name)
        queue_url = queue_url or outputs["StreamFailureQueueUrl"]
        table_name = table_name or outputs["AggregatesTableName"]
    handler = logger.registered_handler
    # The consumer logs through Powertools, to stdout by default; stdout is for the report here.
    previous = handler.setStream(sys.stderr) if isinstance(handler, logging.StreamHandler) else None
    try:
        report = replay_failure_queue(
            sqs=aws_clients.sqs(),
            streams=aws_clients.dynamodb_streams(),
            queue_url=queue_url,
            processor=consumer_for(aws_clients.dynamodb().Table(table_name)),
            dry_run=args.dry_run,
            max_messages=args.max_messages,
            visibility_timeout_s=args.visibility_timeout,
        )
    finally:
        if previous is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(previous)
    if args.json:
        print(json.dumps(report.to_document(), indent=2, default=str))
    else:
        _print_human(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
