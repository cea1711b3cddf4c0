"""`python -m localcloud soak`: orders through the queue worker and the stream consumer with injected faults,
every one accounted for.

1. a fresh local cloud (its own state directory, a free port) with template.yaml deployed with the
   parameter overrides FaultInjection=true, FaultTransientRate, FaultCrashRate, FaultTimeoutRate: the
   fault settings reach the functions through the template's own Globals (condition InjectsFaults),
   nothing is set behind its back; SqsWorkerFunction and StreamConsumerFunction both act on them
   (a share of records fails transiently, crashes the process, or runs past the deadline);
2. N valid orders and the malformed bodies into WorkQueue, then the exact duplicates as a second wave
   (localcloud.scenarios.order_traffic); wait (bounded) until WorkQueue drains;
3. WorkDeadLetterQueue: malformed bodies must be there with their reason; valid orders that used up
   maxReceiveCount because of the faults ("dead-lettered after retries") are redriven with tools.dlq
   (copy method) and processed again, until none is left (bounded rounds);
4. figures and checks: every valid order written exactly once (counted by items and by content hash),
   every malformed body dead-lettered with its reason, retries, function crashes/timeouts (the pollers'
   and invokers' counters), StreamFailureQueue messages replayed with tools.stream_replay, AggregatesTable
   reconciled with tools.reconcile_aggregates (zero differences). Exit status 1 on any loss.

Timing (soak only): WorkQueue's VisibilityTimeout is 181 s (6 x SqsWorkerFunction's 30 s + 1), so each
failed delivery would come back only after three minutes, and each injected timeout would hold a worker
30 s. With --function-timeout T (default 3) the soak deploys a copy of template.yaml in its state
directory in which only the Timeout of SqsWorkerFunction and StreamConsumerFunction (T), their
DEADLINE_SAFETY_MARGIN_MS (scaled to keep its share of the timeout: 5,000 ms of 30 s is 500 ms of 3 s)
and WorkQueue.VisibilityTimeout (T + 3) differ (the copy's code paths point at the project);
everything else, the fault parameters and the stream's ParallelizationFactor included, is
template.yaml's. Why the margin is scaled: kept at 5,000 ms, any T <= 5 would make both functions
report every record failed before taking one. Why T matters: each injected timeout holds its worker or
stream lane for T seconds, and 2,000 orders inject dozens. --function-timeout 0 deploys template.yaml
itself (expect a run of many minutes).

    python -m localcloud soak --orders 300       # about 2 minutes here
    python -m localcloud soak --orders 2000      # about 2.5 minutes here (55 s without faults)

An earlier 2000-order run lost orders: localcloud/worker_main.py was edited while it ran, and the
workers started after the edit answered one line ahead of the invoker, so batches were settled by
other answers. The invoker now fixes the worker source when it starts and refuses any answer that is
not to its own request from its own process (localcloud.runtime.subprocess_invoker); a refused invoke fails
and the batch is retried.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from lambda_toolkit.pagination import scan_table
from localcloud.cloud import LocalCloud
from localcloud.config import CloudConfig
from localcloud.deploy.translation import load_sam_template
from localcloud.scenarios.demo import wait_for_drain
from localcloud.scenarios.order_reconciliation import peek_dead_letters, queue_depth
from localcloud.scenarios.order_traffic import MessageKind, SentMessage, generate_orders, send_orders, waves
from tools.dlq import message_attribute

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

SOAK_TEMPLATE_NAME = "soak-template.json"
# Seconds WorkQueue's visibility timeout exceeds the soak's function timeout: the batching window (1 s)
# plus slack, so that a message is never redelivered while its invocation still runs.
VISIBILITY_SLACK_S = 3
DEFAULT_REDRIVE_ROUNDS = 5
# The functions the soak injects faults into (both read the template's fault settings).
FAULTY_FUNCTIONS = ("SqsWorkerFunction", "StreamConsumerFunction")
# Both stop taking records when less than this much of the invocation is left (deadline awareness).
SAFETY_MARGIN_VARIABLE = "DEADLINE_SAFETY_MARGIN_MS"
# Lambda's own default when neither the function nor Globals set a Timeout (AWS::Serverless::Function).
DEFAULT_LAMBDA_TIMEOUT_S = 3


@dataclass(frozen=True)
class SoakOptions:
    orders: int = 2000
    duplicates: int = 100
    malformed: int = 50
    transient_rate: float = 0.05
    crash_rate: float = 0.01
    timeout_rate: float = 0.01
    function_timeout_s: int = 3  # 0: template.yaml's own timeouts
    drain_timeout_s: float = 900.0
    redrive_rounds: int = DEFAULT_REDRIVE_ROUNDS
    seed: int = 7
    json_output: bool = False


@dataclass
class SoakReport:
    ok: bool = False
    sent: dict[str, int] = field(default_factory=dict)
    valid_orders: int = 0
    written: int = 0
    duplicates_suppressed: int = 0
    dead_lettered_invalid: int = 0
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    dead_lettered_after_retries: int = 0
    dead_letters_repeated: int = 0
    redriven: int = 0
    redrive_rounds: int = 0
    deliveries: int = 0
    retries: int = 0
    batches_invoked: int = 0
    batches_failed: int = 0
    records_reported_failed: int = 0
    function_invocations: int = 0
    function_crashes: int = 0
    function_timeouts: int = 0
    function_errors: int = 0
    stream_batches_invoked: int = 0
    stream_batches_failed: int = 0
    stream_retries: int = 0
    stream_bisections: int = 0
    stream_records_to_on_failure: int = 0
    stream_function_crashes: int = 0
    stream_function_timeouts: int = 0
    stream_failures: int = 0
    stream_failures_replayed: int = 0
    aggregate_differences: int = 0
    aggregate_invalid_orders: int = 0
    aggregates_checked: int = 0
    elapsed_s: float = 0.0
    # Seconds from the start to the end of each phase, in order (printed as the soak goes, too).
    phases: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


# -------------------------------------------------------------------------------------------------
# the deployed template


def soak_parameters(options: SoakOptions) -> dict[str, str]:
    return {"Stage": "dev", "FaultInjection": "true", "FaultTransientRate": _rate(options.transient_rate),
            "FaultCrashRate": _rate(options.crash_rate), "FaultTimeoutRate": _rate(options.timeout_rate)}


def _rate(value: float) -> str:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"a fault rate is between 0 and 1, not {value}")
    # The template's AllowedPattern: 0, 0.xxx or 1 (no exponent notation).
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if text else "0"


def write_soak_template(template: Path, out: Path, function_timeout_s: int) -> Path:
    """template.yaml with the faulty functions' Timeout (and their safety margin, in proportion) and
    WorkQueue's VisibilityTimeout shortened."""
    document = load_sam_template(template)
    base = template.parent.resolve()
    resources = document["Resources"]
    for resource in resources.values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
                properties[key] = str((base / properties[key]).resolve())
    global_timeout = document.get("Globals", {}).get("Function", {}).get("Timeout", DEFAULT_LAMBDA_TIMEOUT_S)
    for function in FAULTY_FUNCTIONS:
        if function in resources:
            properties = resources[function]["Properties"]
            _scale_safety_margin(properties, int(properties.get("Timeout", global_timeout)), function_timeout_s)
            properties["Timeout"] = function_timeout_s
    resources["WorkQueue"]["Properties"]["VisibilityTimeout"] = function_timeout_s + VISIBILITY_SLACK_S
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=1))
    return out


