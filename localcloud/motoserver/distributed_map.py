"""A distributed Map state as AWS runs it, in moto 5.2.5's Step Functions interpreter.

moto.stepfunctions.parser (a port of LocalStack's ASL interpreter) runs a DISTRIBUTED Map: it reads
the items (ItemReader), runs each through the ItemProcessor as a "child execution", and writes
through the ResultWriter. What it does differently from AWS, each changed here:

1. Tolerated failures. AWS fails the Map Run when the failed (+ timed-out + aborted) child executions
   exceed ToleratedFailureCount, or their share of all items exceeds ToleratedFailurePercentage;
   with neither field declared any failure fails it, with one declared only that one applies. It then
   starts no further child, and the Map state fails with States.ExceedToleratedFailureThreshold
   ("The specified tolerated failure threshold was exceeded"; the history shows MapRunFailed, then
   the state's and, unless caught, the execution's failure). moto parses both fields and never looks
   at them: a Map Run whose children all fail succeeds. Now each child's outcome is counted as it
   ends; once the threshold is passed the items not yet started are left PENDING, the children
   still running are aborted (stopped where they are, ABORTED in the results: "Step Functions
   stops the Map Run and its running child workflow executions", state-map-distributed.html), and
   the Map Run fails as above (MapRunFailed, MapStateFailed, ExecutionFailed in moto's event model;
   a Catch on the state sees the error as on AWS). A child in the middle of a Task is stopped when
   that task returns (its result is dropped); a Wait is cut short at once. moto's
   warning that these fields "currently have no effect", logged for every definition parsed, is
   dropped since it is no longer true.
2. Child outcomes. moto counts a failed child and drops its Error and Cause (and counts a timed-out
   child as succeeded). The worker now records every child: index, input (after ItemSelector),
   output, status, error, cause, start and stop, on the Map Run (see ``ledger_of``).
3. ResultWriter. AWS writes ``<Prefix>/<map run id>/manifest.json`` and, per status that has
   children, ``SUCCEEDED_0.json`` / ``FAILED_0.json`` / ``PENDING_0.json``: a JSON array of child
   executions (ExecutionArn, Input and Output as JSON strings, InputDetails/OutputDetails, Name,
   StateMachineArn, Status, StartDate, StopDate; Error and Cause for FAILED, TIMED_OUT and ABORTED
   children, which share the FAILED file), the manifest listing them as {"Key", "Size"} per status.
   moto writes the manifest with every list empty and no result file. Both are now written from the
   recorded outcomes, also when the Map Run failed on its threshold (that is when PENDING files
   exist). Not written: the Redrive* fields AWS adds to each record (no redrive here); a status's
   records always go to one file (AWS splits very large ones into _1, _2, ...).
4. ToleratedFailurePercentage as an integer. moto's ASL grammar accepts only a decimal literal there
   (``10.0``) and refuses the definition for ``10``, which AWS accepts. Before a definition is
   parsed, an integer ToleratedFailurePercentage of a Map state is rewritten as the same decimal;
   a definition without one is parsed exactly as given.

What stays as moto has it: a child is an evaluation of the ItemProcessor inside the parent's
interpreter, not an execution that DescribeExecution or ListExecutions would know (its ARN and name
in the result files are made up in AWS's format, ``arn:...:execution:<state machine>/<label>:<uuid>``).
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from moto.core.utils import iso_8601_datetime_with_milliseconds
from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
    DistributedIterationComponent,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker import (  # noqa: E501
    DistributedItemProcessorWorker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iterator.distributed_iterator_worker import (  # noqa: E501
    DistributedIteratorWorker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3 import (
    ResourceEvalS3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.component.state.exec.state_map.tolerated_failure import (
    ToleratedFailureCountDecl,
    ToleratedFailurePercentageDecl,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.program_state import (
    ProgramEnded,
    ProgramError,
    ProgramStopped,
    ProgramTimedOut,
)
from moto.stepfunctions.parser.asl.eval.states import ItemData, MapData
from moto.stepfunctions.parser.asl.parse import preprocessor
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

LOG = logging.getLogger(__name__)

THRESHOLD_ERROR: Final = "States.ExceedToleratedFailureThreshold"
THRESHOLD_CAUSE: Final = "The specified tolerated failure threshold was exceeded"
# Which result file a child's status goes to (AWS's manifest keys).
RESULT_FILE_OF_STATUS: Final = {"SUCCEEDED": "SUCCEEDED", "FAILED": "FAILED", "TIMED_OUT": "FAILED",
                                "ABORTED": "FAILED", "PENDING": "PENDING"}
RESULT_FILES: Final = ("FAILED", "PENDING", "SUCCEEDED")

_LEDGER_ATTRIBUTE: Final = "localcloud_ledger"
_DECLARED_ATTRIBUTE: Final = "localcloud_tolerance_declared"
_APPLIED_ATTRIBUTE: Final = "localcloud_patched"
_current = threading.local()  # .state_map: the Map state this thread is evaluating


def apply() -> None:
    if getattr(StateMap, _APPLIED_ATTRIBUTE, False):
        return  # once per process: the wrappers must not wrap themselves
    setattr(StateMap, _APPLIED_ATTRIBUTE, True)
    StateMap.from_state_props = _noting_declared_tolerance(StateMap.from_state_props)  # type: ignore[method-assign]
    StateMap._eval_execution = _as_current_state(StateMap._eval_execution)  # type: ignore[method-assign]
    DistributedIterationComponent._map_run = _enforcing_tolerance(  # type: ignore[method-assign]
        DistributedIterationComponent._map_run)
    # The legacy Iterator field with a DISTRIBUTED ProcessorConfig has its own (identical) worker.
    DistributedItemProcessorWorker._eval_job = _eval_child  # type: ignore[method-assign]
    DistributedIteratorWorker._eval_job = _eval_child  # type: ignore[method-assign]
    ResourceEvalS3._handle_put_object = staticmethod(_write_results)  # type: ignore[method-assign,assignment]
    AmazonStateLanguageParser.parse = staticmethod(  # type: ignore[method-assign,assignment]
        _with_decimal_tolerated_percentage(AmazonStateLanguageParser.parse))
    logging.getLogger(preprocessor.__name__).addFilter(_not_the_no_effect_warning)


def _not_the_no_effect_warning(record: logging.LogRecord) -> bool:
    message = str(record.msg)
    return not (message.startswith("ToleratedFailure") and "currently have no effect" in message)


# -------------------------------------------------------------------------------------------------
# The record of a Map Run's children


@dataclass(frozen=True)
class ChildOutcome:
    index: int
    status: str  # SUCCEEDED | FAILED | TIMED_OUT | ABORTED | PENDING (never started)
    input: Any
    name: str
    start: datetime.datetime | None = None
    stop: datetime.datetime | None = None
    output: Any = None
    error: str | None = None
    cause: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in ("FAILED", "TIMED_OUT", "ABORTED")


class MapRunLedger:
    """Every child of one Map Run, whether its failures passed the tolerated threshold, and which
    children are running (their frames, to abort them when it does)."""

    def __init__(self, map_run_record: Any, item_count: int, *, count_declared: bool, percentage_declared: bool,
                 enforced: bool = True):
        self.map_run_record = map_run_record
        self.item_count = item_count
        self.count_declared = count_declared
        self.percentage_declared = percentage_declared
        self.enforced = enforced
        self._lock = threading.Lock()
        self._children: dict[int, ChildOutcome] = {}
        self._running: dict[int, Any] = {}  # child index -> its environment frame
        self._aborted: set[int] = set()  # children stopped when the threshold was passed
        self._failures = 0
        self._exceeded = False

    def start_child(self, index: int, frame: Any) -> bool:
        """Note a child as running; False once the threshold is passed (AWS starts no further child)."""
        with self._lock:
            if self._exceeded:
                return False
            self._running[index] = frame
            return True

    def record(self, child: ChildOutcome) -> bool:
        """Keep a child's outcome; True once the failures so far exceed the tolerated threshold.

        The outcome that passes the threshold aborts every child still running.
        """
        with self._lock:
            self._children[child.index] = child
            self._running.pop(child.index, None)
            self._failures += child.failed
            was_exceeded = self._exceeded
            self._exceeded = self._exceeded or self._over_threshold()
            to_abort = list(self._running.values()) if self._exceeded and not was_exceeded else []
            if to_abort:
                self._aborted.update(self._running)
            exceeded = self._exceeded
        stopped_at = _now()
        for frame in to_abort:
            frame.set_stop(stop_date=stopped_at, cause=None, error=None)
        return exceeded

    def was_aborted(self, index: int) -> bool:
        """Whether this child was running when the threshold was passed (it was stopped: ABORTED, whatever
        its task made of being stopped, such as an error from the invoke it was in)."""
        with self._lock:
            return index in self._aborted

    @property
    def exceeded(self) -> bool:
        with self._lock:
            return self._exceeded

    def children(self) -> list[ChildOutcome]:
        with self._lock:
            return [self._children[index] for index in sorted(self._children)]

    def _over_threshold(self) -> bool:
        if not (self.enforced and self._failures):
            return False
        if not (self.count_declared or self.percentage_declared):
            return True  # AWS: without either field, any failure fails the Map Run
        # Read at each check: UpdateMapRun may change them while the run is going.
        count = self.map_run_record.tolerated_failure_count
        percentage = self.map_run_record.tolerated_failure_percentage
        if self.count_declared and self._failures > count:
            return True
        return bool(self.percentage_declared and self.item_count
                    and self._failures * 100.0 / self.item_count > percentage)


def ledger_of(map_run_record: Any) -> MapRunLedger | None:
    ledger = getattr(map_run_record, _LEDGER_ATTRIBUTE, None)
    return ledger if isinstance(ledger, MapRunLedger) else None


# -------------------------------------------------------------------------------------------------
# The Map state and its Map Run


def _noting_declared_tolerance(from_state_props: Callable[..., None]) -> Callable[..., None]:
    """moto puts a default 0 in place of an absent field; keep which of the two were declared."""

    def from_props(self: Any, state_props: Any) -> None:
        from_state_props(self, state_props)
        setattr(self, _DECLARED_ATTRIBUTE, (state_props.get(ToleratedFailureCountDecl) is not None,
                                            state_props.get(ToleratedFailurePercentageDecl) is not None))

    return from_props


def _as_current_state(eval_execution: Callable[..., None]) -> Callable[..., None]:
    """The Map Run is evaluated on the thread that evaluates its Map state; tell it which state."""

    def evaluate(self: Any, env: Any) -> None:
        outer = getattr(_current, "state_map", None)
        _current.state_map = self
        try:
            eval_execution(self, env)
        finally:
            _current.state_map = outer

    return evaluate


def _enforcing_tolerance(map_run: Callable[..., None]) -> Callable[..., None]:
    def run(self: Any, env: Any, eval_input: Any) -> None:
        state_map = getattr(_current, "state_map", None)
        # Unknown (never seen here): moto's values as they are, both compared.
        count_declared, percentage_declared = getattr(state_map, _DECLARED_ATTRIBUTE, (True, True))
        items = env.stack[-1] if env.stack else []
        ledger = MapRunLedger(eval_input.map_run_record, len(items) if isinstance(items, list) else 0,
                              count_declared=count_declared, percentage_declared=percentage_declared)
        setattr(eval_input.map_run_record, _LEDGER_ATTRIBUTE, ledger)
        map_run(self, env, eval_input)  # leaves the children's outputs on the stack
        if not ledger.exceeded:
            return
        result_writer = getattr(state_map, "result_writer", None)
        if result_writer is not None:
            try:
                result_writer.eval(env)  # takes the outputs, leaves its own output
                env.stack.pop()
            except Exception:  # the Map Run's failure is what the execution must report
                LOG.exception("writing the results of a failed Map Run")
        # moto's Map Run turns this into MapRunFailed (with error and cause) and fails the state.
        raise FailureEventException(FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold),
            event_type=HistoryEventType.MapRunFailed,
            event_details=EventDetails(mapRunFailedEventDetails=MapRunFailedEventDetails(  # type: ignore[typeddict-item]
                error=THRESHOLD_ERROR, cause=THRESHOLD_CAUSE)),
        ))

    return run


def _eval_child(self: Any, env: Any, job: Any) -> None:
    """moto's DistributedItemProcessorWorker._eval_job, keeping each child's outcome in the ledger."""
    record = self._map_run_record
    if not _ledger_or_new(record).start_child(job.job_index, env):
        _close_as_pending(self, record, job)  # taken from the pool just as the threshold was passed
        return
    for counter in (record.item_counter, record.execution_counter):
        counter.total.count()
        counter.running.count()
    started = _now()
    child_input: Any = job.job_input
    status, output, error, cause = "FAILED", None, None, None
    try:
        env.states.context_object.context_object_data["Map"] = MapData(
            Item=ItemData(Index=job.job_index, Value=job.job_input))
        env.states.reset(job.job_input)
        env.stack.append(env.states.get_input())
        self._eval_input(env_frame=env)
        child_input = env.states.get_input()
        job.job_program.eval(env)
        status, output, error, cause = _how_the_child_ended(env)
    except EvalTimeoutError:
        status, error = "TIMED_OUT", StatesErrorNameType.StatesTimeout.to_name()
    except FailureEventException as failure:
        error, cause = failure.extract_error_cause_pair() or (None, None)
    except Exception as exception:  # noqa: BLE001 - what moto does too: the child fails, the run goes on
        error, cause = StatesErrorNameType.StatesRuntime.to_name(), f"{type(exception).__name__}({exception})"
    finally:
        if status != "SUCCEEDED" and _ledger_or_new(record).was_aborted(job.job_index):
            status, error, cause = "ABORTED", None, None
        for counter in (record.item_counter, record.execution_counter):
            getattr(counter, _COUNTER_OF_STATUS[status]).count()
            counter.running.offset(-1)
            if status == "SUCCEEDED":
                counter.results_written.count()
        job.job_output = output if status == "SUCCEEDED" else None
        exceeded = _ledger_or_new(record).record(ChildOutcome(
            index=job.job_index, status=status, input=child_input, name=str(uuid.uuid4()), start=started,
            stop=_now(), output=output, error=error, cause=cause))
    if exceeded:
        _leave_the_rest_pending(self, record)


_COUNTER_OF_STATUS: Final = {"SUCCEEDED": "succeeded", "FAILED": "failed", "TIMED_OUT": "timed_out",
                             "ABORTED": "aborted"}


def _how_the_child_ended(env: Any) -> tuple[str, Any, str | None, str | None]:
    """(status, output, error, cause) from the child program's end state."""
    end = env.program_state()
    if isinstance(end, ProgramEnded):
        return "SUCCEEDED", env.states.get_input(), None, None
    if isinstance(end, ProgramError):
        details = end.error or {}
        return "FAILED", None, details.get("error"), details.get("cause")
    if isinstance(end, ProgramStopped):
        return "ABORTED", None, end.error, end.cause
    if isinstance(end, ProgramTimedOut):  # moto would count it as succeeded
        return "TIMED_OUT", None, StatesErrorNameType.StatesTimeout.to_name(), None
    return "FAILED", None, StatesErrorNameType.StatesRuntime.to_name(), f"the child ended as {type(end).__name__}"


