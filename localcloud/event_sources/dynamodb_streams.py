"""DynamoDB Streams -> Lambda event source mapping, following AWS_SEMANTICS.md "DynamoDB Streams".

One reader thread per shard reads with GetRecords about 4 times a second and hands each record to
one of the shard's ParallelizationFactor lanes (1-10, default 1), chosen by the record's partition key
(the table's HASH key, from DescribeStream's KeySchema): a lane delivers ONE batch at a time, so the
lanes run up to ParallelizationFactor batches of a shard at once while every partition key's records
keep their order (lambda/latest/dg/with-ddb.html, "Polling and batching streams"). Per batch:

- records older than MaximumRecordAgeInSeconds are given up on (OnFailure, RecordAgeExceeded);
- records no filter matches are dropped and count as processed (the checkpoint moves past them);
- a partial batch response (itemIdentifier = dynamodb.SequenceNumber) checkpoints at the LOWEST
  reported sequence number: that record and every later one of the batch are retried, including
  ones that succeeded; an identifier that is not a sequence number of the batch fails the batch;
- a failed batch is retried; with BisectBatchOnFunctionError it is split in two and each half
  retried, and splits do not count against MaximumRetryAttempts (-1 = until the record expires);
- when retries are exhausted the records are sent to the OnFailure destination (metadata only) and
  the shard moves past them, so a poison record blocks its shard for a bounded time only.

A retry re-reads from the checkpoint, as Lambda's does: its batch is the lane's next BatchSize records
from the checkpoint, so records that arrived since the failed invoke join it (up to BatchSize). The
halves of a bisected batch are that batch's records only. TumblingWindowInSeconds is not emulated and
refused (localcloud.event_sources.settings).

moto 5.2.5 quirks (checked in moto/dynamodbstreams and moto/dynamodb/models/table.py): one shard per
table, never split or closed; sequence numbers are consecutive integers; records never expire; the
records' awsRegion is always us-east-1 and eventVersion "1.0" (Lambda's events say the mapping's region
and "1.1", which is what the poller writes); every GetRecords makes a new iterator that moto keeps for
the life of the server (a little memory per poll). The poller also follows shards that close and
children that appear, as AWS streams do, although moto never produces them.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from localcloud.aws.arns import function_arn_for
from localcloud.event_sources.batch_response import BatchOutcome, judge_batch
from localcloud.event_sources.destinations import (
    FailureCondition,
    SqsOnFailureDestination,
    discarded_batch,
    stream_invocation_record,
)
from localcloud.event_sources.errors import MappingConfigurationError
from localcloud.event_sources.filter_criteria import FilterCriteria
from localcloud.event_sources.poller import (
    MAX_BATCH_PAYLOAD_BYTES,
    FailureBackoff,
    Invocation,
    PollerStats,
    invoke_batch,
    logger,
)
from localcloud.event_sources.settings import EventSourceMappingSettings, SourceKind
from localcloud.runtime.invocation import Invoker

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_dynamodbstreams.literals import ShardIteratorTypeType
    from mypy_boto3_dynamodbstreams.type_defs import RecordTypeDef, ShardTypeDef
    from mypy_boto3_sqs import SQSClient

POLL_INTERVAL_S = 0.25  # Lambda polls each shard about 4 times a second
SHARD_DISCOVERY_INTERVAL_S = 5.0
LAMBDA_EVENT_VERSION = "1.1"
# Lambda's record field order, for readable events; absent fields are left out.
DYNAMODB_FIELDS = ("ApproximateCreationDateTime", "Keys", "NewImage", "OldImage", "SequenceNumber",
                   "SizeBytes", "StreamViewType")
ITERATOR_LOST_ERRORS = {"ExpiredIteratorException", "TrimmedDataAccessException"}
# How far the reader runs ahead of the lanes: this many batches per lane, read but not yet checkpointed.
READ_AHEAD_BATCHES = 2
GET_RECORDS_LIMIT = 1000


@dataclass(frozen=True)
class StreamRecord:
    sequence_number: str
    created_epoch_s: float
    record: dict[str, Any]  # the record as Lambda puts it in the event

    @property
    def sequence(self) -> int:
        return int(self.sequence_number)


def lambda_dynamodb_record(raw: RecordTypeDef, *, stream_arn: str, region: str) -> StreamRecord:
    """A GetRecords record -> the record Lambda puts in a DynamoDB event (binary values base64)."""
    stream_data: dict[str, Any] = dict(raw.get("dynamodb", {}))
    created = stream_data.get("ApproximateCreationDateTime")
    # DynamoDB Streams keeps the creation time to the second; Lambda's event carries epoch seconds.
    created_epoch_s = math.floor(created.timestamp()) if isinstance(created, datetime) else math.floor(
        float(created or 0))
    stream_data["ApproximateCreationDateTime"] = created_epoch_s
    dynamodb = {name: _json_value(stream_data[name]) for name in DYNAMODB_FIELDS if name in stream_data}
    record: dict[str, Any] = {
        "eventID": raw.get("eventID", ""),
        "eventName": raw.get("eventName", ""),
        "eventVersion": LAMBDA_EVENT_VERSION,
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in raw:  # TTL deletions
        record["userIdentity"] = dict(raw["userIdentity"])
    return StreamRecord(sequence_number=dynamodb["SequenceNumber"], created_epoch_s=created_epoch_s, record=record)


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {key: _json_value(item) for key, item in value.items()}
    if isinstance(value, list | set | tuple):
        return [_json_value(item) for item in value]
    return value


class _Lane:
    """One of a shard's ParallelizationFactor lanes: its records from its checkpoint on, in stream order."""

    def __init__(self, index: int) -> None:
        self.index = index
        self._records: deque[StreamRecord] = deque()
        self._arrivals: deque[float] = deque()  # monotonic time each record reached the lane
        self._condition = threading.Condition()

    def __len__(self) -> int:
        with self._condition:
            return len(self._records)

    def add(self, records: Sequence[StreamRecord]) -> None:
        now = time.monotonic()
        with self._condition:
            self._records.extend(records)
            self._arrivals.extend([now] * len(records))
            self._condition.notify_all()

    def head(self, batch_size: int) -> list[StreamRecord]:
        """The next batch from the checkpoint (what a read from the checkpoint returns now)."""
        with self._condition:
            return _take_batch(list(self._records)[:batch_size], batch_size)

    def checkpoint(self, count: int) -> None:
        """Move the checkpoint past the first ``count`` records (processed, filtered or given up)."""
        with self._condition:
            for _ in range(min(count, len(self._records))):
                self._records.popleft()
                self._arrivals.popleft()

    def wait_for_batch(self, batch_size: int, window_s: float, stopping: threading.Event) -> bool:
        """Wait until a batch is due: BatchSize records, or the window has passed since the first one."""
        with self._condition:
            if not self._records:
                self._condition.wait(POLL_INTERVAL_S)
                return False
            due = self._arrivals[0] + window_s
            while len(self._records) < batch_size and not stopping.is_set():
                left = due - time.monotonic()
                if left <= 0:
                    break
                self._condition.wait(min(left, POLL_INTERVAL_S))
            return bool(self._records)