def _scale_safety_margin(properties: dict[str, Any], timeout_s: int, soak_timeout_s: int) -> None:
    # The same share of the shorter timeout: a fixed 5,000 ms would leave a 3 s invocation no time at
    # all (the function would report every record failed), and the deadline path stays exercised.
    variables = properties.get("Environment", {}).get("Variables", {})
    margin = variables.get(SAFETY_MARGIN_VARIABLE)
    if isinstance(margin, (int, str)) and str(margin).isdigit() and soak_timeout_s < timeout_s:
        variables[SAFETY_MARGIN_VARIABLE] = str(int(margin) * soak_timeout_s // timeout_s)


def soak_config(config: CloudConfig, options: SoakOptions) -> CloudConfig:
    parameters = {**config.parameters, **soak_parameters(options)}
    template = config.template
    if options.function_timeout_s > 0:
        template = write_soak_template(config.template, config.state_dir / SOAK_TEMPLATE_NAME,
                                       options.function_timeout_s)
    return replace(config, parameters=parameters, template=template)


# -------------------------------------------------------------------------------------------------
# the run


def run_soak(config: CloudConfig, options: SoakOptions, console: Console) -> int:
    started = time.monotonic()
    config = soak_config(config, options)
    report = SoakReport(settings={
        "orders": options.orders, "duplicates": options.duplicates, "malformed": options.malformed,
        "parameters": soak_parameters(options),
        "function_timeout_s": options.function_timeout_s or "template",
        "work_queue_visibility_timeout_s": (options.function_timeout_s + VISIBILITY_SLACK_S
                                            if options.function_timeout_s else "template"),
    })
    cloud = LocalCloud(config)
    try:
        phases = _Phases(report, Console(stderr=True) if options.json_output else console, started)
        with console.status("starting the local cloud with fault injection...", spinner="dots") as status:
            cloud.start()
            phases.done("local cloud started")
            _check_fault_env(cloud, options, report)
            try:
                _soak(cloud, options, report, status, phases)
            except SoakTimeout as error:
                report.problems.append(str(error))
    finally:
        cloud.stop()
    report.elapsed_s = round(time.monotonic() - started, 1)
    report.ok = not report.problems
    if options.json_output:
        print(json.dumps(asdict(report), indent=2, default=str))
    else:
        _render(report, console)
    return 0 if report.ok else 1


def _check_fault_env(cloud: LocalCloud, options: SoakOptions, report: SoakReport) -> None:
    expected = {"FAULT_INJECTION_ENABLED": "true", "FAULT_TRANSIENT_RATE": _rate(options.transient_rate),
                "FAULT_CRASH_RATE": _rate(options.crash_rate), "FAULT_TIMEOUT_RATE": _rate(options.timeout_rate)}
    for function in FAULTY_FUNCTIONS:
        environment = cloud.stack.functions[function].environment
        got = {name: environment.get(name) for name in expected}
        report.settings[f"{function}_fault_env"] = got
        if got != expected:
            report.problems.append(f"{function}'s fault settings from the template are {got}, not {expected}")


def _soak(cloud: LocalCloud, options: SoakOptions, report: SoakReport, status: Any, phases: _Phases) -> None:
    stack = cloud.stack
    aws = cloud.aws
    work_url = stack.queues["WorkQueue"].url
    dlq_url = stack.queues["WorkDeadLetterQueue"].url
    messages = generate_orders(options.orders, malformed=options.malformed, duplicates=options.duplicates,
                               seed=options.seed)
    valid_bodies = {message.order_key: message.body for message in messages if message.kind is MessageKind.VALID}
    report.valid_orders = len(valid_bodies)
    deadline = time.monotonic() + options.drain_timeout_s
    sent: list[SentMessage] = []
    for index, wave in enumerate(waves(messages)):
        sent += send_orders(aws.sqs, work_url, wave)
        _drain(cloud, deadline, status, f"wave {index + 1}: {len(sent)} sent")
        phases.done(f"wave {index + 1} drained ({len(sent)} sent)")
    report.sent = {kind.value: count for kind, count in Counter(message.kind for message in sent).items()}
    # A malformed body is identified by its body: one that faults made fail maxReceiveCount times is
    # redriven as a new message (a new id) and then dead-lettered by the worker with its reason.
    malformed_bodies = Counter(message.body for message in messages if message.kind is MessageKind.MALFORMED)

    # Dead letters: malformed bodies stay (with their reason); any that ran out of receives go back.
    reasoned: dict[str, tuple[str, str]] = {}  # DLQ message id -> (body, reason)
    for round_number in range(1, options.redrive_rounds + 1):
        retried = []
        for letter in peek_dead_letters(aws, dlq_url):
            reason = message_attribute(letter, "failure_reason")
            if reason is not None:
                reasoned[letter["MessageId"]] = (letter["Body"], reason)
            else:
                retried.append(letter)
        if not retried:
            break
        report.dead_lettered_after_retries += len(retried)
        status.update(f"redrive round {round_number}: {len(retried)} dead-lettered after retries -> WorkQueue")
        report.redriven += _redrive_retried(aws.sqs, dlq_url, work_url, {letter["MessageId"] for letter in retried})
        report.redrive_rounds = round_number
        _drain(cloud, deadline, status, f"redrive round {round_number}")
        phases.done(f"redrive round {round_number} drained ({len(retried)} redriven)")
    else:
        report.problems.append(f"dead letters after retries remain after {options.redrive_rounds} redrive rounds")
    dead_lettered_bodies = Counter(body for body, _ in reasoned.values())
    # At least once: a batch that crashed after the worker dead-lettered a body delivers it again, and
    # it is dead-lettered again. A repeat is counted, not a loss.
    report.dead_lettered_invalid = sum((malformed_bodies & dead_lettered_bodies).values())
    report.dead_letters_repeated = sum((dead_lettered_bodies - malformed_bodies).values())
    report.dead_letter_reasons = dict(Counter(reason for _, reason in reasoned.values()))
    if missing := malformed_bodies - dead_lettered_bodies:
        report.problems.append(f"{sum(missing.values())} malformed message(s) not in the DLQ with a reason: "
                               f"{list(missing)[:5]}")
    if strangers := set(dead_lettered_bodies) - set(malformed_bodies):
        report.problems.append(f"{len(strangers)} message(s) dead-lettered with a reason that were not sent as "
                               f"malformed: {sorted(strangers)[:5]}")

    _check_items(cloud, valid_bodies, sent, report)
    _counters(cloud, report, sent_total=len(sent))
    status.update("stream: replaying StreamFailureQueue, reconciling AggregatesTable")
    _stream(cloud, report, deadline)
    phases.done("stream failures replayed, aggregates reconciled")
    depth = queue_depth(aws, work_url)
    if depth:
        report.problems.append(f"WorkQueue still holds {depth} message(s)")


def _drain(cloud: LocalCloud, deadline: float, status: Any, label: str) -> None:
    def show(depth: int) -> None:
        status.update(f"{label}; WorkQueue depth {depth}")

    if not wait_for_drain(cloud.aws, cloud.stack, timeout_s=max(0.0, deadline - time.monotonic()),
                          on_progress=show):
        raise SoakTimeout(f"WorkQueue did not drain in time ({label})")


class _Phases:
    """Marks the end of each phase in the report and on the console as it happens (a soak that is
    stopped, or runs out of time, has said where its time went)."""

    def __init__(self, report: SoakReport, console: Console, started: float) -> None:
        self._report, self._console, self._started = report, console, started

    def done(self, phase: str) -> None:
        elapsed = round(time.monotonic() - self._started, 1)
        self._report.phases[phase] = elapsed
        self._console.log(f"soak: {phase} done at {elapsed:.1f} s")


class SoakTimeout(RuntimeError):
    """WorkQueue did not drain within --timeout."""


def _redrive_retried(sqs: SQSClient, dlq_url: str, work_url: str, message_ids: set[str]) -> int:
    from tools.dlq import redrive  # noqa: PLC0415 - only the soak's redrive needs the operator tooling

    # The reasoned (malformed) letters stay: all letters are received (hidden) first, only the ones to
    # redrive are made visible again for the copy, the others afterwards.
    held: list[str] = []
    chosen: list[str] = []
    while True:
        batch = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                    MessageAttributeNames=["All"], WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            break
        for message in batch:
            (chosen if message["MessageId"] in message_ids else held).append(message["ReceiptHandle"])
    for handle in chosen:
        sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=handle, VisibilityTimeout=0)
    moved = redrive(sqs, dlq_url, work_url, method="copy").moved
    for handle in held:
        sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return moved