def _leave_the_rest_pending(worker: Any, record: Any) -> None:
    """Past the threshold AWS starts no further child: close every job not yet taken as PENDING."""
    while (job := worker._job_pool.next_job()) is not None:
        _close_as_pending(worker, record, job)
        worker._job_pool.close_job(job)


def _close_as_pending(worker: Any, record: Any, job: Any) -> None:
    for counter in (record.item_counter, record.execution_counter):
        counter.total.count()
        counter.pending.count()
    _ledger_or_new(record).record(ChildOutcome(index=job.job_index, status="PENDING",
                                               input=_selected_input(worker, job), name=str(uuid.uuid4())))
    job.job_output = None


def _selected_input(worker: Any, job: Any) -> Any:
    """The input the child would have had (ItemSelector applied), for the PENDING record."""
    frame = worker._env.open_inner_frame()
    try:
        frame.states.context_object.context_object_data["Map"] = MapData(
            Item=ItemData(Index=job.job_index, Value=job.job_input))
        frame.states.reset(job.job_input)
        frame.stack.append(frame.states.get_input())
        worker._eval_input(env_frame=frame)
        return frame.states.get_input()
    except Exception:  # noqa: BLE001 - the record then shows the item as read
        return job.job_input
    finally:
        worker._env.delete_frame(frame)


