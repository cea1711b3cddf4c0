"""`python -m localcloud <command>`: run lambda-suite on this machine, offline.

    up [--detach]        start moto, deploy template.yaml, start invokers and pollers (Ctrl-C stops)
    down                 stop what `up --detach` started
    deploy               redeploy template.yaml into the running cloud (UpdateStack)
    send                 send generated orders to WorkQueue (--count, --malformed, --duplicates)
    invoke FUNCTION      invoke a function with an event file (through the local Lambda API)
    execute MACHINE      run a state machine execution and wait for its end
    status               queues, DLQs, tables, mappings, functions
    dlq list|redrive     WorkDeadLetterQueue's messages with reasons; move them back to WorkQueue
    sam-env              write the --env-vars file for `sam local invoke` against the local cloud
    demo                 everything end to end, with a reconciled report (exit 1 if it does not add up)
    soak                 orders through SqsWorkerFunction with injected faults, reconciled (exit 1 on loss)

Every command but `up`, `demo` and `soak` works on the cloud that `up` started (found via .localcloud/state.json);
--json makes the output machine-readable.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from localcloud.cloud import LocalCloud
from localcloud.config import DEFAULT_PORT, DEFAULT_STACK_NAME, DEFAULT_STATE_DIR, DEFAULT_TEMPLATE, CloudConfig
from localcloud.demo import DemoOptions, run_demo, wait_for_drain
from localcloud.deployed_stack import DeployedStack
from localcloud.endpoint import free_port, process_alive, stop_process
from localcloud.executions import run_execution, state_machine_arn
from localcloud.local_aws import LocalAws
from localcloud.order_reconciliation import peek_dead_letters, reconcile_orders
from localcloud.order_traffic import generate_orders, send_orders, waves
from localcloud.sam_env import container_endpoint_url, write_sam_env
from localcloud.state import CloudState, clear_state, read_state, read_state_file
from localcloud.status import collect_status, render_status, runtime_status

DOWN_TIMEOUT_S = 60.0
DETACH_TIMEOUT_S = 180.0

console = Console(stderr=False)
errors = Console(stderr=True)


class CliError(Exception):
    """A failure to report in one line, with exit status 1."""


def _emit(args: argparse.Namespace, document: Any, human: str | None = None) -> None:
    if args.json:
        print(json.dumps(document, indent=2, default=str))
    elif human is not None:
        console.print(human)


def _running(args: argparse.Namespace) -> CloudState:
    state = read_state(args.state_dir)
    if state is None:
        raise CliError(f"no local cloud is running (state dir {args.state_dir}); start one with "
                       f"`python -m localcloud up --detach`")
    return state


def _aws(state: CloudState) -> LocalAws:
    return LocalAws(state.endpoint_url, state.region)


# -------------------------------------------------------------------------------------------------
# up / down / deploy


def _config(args: argparse.Namespace) -> CloudConfig:
    parameters = {"Stage": "dev"}
    for assignment in args.parameter or []:
        key, separator, value = assignment.partition("=")
        if not separator:
            raise CliError(f"--parameter takes KEY=VALUE, not {assignment!r}")
        parameters[key] = value
    return CloudConfig(
        port=args.port, host=args.host, template=args.template, stack_name=args.stack_name, parameters=parameters,
        state_dir=args.state_dir, invoker=args.invoker, max_concurrency=args.max_concurrency,
        hide_dev_shm=args.no_dev_shm, start_pollers=not args.no_pollers,
    )


def _configure_logging(state_dir: Path, verbose: bool) -> None:
    log_dir = state_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    file_handler = logging.FileHandler(log_dir / "localcloud.log")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s"))
    console_handler = logging.StreamHandler()
    console_handler.setLevel(logging.INFO if verbose else logging.WARNING)
    console_handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[file_handler, console_handler], force=True)
    for noisy in ("botocore", "urllib3", "samtranslator"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def cmd_up(args: argparse.Namespace) -> int:
    existing = read_state(args.state_dir)
    if existing is not None:
        raise CliError(f"a local cloud already runs on {existing.endpoint_url} (pid {existing.pid}); "
                       f"`python -m localcloud down` first")
    if args.detach:
        return _up_detached(args)
    _configure_logging(args.state_dir, args.verbose)
    stop = threading.Event()
    # SIGTERM (`down`) and SIGINT (Ctrl-C) both stop it, also when started where SIGINT was ignored
    # (a background job of a non-interactive shell).
    for stopping_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stopping_signal, lambda _signum, _frame: stop.set())
    cloud = LocalCloud(_config(args))
    try:
        with console.status("starting the local cloud (moto, deploy, invokers, pollers)..."):
            cloud.start()
        _print_up_summary(args, cloud)
        while not stop.wait(0.5):
            pass
    finally:
        if not args.json:
            console.print("stopping the local cloud...")
        cloud.stop()
    return 0


def _print_up_summary(args: argparse.Namespace, cloud: Any) -> None:
    stack = cloud.stack
    document = {"endpoint_url": cloud.config.endpoint_url, "stack_name": stack.stack_name, "pid": os.getpid(),
                "functions": list(stack.functions), "queues": {k: q.url for k, q in stack.queues.items()},
                "tables": {k: t.name for k, t in stack.tables.items()}, "state_machines": list(stack.state_machines),
                "mappings": list(stack.event_source_mappings), "skipped": stack.skipped}
    lines = [
        f"[bold green]local cloud up[/] on {cloud.config.endpoint_url} (stack {stack.stack_name}, "
        f"invoker {cloud.config.invoker})",
        f"  functions: {', '.join(stack.functions)}",
        f"  queues: {', '.join(stack.queues)}",
        f"  tables: {', '.join(stack.tables)}",
        f"  state machines: {', '.join(stack.state_machines) or '-'}",
        f"  mappings polled: {', '.join(stack.event_source_mappings) or '-'}",
        f"  logs: {cloud.config.log_dir}",
        "  export AWS_ENDPOINT_URL=" + cloud.config.endpoint_url + " to use the AWS CLI/boto3 against it",
        "Ctrl-C (or `python -m localcloud down`) stops it.",
    ]
    _emit(args, document, "\n".join(lines))


def _up_argv(args: argparse.Namespace) -> list[str]:
    """The same `up`, in the foreground, for the background process."""
    argv = [sys.executable, "-m", "localcloud", "up", "--state-dir", str(args.state_dir), "--port", str(args.port),
            "--host", args.host, "--template", str(args.template), "--stack-name", args.stack_name,
            "--invoker", args.invoker, "--max-concurrency", str(args.max_concurrency)]
    for assignment in args.parameter or []:
        argv += ["--parameter", assignment]
    argv += [flag for flag, given in (("--no-dev-shm", args.no_dev_shm), ("--no-pollers", args.no_pollers),
                                      ("--verbose", args.verbose)) if given]
    return argv


def _up_detached(args: argparse.Namespace) -> int:
    argv = _up_argv(args)
    log_path = args.state_dir / "logs" / "up.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                                   cwd=Path.cwd())
    deadline = time.monotonic() + DETACH_TIMEOUT_S
    with console.status("starting the local cloud in the background..."):
        while time.monotonic() < deadline:
            state = read_state(args.state_dir)
            if state is not None and state.pid == process.pid:
                _emit(args, state.model_dump(mode="json"),
                      f"[bold green]local cloud up[/] on {state.endpoint_url} (pid {state.pid}); logs in {log_path}")
                return 0
            if process.poll() is not None:
                raise CliError(f"the local cloud did not start (exit {process.returncode}):\n"
                               + log_path.read_text()[-3000:])
            time.sleep(0.3)
    stop_process(process.pid)
    raise CliError(f"the local cloud did not start within {DETACH_TIMEOUT_S} s; see {log_path}")


def cmd_down(args: argparse.Namespace) -> int:
    state = read_state_file(args.state_dir)
    if state is None:
        _emit(args, {"stopped": False}, "no local cloud is running")
        return 0
    stopped = stop_process(state.pid, grace_s=DOWN_TIMEOUT_S)
    # After a kill -9 of `up` its moto server may still run: it is ours to stop too.
    if state.moto_pid is not None and process_alive(state.moto_pid):
        stop_process(state.moto_pid)
    clear_state(args.state_dir)
    _emit(args, {"stopped": stopped, "pid": state.pid}, f"local cloud stopped (pid {state.pid})")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    state = _running(args)
    request = _post(state.control_url + "/deploy", {})
    _emit(args, request, f"redeployed {request.get('stack_name')}: {request.get('status')} "
                         f"({request.get('resources')} resources)")
    return 0


def _post(url: str, document: Any, timeout_s: float = 300.0) -> Any:
    request = urllib.request.Request(url, data=json.dumps(document).encode(), method="POST",  # noqa: S310 - ours
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - the cloud's own URL
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise CliError(json.loads(error.read() or b"{}").get("error", str(error))) from error


# -------------------------------------------------------------------------------------------------
# traffic and inspection


def cmd_send(args: argparse.Namespace) -> int:
    state = _running(args)
    stack = state.stack()
    messages = generate_orders(args.count, malformed=args.malformed, duplicates=args.duplicates, seed=args.seed)
    queue_url = stack.queues["WorkQueue"].url
    if args.wait:
        # Duplicates as a second wave, once the originals are written (see order_traffic.waves).
        first, second = waves(messages)
        sent = send_orders(_aws(state).sqs, queue_url, first)
        wait_for_drain(_aws(state), stack, timeout_s=args.timeout)
        sent += send_orders(_aws(state).sqs, queue_url, second)
        wait_for_drain(_aws(state), stack, timeout_s=args.timeout)
    else:
        sent = send_orders(_aws(state).sqs, queue_url, messages)
    document: dict[str, Any] = {"queue": queue_url, "sent": len(sent), "valid": args.count,
                                "malformed": args.malformed, "duplicates": args.duplicates}
    if args.wait:
        document["reconciliation"] = reconcile_orders(_aws(state), stack, sent).to_document()
    _emit(args, document, f"sent {len(sent)} message(s) to WorkQueue ({args.count} valid, {args.malformed} "
                          f"malformed, {args.duplicates} duplicates)"
                          + (f"\n{json.dumps(document['reconciliation'], indent=2)}" if args.wait else ""))
    if args.wait and not document["reconciliation"]["ok"]:
        return 1
    return 0


def cmd_invoke(args: argparse.Namespace) -> int:
    state = _running(args)
    stack = state.stack()
    logical_id = stack.function_logical_id(args.function)
    if logical_id is None:
        raise CliError(f"no function {args.function!r}; the stack has {', '.join(stack.functions)}")
    event = json.loads(Path(args.event).read_text()) if args.event else json.loads(args.payload or "{}")
    started = time.monotonic()
    # Through the local Lambda API, as `aws lambda invoke` would: the moto server routes it to the invoker.
    response = _aws(state).lambda_client.invoke(FunctionName=stack.functions[logical_id].name,
                                                Payload=json.dumps(event).encode())
    body = response["Payload"].read()
    payload = json.loads(body) if body else None
    document = {"function": logical_id, "function_error": response.get("FunctionError"), "payload": payload,
                "duration_ms": round((time.monotonic() - started) * 1000, 1)}
    _emit(args, document, json.dumps(payload, indent=2))
    return 1 if response.get("FunctionError") else 0


def cmd_execute(args: argparse.Namespace) -> int:
    state = _running(args)
    stack = state.stack()
    try:
        arn = state_machine_arn(stack, args.state_machine)
    except KeyError as error:
        raise CliError(str(error.args[0])) from error
    execution_input = json.loads(Path(args.input).read_text()) if args.input else json.loads(args.input_json or "{}")
    with console.status(f"running {args.state_machine}..."):
        outcome = run_execution(_aws(state).stepfunctions, arn, execution_input, timeout_s=args.timeout)
    human = f"{outcome.status} in {outcome.duration_s:.1f} s\n"
    human += json.dumps(outcome.output, indent=2) if outcome.succeeded else f"{outcome.error}: {outcome.cause}"
    _emit(args, outcome.to_document(), human)
    return 0 if outcome.succeeded else 1


def cmd_status(args: argparse.Namespace) -> int:
    state = _running(args)
    status = collect_status(_aws(state), state.stack(), runtime_status(state.control_url))
    if args.json:
        _emit(args, status)
    else:
        render_status(status, console)
    return 0


def cmd_dlq(args: argparse.Namespace) -> int:
    # The lead's DLQ tooling (tools/dlq.py) imports the layer's lambda_toolkit, so it needs the layer on
    # sys.path (the Makefile's PYTHONPATH); imported here so that every other command runs without it.
    from tools.dlq import describe, redrive  # noqa: PLC0415

    state = _running(args)
    stack = state.stack()
    sqs = _aws(state).sqs
    dlq_url = stack.queues["WorkDeadLetterQueue"].url
    if args.action == "list":
        # tools.dlq's own listing leaves the messages invisible for 30 s (a redrive right after it would
        # find none); the peek here sets them visible again at once, and tools.dlq describes each.
        letters = [describe(message) for message in peek_dead_letters(_aws(state), dlq_url)]
        human = [f"{len(letters)} message(s) in WorkDeadLetterQueue"]
        human += [f"- {letter.message_id}  {letter.reason}: {letter.detail}\n    body: {letter.body_preview!r}"
                  for letter in letters]
        _emit(args, [asdict(letter) for letter in letters], "\n".join(human))
        return 0
    # moto has no StartMessageMoveTask: tools.dlq copies each message back, then deletes it.
    result = redrive(sqs, dlq_url, stack.queues["WorkQueue"].url, method="copy", max_messages=args.max)
    _emit(args, asdict(result), f"redrove {result.moved} message(s) to WorkQueue ({result.method})")
    return 0


def cmd_sam_env(args: argparse.Namespace) -> int:
    state = read_state(args.state_dir)
    stack_path = args.state_dir / "stack.json"
    if state is None and not stack_path.is_file():
        raise CliError("no deployed stack: run `python -m localcloud up --host 0.0.0.0 --detach` first")
    stack = state.stack() if state is not None else DeployedStack.load(stack_path)
    port = int(stack.endpoint_url.rsplit(":", 1)[1])
    endpoint_url = args.endpoint_url or container_endpoint_url(port)
    path = write_sam_env(stack, endpoint_url, args.out)
    _emit(args, {"path": str(path), "endpoint_url": endpoint_url},
          f"wrote {path} (AWS_ENDPOINT_URL={endpoint_url}); e.g.\n"
          f"  sam local invoke SqsWorkerFunction -e events/sqs_worker/mixed_batch.json --env-vars {path} "
          f"--docker-network host --skip-pull-image\n"
          f"The cloud must listen where containers reach it: `up --host 0.0.0.0`.")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    # Its own state directory and a free port: a demo never disturbs a cloud that `up` runs.
    state_dir = args.state_dir / "demo"
    _configure_logging(state_dir, args.verbose)
    config = replace(_config(args), port=args.port or free_port(), state_dir=state_dir)
    options = DemoOptions(orders=args.orders, malformed=args.malformed, duplicates=args.duplicates,
                          timeout_s=args.timeout, json_output=args.json)
    return run_demo(config, options, console)


def cmd_soak(args: argparse.Namespace) -> int:
    # Imported here: only the soak needs it. Its own state directory and a free port, as the demo.
    from localcloud.soak import SoakOptions, run_soak  # noqa: PLC0415

    state_dir = args.state_dir / "soak"
    _configure_logging(state_dir, args.verbose)
    if not args.verbose:
        # The injected faults make the pollers warn by design; the log file keeps every line.
        for handler in logging.getLogger().handlers:
            if not isinstance(handler, logging.FileHandler):
                handler.setLevel(logging.ERROR)
    config = replace(_config(args), port=args.port or free_port(), state_dir=state_dir)
    options = SoakOptions(orders=args.orders, duplicates=args.duplicates, malformed=args.malformed,
                          transient_rate=args.transient_rate, crash_rate=args.crash_rate,
                          timeout_rate=args.timeout_rate, function_timeout_s=args.function_timeout,
                          drain_timeout_s=args.timeout, seed=args.seed, json_output=args.json)
    return run_soak(config, options, console)


# -------------------------------------------------------------------------------------------------
# parser


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help=argparse.SUPPRESS)
    return common


def _cloud_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--port", type=int, default=DEFAULT_PORT, help="moto's port (default %(default)s)")
    options.add_argument("--host", default="127.0.0.1",
                         help="interface moto listens on; 0.0.0.0 lets Docker containers reach it")
    options.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    options.add_argument("--stack-name", default=DEFAULT_STACK_NAME)
    options.add_argument("--parameter", action="append", metavar="KEY=VALUE",
                         help="template parameter override (repeatable); Stage=dev by default")
    options.add_argument("--invoker", choices=["subprocess", "docker"], default="subprocess",
                         help="warm worker processes (default) or sam local start-lambda in Docker")
    options.add_argument("--max-concurrency", type=int, default=4,
                         help="workers per function when the template reserves no concurrency")
    options.add_argument("--no-dev-shm", action="store_true",
                         help="run functions without /dev/shm, as Lambda does (root)")
    options.add_argument("--no-pollers", action="store_true", help="deploy and invoke only; poll nothing")
    options.add_argument("--verbose", "-v", action="store_true", help="log progress to the console")
    return options


def _add_lifecycle_commands(commands: Any, common: argparse.ArgumentParser, cloud: argparse.ArgumentParser) -> None:
    up = commands.add_parser("up", parents=[common, cloud], help="start the local cloud")
    up.add_argument("--detach", "-d", action="store_true", help="run in the background")
    up.set_defaults(handler=cmd_up)
    commands.add_parser("down", parents=[common], help="stop the local cloud").set_defaults(handler=cmd_down)
    commands.add_parser("deploy", parents=[common], help="redeploy template.yaml").set_defaults(handler=cmd_deploy)
    demo = commands.add_parser("demo", parents=[common, cloud], help="everything, reconciled")
    demo.add_argument("--orders", type=int, default=300)
    demo.add_argument("--malformed", type=int, default=20)
    demo.add_argument("--duplicates", type=int, default=20)
    demo.add_argument("--timeout", type=float, default=90.0, help="how long queues may take to drain")
    demo.set_defaults(handler=cmd_demo, port=0)  # port 0: a free one
    soak = commands.add_parser("soak", parents=[common, cloud], help="orders with injected faults, reconciled")
    soak.add_argument("--orders", type=int, default=2000, help="valid orders")
    soak.add_argument("--duplicates", type=int, default=100, help="exact resends of valid orders")
    soak.add_argument("--malformed", type=int, default=50, help="bodies the worker must dead-letter")
    soak.add_argument("--transient-rate", type=float, default=0.05, help="FaultTransientRate")
    soak.add_argument("--crash-rate", type=float, default=0.01, help="FaultCrashRate")
    soak.add_argument("--timeout-rate", type=float, default=0.01, help="FaultTimeoutRate")
    soak.add_argument("--function-timeout", type=int, default=10,
                      help="SqsWorkerFunction timeout (s) in the soak's template copy; 0: template.yaml as is")
    soak.add_argument("--seed", type=int, default=7)
    soak.add_argument("--timeout", type=float, default=900.0, help="how long WorkQueue may take to drain")
    soak.set_defaults(handler=cmd_soak, port=0)


def _add_traffic_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    send = commands.add_parser("send", parents=[common], help="send generated orders to WorkQueue")
    send.add_argument("--count", "-n", type=int, default=100, help="valid orders")
    send.add_argument("--malformed", type=int, default=0, help="bodies the worker must dead-letter")
    send.add_argument("--duplicates", type=int, default=0, help="exact resends of valid orders")
    send.add_argument("--seed", type=int, default=int(time.time()))
    send.add_argument("--wait", action="store_true", help="wait until WorkQueue drains, then reconcile")
    send.add_argument("--timeout", type=float, default=120.0)
    send.set_defaults(handler=cmd_send)

    invoke = commands.add_parser("invoke", parents=[common], help="invoke a function")
    invoke.add_argument("function", help="logical id, e.g. SqsWorkerFunction")
    source = invoke.add_mutually_exclusive_group()
    source.add_argument("--event", "-e", help="event JSON file, e.g. events/sqs_worker/mixed_batch.json")
    source.add_argument("--payload", help="event JSON text")
    invoke.set_defaults(handler=cmd_invoke)

    execute = commands.add_parser("execute", parents=[common], help="run a state machine execution")
    execute.add_argument("state_machine", help="logical id, e.g. FanOutStateMachine")
    given = execute.add_mutually_exclusive_group()
    given.add_argument("--input", "-i", help="input JSON file, e.g. statemachines/inputs/small_job.json")
    given.add_argument("--input-json", help="input JSON text")
    execute.add_argument("--timeout", type=float, default=300.0)
    execute.set_defaults(handler=cmd_execute)


def _add_inspection_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    commands.add_parser("status", parents=[common], help="queues, tables, mappings").set_defaults(handler=cmd_status)
    dlq = commands.add_parser("dlq", parents=[common], help="WorkDeadLetterQueue: list or redrive")
    dlq.add_argument("action", choices=["list", "redrive"])
    dlq.add_argument("--max", type=int, default=None, help="redrive at most this many")
    dlq.set_defaults(handler=cmd_dlq)
    sam_env = commands.add_parser("sam-env", parents=[common], help="--env-vars file for sam local invoke")
    sam_env.add_argument("--out", type=Path, default=DEFAULT_STATE_DIR / "env.json")
    sam_env.add_argument("--endpoint-url", help="default: the host's Docker bridge address and the cloud's port")
    sam_env.set_defaults(handler=cmd_sam_env)


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    # The common options belong to each command only: a subcommand's defaults would silently overwrite
    # the same option given before it.
    parser = argparse.ArgumentParser(prog="python -m localcloud", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    commands = parser.add_subparsers(dest="command", required=True)
    _add_lifecycle_commands(commands, common, _cloud_options())
    _add_traffic_commands(commands, common)
    _add_inspection_commands(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except CliError as error:
        errors.print(f"[red]error:[/] {error}")
        return 1