def _check_items(cloud: LocalCloud, valid_bodies: dict[Any, str], sent: list[SentMessage],
                 report: SoakReport) -> None:
    # The worker's own order model, as the function parses it (content_hash included).
    from order_model import parse_order  # noqa: PLC0415

    table = cloud.aws.resource("dynamodb").Table(cloud.stack.tables["ItemsTable"].name)
    items = list(scan_table(table, ConsistentRead=True))
    per_key = Counter((item["customer_id"], item["order_id"]) for item in items)
    report.written = len(items)
    # Every valid message and resend ends as the one write of its order or as a suppressed duplicate.
    report.duplicates_suppressed = (sum(1 for message in sent if message.kind is not MessageKind.MALFORMED)
                                    - sum(1 for key in per_key if key in valid_bodies))
    twice = [key for key, count in per_key.items() if count > 1]
    missing = [key for key in valid_bodies if key not in per_key]
    unexpected = [key for key in per_key if key not in valid_bodies]
    wrong_content = []
    for item in items:
        key = (item["customer_id"], item["order_id"])
        if key in valid_bodies and item.get("content_hash") != parse_order(valid_bodies[key]).content_hash():
            wrong_content.append(key)
    for label, keys in (("valid order(s) not written", missing), ("order(s) written twice", twice),
                        ("unexpected item(s) in ItemsTable", unexpected),
                        ("item(s) whose content differs from the order sent", wrong_content)):
        if keys:
            report.problems.append(f"{len(keys)} {label}: {keys[:5]}")
    if len(items) != len(valid_bodies):
        report.problems.append(f"ItemsTable holds {len(items)} items for {len(valid_bodies)} valid orders")