def _ledger_or_new(record: Any) -> MapRunLedger:
    ledger = ledger_of(record)
    if ledger is None:  # a Map Run that did not start through _enforcing_tolerance: record, never fail it
        ledger = MapRunLedger(record, 0, count_declared=False, percentage_declared=False, enforced=False)
        setattr(record, _LEDGER_ATTRIBUTE, ledger)
    return ledger


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


# -------------------------------------------------------------------------------------------------
# ResultWriter


def _write_results(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
    """moto's ResourceEvalS3._handle_put_object, writing the result files the manifest lists."""
    parameters = env.stack.pop()
    env.stack.pop()  # the children's outputs, which the ledger has with everything else
    s3 = ResourceEvalS3._get_s3_client(resource_runtime_part=resource_runtime_part,
                                       state_credentials=state_credentials)
    record = env.map_run_record_pool_manager.get_all().pop()
    bucket = parameters["Bucket"]
    prefix = parameters.get("Prefix") or ""
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    directory = f"{prefix}{record.map_run_arn.split(':')[-1]}/"
    ledger = ledger_of(record)
    by_file: dict[str, list[dict[str, Any]]] = {name: [] for name in RESULT_FILES}
    for child in ledger.children() if ledger else []:
        by_file[RESULT_FILE_OF_STATUS[child.status]].append(result_record(child, record.map_state_machine_arn))
    listed: dict[str, list[dict[str, Any]]] = {name: [] for name in RESULT_FILES}
    for name, records in by_file.items():
        if records:
            key = f"{directory}{name}_0.json"
            body = json.dumps(records).encode()
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            listed[name].append({"Key": key, "Size": len(body)})
    manifest = {"DestinationBucket": bucket, "MapRunArn": record.map_run_arn, "ResultFiles": listed}
    key = f"{directory}manifest.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest, indent=2).encode())
    env.stack.append({"MapRunArn": record.map_run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": key}})


def result_record(child: ChildOutcome, map_state_machine_arn: str) -> dict[str, Any]:
    """One child execution as AWS lists it in a result file."""
    document: dict[str, Any] = {"Input": _json(child.input), "InputDetails": {"Included": True}}
    if child.status == "PENDING":
        document["Status"] = "PENDING"
        return document
    execution_arn = f"{map_state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{child.name}"
    document = {"ExecutionArn": execution_arn, **document, "Name": child.name}
    if child.status == "SUCCEEDED":
        document["Output"] = _json(child.output)
        document["OutputDetails"] = {"Included": True}
    document.update({
        "StartDate": iso_8601_datetime_with_milliseconds(child.start),
        "StateMachineArn": map_state_machine_arn,
        "Status": child.status,
        "StopDate": iso_8601_datetime_with_milliseconds(child.stop),
    })
    if child.failed:
        if child.error is not None:
            document["Error"] = child.error
        if child.cause is not None:
            document["Cause"] = child.cause
    return document


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# -------------------------------------------------------------------------------------------------
# ToleratedFailurePercentage as an integer literal


def _with_decimal_tolerated_percentage(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_definition(definition: str) -> Any:
        return parse(decimal_tolerated_percentage(definition))

    return parse_definition


def decimal_tolerated_percentage(definition: str) -> str:
    """The definition with every Map state's integer ToleratedFailurePercentage written as a decimal;
    the very same text when there is none (or it is not JSON: the parser reports that)."""
    try:
        document = json.loads(definition)
    except (TypeError, ValueError):
        return definition
    return json.dumps(document, ensure_ascii=False) if _decimalise(document) else definition


def _decimalise(node: Any) -> bool:
    changed = False
    if isinstance(node, dict):
        value = node.get("ToleratedFailurePercentage")
        if node.get("Type") == "Map" and isinstance(value, int) and not isinstance(value, bool):
            node["ToleratedFailurePercentage"] = float(value)
            changed = True
        for child in node.values():
            changed = _decimalise(child) or changed
    elif isinstance(node, list):
        for child in node:
            changed = _decimalise(child) or changed
    return changed