@dataclass
class _Segment:
    """Records retried together: a batch, what is left of it after a checkpoint, or half of it.

    A segment with a ``lane`` is the batch at the lane's checkpoint: it is read again from the lane
    before each attempt (records that arrived since join it), and what it checkpoints leaves the lane.
    """

    records: list[StreamRecord]
    retries: int = 0
    invocations: int = 0
    last_invocation: Invocation | None = None
    lane: _Lane | None = None

    def checkpoint(self, count: int) -> None:
        if self.lane is not None:
            self.lane.checkpoint(count)


@dataclass
class _Shard:
    shard_id: str
    iterator_type: ShardIteratorTypeType
    iterator: str | None = None
    last_read_sequence: str | None = None  # the last record read into the buffer
    buffer: list[StreamRecord] = field(default_factory=list)
    closed: bool = False
    ready: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    lanes: list[_Lane] = field(default_factory=list)
    read_all: threading.Event = field(default_factory=threading.Event)  # closed and read to its end


class DynamoDBStreamPoller:
    """Polls one DynamoDB stream for one mapping, one consumer thread per shard."""

    def __init__(
        self,
        settings: EventSourceMappingSettings,
        *,
        streams: DynamoDBStreamsClient,
        sqs: SQSClient,
        invoker: Invoker,
        stats: PollerStats | None = None,
        clock: Callable[[], float] = time.time,
        backoff_factory: Callable[[], FailureBackoff] = FailureBackoff,
    ) -> None:
        if settings.kind is not SourceKind.DYNAMODB_STREAM:
            raise MappingConfigurationError(f"{settings.display_name} is not a DynamoDB stream mapping")
        self.settings = settings
        self.stats = stats or PollerStats()
        self._streams = streams
        self._invoker = invoker
        self._clock = clock
        self._backoff_factory = backoff_factory
        self._filters = FilterCriteria(settings.filter_patterns)
        self._destination = (SqsOnFailureDestination(settings.on_failure_destination, sqs)
                             if settings.on_failure_destination else None)
        self._function_arn = settings.function_arn or function_arn_for(
            settings.function_name, settings.region, settings.account_id)
        self._stopping = threading.Event()
        self._shards: dict[str, _Shard] = {}
        self._threads: list[threading.Thread] = []
        self._threads_lock = threading.Lock()
        self._supervisor: threading.Thread | None = None
        self._hash_key: str | None = None  # the table's partition key: which lane a record goes to
        self.error: BaseException | None = None

    @property
    def name(self) -> str:
        return self.settings.display_name

    @property
    def stream_arn(self) -> str:
        return self.settings.event_source_arn

    def start(self, ready_timeout_s: float = 10.0) -> None:
        """Start a consumer per shard; return once each holds its starting iterator.

        Waiting matters for LATEST: a record written after start() returns is delivered.
        """
        if self._destination is not None:
            self._destination.resolve()
        shards = self._describe_shards()
        known = {shard["ShardId"] for shard in shards}
        for shard in shards:
            closed = "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})
            if self.settings.starting_position == "LATEST" and closed:
                continue  # LATEST: only what arrives from now on, and closed shards get nothing new
            self._start_shard(shard["ShardId"], self.settings.starting_position or "TRIM_HORIZON",
                              parent=shard.get("ParentShardId") if shard.get("ParentShardId") in known else None)
        self._supervisor = threading.Thread(target=self._discover_shards, name=f"ddb-shards-{self.name}",
                                            daemon=True)
        self._supervisor.start()
        if not self.wait_until_ready(ready_timeout_s):
            raise TimeoutError(f"{self.name}: shard iterators not acquired within {ready_timeout_s} s")

    def wait_until_ready(self, timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        shards = list(self._shards.values())
        return all(shard.ready.wait(max(0.0, deadline - time.monotonic())) for shard in shards)

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout_s)
        with self._threads_lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout_s)

    # ---------------------------------------------------------------------------------------------
    # shards

    def _describe_shards(self) -> list[ShardTypeDef]:
        shards: list[ShardTypeDef] = []
        start_after: str | None = None
        while True:
            description = (
                self._streams.describe_stream(StreamArn=self.stream_arn, ExclusiveStartShardId=start_after)
                if start_after else self._streams.describe_stream(StreamArn=self.stream_arn)
            )["StreamDescription"]
            self._hash_key = next((key["AttributeName"] for key in description.get("KeySchema", [])
                                   if key.get("KeyType") == "HASH"), self._hash_key)
            shards.extend(description.get("Shards", []))
            start_after = description.get("LastEvaluatedShardId")
            if not start_after:
                return shards

    def _start_shard(self, shard_id: str, iterator_type: ShardIteratorTypeType, parent: str | None) -> None:
        shard = _Shard(shard_id=shard_id, iterator_type=iterator_type)
        self._shards[shard_id] = shard
        parent_shard = self._shards.get(parent) if parent else None
        thread = threading.Thread(target=self._consume_shard, args=(shard, parent_shard),
                                  name=f"ddb-shard-{self.name}-{shard_id[-8:]}", daemon=True)
        with self._threads_lock:
            self._threads.append(thread)
        thread.start()

    def _discover_shards(self) -> None:
        while not self._stopping.wait(SHARD_DISCOVERY_INTERVAL_S):
            try:
                shards = self._describe_shards()
            except (ClientError, BotoCoreError) as error:
                logger.warning("%s: DescribeStream failed: %s", self.name, error)
                continue
            for shard in shards:
                if shard["ShardId"] not in self._shards:
                    # A shard born after start holds only new records: read it from its beginning,
                    # after its parent so that a key's records stay in order.
                    self._start_shard(shard["ShardId"], "TRIM_HORIZON", shard.get("ParentShardId"))

    def _consume_shard(self, shard: _Shard, parent: _Shard | None) -> None:
        try:
            if parent is not None:
                while not parent.finished.wait(POLL_INTERVAL_S):
                    if self._stopping.is_set():
                        return
            self._run_shard(shard)
        except BaseException as error:
            self.error = error
            logger.exception("%s: shard %s consumer stopped by an unexpected error", self.name, shard.shard_id)
            raise
        finally:
            shard.ready.set()  # never leave start() waiting on a consumer that is gone
            shard.finished.set()

    def _run_shard(self, shard: _Shard) -> None:
        """Read the shard and hand its records to the lanes until it is closed and drained (or stop)."""
        shard.lanes = [_Lane(index) for index in range(self.settings.parallelization_factor)]
        lane_threads = [threading.Thread(target=self._run_lane, args=(shard, lane), daemon=True,
                                         name=f"ddb-lane-{self.name}-{shard.shard_id[-8:]}-{lane.index}")
                        for lane in shard.lanes]
        for thread in lane_threads:
            thread.start()
        try:
            self._read_shard(shard)
        finally:
            shard.read_all.set()  # the lanes finish what they hold, then end
            for thread in lane_threads:
                thread.join()

    def _read_shard(self, shard: _Shard) -> None:
        read_ahead = READ_AHEAD_BATCHES * self.settings.batch_size * len(shard.lanes)
        while not self._stopping.is_set():
            room = read_ahead - sum(len(lane) for lane in shard.lanes)
            got: list[StreamRecord] = []
            try:
                if shard.iterator is None and not shard.closed:
                    shard.iterator = self._acquire_iterator(shard)
                    shard.ready.set()
                if room > 0 and shard.iterator is not None:
                    got = self._get_records(shard, min(room, GET_RECORDS_LIMIT))
            except (ClientError, BotoCoreError) as error:
                logger.warning("%s: reading shard %s failed, retrying: %s", self.name, shard.shard_id, error)
                self._stopping.wait(1.0)
                continue
            self._distribute(shard)
            if shard.closed and not any(len(lane) for lane in shard.lanes):
                return
            if not got or len(got) < min(room, GET_RECORDS_LIMIT):
                self._stopping.wait(POLL_INTERVAL_S)  # more may be waiting when a page came back full

    def _distribute(self, shard: _Shard) -> None:
        """Records no filter matches are passed (checkpointed); the rest go to their partition key's lane."""
        records, shard.buffer = shard.buffer, []
        kept = [record for record in records if self._filters.matches(record.record)]
        if len(kept) < len(records):
            self.stats.add("records_filtered_out", len(records) - len(kept))
        by_lane: dict[int, list[StreamRecord]] = {}
        for record in kept:
            by_lane.setdefault(self._lane_of(record, len(shard.lanes)), []).append(record)
        for index, lane_records in by_lane.items():
            shard.lanes[index].add(lane_records)

    def _lane_of(self, record: StreamRecord, lanes: int) -> int:
        if lanes == 1:
            return 0
        keys = record.record["dynamodb"].get("Keys", {})
        partition_key = keys.get(self._hash_key, keys) if self._hash_key else keys
        return zlib.crc32(json.dumps(partition_key, sort_keys=True).encode()) % lanes

    def _run_lane(self, shard: _Shard, lane: _Lane) -> None:
        try:
            backoff = self._backoff_factory()
            window_s = self.settings.maximum_batching_window_seconds
            while not self._stopping.is_set():
                if not lane.wait_for_batch(self.settings.batch_size, window_s, self._stopping):
                    if shard.read_all.is_set() and not len(lane):
                        return
                    continue
                self._deliver(shard, lane, backoff)
        except BaseException as error:
            self.error = error
            logger.exception("%s: shard %s lane %d stopped by an unexpected error", self.name, shard.shard_id,
                             lane.index)
            raise

    def _acquire_iterator(self, shard: _Shard) -> str:
        if shard.last_read_sequence is not None:
            response = self._streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard.shard_id,
                ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=shard.last_read_sequence)
        else:
            response = self._streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard.shard_id,
                ShardIteratorType=shard.iterator_type)
        return response["ShardIterator"]

    def _get_records(self, shard: _Shard, limit: int) -> list[StreamRecord]:
        assert shard.iterator is not None
        try:
            response = self._streams.get_records(ShardIterator=shard.iterator, Limit=limit)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ITERATOR_LOST_ERRORS:
                shard.iterator = None  # re-acquired after the last record read
                if error.response["Error"]["Code"] == "TrimmedDataAccessException":
                    shard.last_read_sequence, shard.iterator_type = None, "TRIM_HORIZON"
                return []
            raise
        shard.iterator = response.get("NextShardIterator")
        if shard.iterator is None:
            shard.closed = True
        records = [lambda_dynamodb_record(raw, stream_arn=self.stream_arn, region=self.settings.region)
                   for raw in response.get("Records", [])]
        if records:
            shard.buffer.extend(records)
            shard.last_read_sequence = records[-1].sequence_number
        return records

    # ---------------------------------------------------------------------------------------------
    # delivery

    def _deliver(self, shard: _Shard, lane: _Lane, backoff: FailureBackoff) -> None:
        """Deliver the batch at the lane's checkpoint until it is checkpointed (processed or given up)."""
        batch = _Segment(records=[], lane=lane)
        halves = self._run_segment(shard, batch, backoff)
        if not halves:
            return
        # Bisected: the halves are the failed batch's records, retried on their own.
        bisected = sum(len(half.records) for half in halves)
        segments = deque(halves)
        while segments and not self._stopping.is_set():
            segment = segments.popleft()
            segments.extendleft(reversed(self._run_segment(shard, segment, backoff)))
        if not self._stopping.is_set():
            lane.checkpoint(bisected)

    def _run_segment(self, shard: _Shard, segment: _Segment, backoff: FailureBackoff) -> list[_Segment]:
        """Invoke until the segment succeeds or is given up; return halves to run instead, if bisected."""
        settings = self.settings
        while not self._stopping.is_set():
            if segment.lane is not None:
                segment.records = segment.lane.head(settings.batch_size)  # re-read from the checkpoint
            self._give_up_expired(shard, segment)
            if not segment.records:
                return []
            records = segment.records
            invocation = invoke_batch(self._invoker, settings.function_name,
                                      {"Records": [r.record for r in records]})
            segment.invocations += 1
            segment.last_invocation = invocation
            self.stats.add("batches_invoked")
            self.stats.add("records_delivered", len(records))
            verdict = judge_batch(invocation.result, {r.sequence_number for r in records},
                                  reports_batch_item_failures=settings.reports_batch_item_failures)
            if verdict.outcome is BatchOutcome.SUCCEEDED:
                backoff.succeeded()
                self.stats.add("records_completed", len(records))
                segment.checkpoint(len(records))
                return []
            if verdict.outcome is BatchOutcome.PARTIALLY_FAILED:
                lowest = min(verdict.failed_item_ids, key=int)
                checkpoint = next(i for i, r in enumerate(records) if r.sequence_number == lowest)
                self.stats.add("records_reported_failed", len(verdict.failed_item_ids))
                self.stats.add("records_completed", checkpoint)
            else:
                checkpoint = 0
                self.stats.add("batches_failed")
                logger.warning("%s: batch of %d from shard %s failed: %s", self.name, len(records),
                               shard.shard_id, verdict.reason)
            segment.checkpoint(checkpoint)
            remaining = records[checkpoint:]
            if settings.bisect_batch_on_function_error and checkpoint == 0 and len(remaining) > 1:
                self.stats.add("bisections")
                half = len(remaining) // 2
                return [
                    _Segment(remaining[:half], segment.retries, segment.invocations, invocation),
                    _Segment(remaining[half:], segment.retries, segment.invocations, invocation),
                ]
            segment.records = remaining
            if settings.bisect_batch_on_function_error and checkpoint > 0:
                continue  # the checkpoint split the batch already; as a split it is no retry
            segment.retries += 1
            if 0 <= settings.maximum_retry_attempts < segment.retries:
                self._give_up(shard, segment.records, FailureCondition.RETRY_ATTEMPTS_EXHAUSTED, segment)
                segment.checkpoint(len(segment.records))
                segment.records = []
                return []
            self.stats.add("retries")
            self._stopping.wait(backoff.failed())
        return []

    def _give_up_expired(self, shard: _Shard, segment: _Segment) -> None:
        max_age = self.settings.maximum_record_age_seconds
        if max_age < 0:
            return
        now = self._clock()
        expired = 0
        while expired < len(segment.records) and now - segment.records[expired].created_epoch_s > max_age:
            expired += 1  # records are in stream order, so the expired ones are a prefix
        if expired:
            self._give_up(shard, segment.records[:expired], FailureCondition.RECORD_AGE_EXCEEDED, segment)
            segment.records = segment.records[expired:]
            segment.checkpoint(expired)

    def _give_up(self, shard: _Shard, records: Sequence[StreamRecord], condition: FailureCondition,
                 segment: _Segment) -> None:
        """Send the OnFailure record (or just drop the records when there is no destination)."""
        if self._destination is None:
            logger.warning("%s: %s; discarding %d record(s) from %s (no OnFailure destination)",
                           self.name, condition.value, len(records), records[0].sequence_number)
            self.stats.add("records_discarded", len(records))
            return
        invocation_record = stream_invocation_record(
            condition=condition,
            function_arn=self._function_arn,
            batch=discarded_batch(
                shard_id=shard.shard_id, stream_arn=self.stream_arn,
                sequence_numbers=[r.sequence_number for r in records],
                arrivals_epoch_s=[r.created_epoch_s for r in records],
            ),
            last_invocation=segment.last_invocation,
            approximate_invoke_count=segment.invocations,
            now_epoch_s=self._clock(),
        )
        if not self._send_until_stopped(self._destination, invocation_record):
            return
        logger.warning("%s: %s; %d record(s) %s..%s sent to %s", self.name, condition.value, len(records),
                       records[0].sequence_number, records[-1].sequence_number,
                       self._destination.destination_arn)
        self.stats.add("records_sent_to_on_failure", len(records))

    def _send_until_stopped(self, destination: SqsOnFailureDestination, invocation_record: dict[str, Any]) -> bool:
        # Moving past records without a record of them would lose them silently: retry until sent.
        while not self._stopping.is_set():
            try:
                destination.send(invocation_record)
            except (ClientError, BotoCoreError) as error:
                logger.warning("%s: OnFailure send failed, retrying: %s", self.name, error)
                self._stopping.wait(1.0)
            else:
                return True
        return False


def _take_batch(buffer: list[StreamRecord], batch_size: int) -> list[StreamRecord]:
    """The next batch: at most BatchSize records and within Lambda's 6 MB invoke payload."""
    size = len('{"Records": []}')
    batch: list[StreamRecord] = []
    for record in buffer[:batch_size]:
        size += len(json.dumps(record.record).encode("utf-8")) + 2
        if size > MAX_BATCH_PAYLOAD_BYTES and batch:
            break
        batch.append(record)
    return batch