def _counters(cloud: LocalCloud, report: SoakReport, *, sent_total: int) -> None:
    status = cloud.runtime_status()
    pollers = status["pollers"]
    work = next((stats for name, stats in pollers.items() if "WorkQueue" in name or "SqsWorker" in name), None)
    if work is None and pollers:
        work = next(iter(pollers.values()))
    if work is not None:
        report.deliveries = work["records_delivered"]
        # Every message put on WorkQueue (sent, or redriven as a new copy) is delivered at least once.
        report.retries = max(0, work["records_delivered"] - sent_total - report.redriven)
        report.batches_invoked = work["batches_invoked"]
        report.batches_failed = work["batches_failed"]
        report.records_reported_failed = work["records_reported_failed"]
    function = status["functions"].get("SqsWorkerFunction", {})
    report.function_invocations = function.get("invocations", 0)
    report.function_crashes = function.get("exits", 0)
    report.function_timeouts = function.get("timeouts", 0)
    report.function_errors = function.get("errors", 0)
    stream = next((stats for name, stats in pollers.items() if "ItemsStream" in name or "StreamConsumer" in name),
                  None)
    if stream is not None:
        report.stream_batches_invoked = stream["batches_invoked"]
        report.stream_batches_failed = stream["batches_failed"]
        report.stream_retries = stream["retries"]
        report.stream_bisections = stream["bisections"]
        report.stream_records_to_on_failure = stream["records_sent_to_on_failure"]
    consumer = status["functions"].get("StreamConsumerFunction", {})
    report.stream_function_crashes = consumer.get("exits", 0)
    report.stream_function_timeouts = consumer.get("timeouts", 0)
    if status["poller_errors"]:
        report.problems.append(f"pollers died: {status['poller_errors']}")


def _stream(cloud: LocalCloud, report: SoakReport, deadline: float) -> None:
    from tools.reconcile_aggregates import reconcile  # noqa: PLC0415
    from tools.stream_replay import consumer_for, replay_failure_queue  # noqa: PLC0415

    stack = cloud.stack
    if "AggregatesTable" not in stack.tables or "StreamFailureQueue" not in stack.queues:
        report.problems.append("the stack has no AggregatesTable / StreamFailureQueue to reconcile")
        return
    dynamodb = cloud.aws.resource("dynamodb")
    items = dynamodb.Table(stack.tables["ItemsTable"].name)
    aggregates = dynamodb.Table(stack.tables["AggregatesTable"].name)
    failure_url = stack.queues["StreamFailureQueue"].url
    while True:
        aggregate_report = reconcile(items, aggregates)
        failures = queue_depth(cloud.aws, failure_url)
        if failures:
            replay = replay_failure_queue(sqs=cloud.aws.sqs, streams=cloud.aws.client("dynamodbstreams"),
                                          queue_url=failure_url, processor=consumer_for(aggregates))
            report.stream_failures += len(replay.messages)
            report.stream_failures_replayed += sum(message.deleted for message in replay.messages)
            continue
        if aggregate_report.ok or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    report.aggregates_checked = aggregate_report.customers_checked
    report.aggregate_differences = len(aggregate_report.differences)
    report.aggregate_invalid_orders = len(aggregate_report.invalid_orders)
    left = queue_depth(cloud.aws, failure_url)
    if report.stream_failures_replayed < report.stream_failures or left:
        unreplayed = report.stream_failures - report.stream_failures_replayed
        report.problems.append(f"stream failures not replayed: {unreplayed} (StreamFailureQueue holds {left})")
    if not aggregate_report.ok:
        report.problems.append(f"AggregatesTable: {report.aggregate_differences} difference(s), "
                               f"{report.aggregate_invalid_orders} invalid order(s)")


# -------------------------------------------------------------------------------------------------
# output


def _render(report: SoakReport, console: Console) -> None:
    table = Table(title="soak: WorkQueue -> SqsWorkerFunction -> ItemsTable stream -> StreamConsumerFunction, "
                        "with injected faults", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(report.dead_letter_reasons.items()))
    rows = [
        ("sent (valid / malformed / duplicate)",
         f"{sum(report.sent.values())} ({report.sent.get('valid', 0)} / {report.sent.get('malformed', 0)} / "
         f"{report.sent.get('duplicate', 0)})"),
        ("written (ItemsTable items)", f"{report.written} of {report.valid_orders} valid orders"),
        ("duplicates suppressed", str(report.duplicates_suppressed)),
        ("dead-lettered invalid (reasons)", f"{report.dead_lettered_invalid} ({reasons or '-'})"),
        ("invalid dead-lettered again (at-least-once repeats)", str(report.dead_letters_repeated)),
        ("dead-lettered after retries (redriven)",
         f"{report.dead_lettered_after_retries} ({report.redriven} in {report.redrive_rounds} round(s))"),
        ("deliveries / retries", f"{report.deliveries} / {report.retries}"),
        ("batches invoked / failed whole", f"{report.batches_invoked} / {report.batches_failed}"),
        ("records reported failed (partial batch)", str(report.records_reported_failed)),
        ("function invocations / crashes / timeouts", f"{report.function_invocations} / {report.function_crashes}"
                                                      f" / {report.function_timeouts}"),
        ("stream batches invoked / failed whole", f"{report.stream_batches_invoked} / {report.stream_batches_failed}"),
        ("stream retries / bisections", f"{report.stream_retries} / {report.stream_bisections}"),
        ("stream consumer crashes / timeouts", f"{report.stream_function_crashes} / {report.stream_function_timeouts}"),
        ("stream records sent to OnFailure", str(report.stream_records_to_on_failure)),
        ("stream failure messages (replayed)", f"{report.stream_failures} ({report.stream_failures_replayed})"),
        ("aggregate differences", f"{report.aggregate_differences} ({report.aggregates_checked} customers)"),
        ("elapsed", f"{report.elapsed_s:.0f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    console.print(f"fault parameters: {report.settings.get('parameters')}; SqsWorkerFunction and "
                  f"StreamConsumerFunction timeout {report.settings.get('function_timeout_s')} s, "
                  f"WorkQueue visibility {report.settings.get('work_queue_visibility_timeout_s')} s")
    for problem in report.problems:
        console.print(f"[red]- {problem}[/]")
    console.print("[bold green]no loss: every order reconciles[/]" if report.ok
                  else "[bold red]the soak found losses or mismatches[/]")
