"""`localcloud invoke`, `execute`, `status` and `sam-env`: use and look at a running local cloud."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from localcloud.cli.output import CliError, aws_for, console, emit, find_running, running
from localcloud.cli.status import collect_status, render_status, runtime_status, watch_status
from localcloud.deploy.deployed_stack import DeployedStack
from localcloud.runtime.sam_env import container_endpoint_url, write_sam_env
from localcloud.state import read_state
from localcloud.stepfunctions.executions import run_execution, state_machine_arn


def cmd_invoke(args: argparse.Namespace) -> int:
    state = running(args)
    stack = state.stack()
    logical_id = stack.function_logical_id(args.function)
    if logical_id is None:
        raise CliError(f"no function {args.function!r}; the stack has {', '.join(stack.functions)}")
    event = json.loads(Path(args.event).read_text()) if args.event else json.loads(args.payload or "{}")
    started = time.monotonic()
    # Through the local Lambda API, as `aws lambda invoke` would: the moto server routes it to the invoker.
    response = aws_for(state).lambda_client.invoke(FunctionName=stack.functions[logical_id].name,
                                                Payload=json.dumps(event).encode())
    body = response["Payload"].read()
    payload = json.loads(body) if body else None
    document = {"function": logical_id, "function_error": response.get("FunctionError"), "payload": payload,
                "duration_ms": round((time.monotonic() - started) * 1000, 1)}
    emit(args, document, json.dumps(payload, indent=2))
    return 1 if response.get("FunctionError") else 0


def cmd_execute(args: argparse.Namespace) -> int:
    state = running(args)
    stack = state.stack()
    try:
        arn = state_machine_arn(stack, args.state_machine)
    except KeyError as error:
        raise CliError(str(error.args[0])) from error
    input_file = args.input_file or args.input
    execution_input = json.loads(Path(input_file).read_text()) if input_file else json.loads(args.input_json or "{}")
    with console.status(f"running {args.state_machine}..."):
        outcome = run_execution(aws_for(state).stepfunctions, arn, execution_input, timeout_s=args.timeout)
    human = f"{outcome.status} in {outcome.duration_s:.1f} s\n"
    human += json.dumps(outcome.output, indent=2) if outcome.succeeded else f"{outcome.error}: {outcome.cause}"
    emit(args, outcome.to_document(), human)
    return 0 if outcome.succeeded else 1


def cmd_status(args: argparse.Namespace) -> int:
    if args.watch is not None:
        if args.json:
            raise CliError("--watch is a live view; --json prints one status for scripts")
        if args.watch <= 0:
            raise CliError(f"--watch takes a positive number of seconds, not {args.watch:g}")
        running(args)  # a clear error when none runs
        return watch_status(lambda: _status_if_running(args), console, args.watch)
    state = running(args)
    status = collect_status(aws_for(state), state.stack(), runtime_status(state.control_url))
    if args.json:
        emit(args, status)
    else:
        render_status(status, console)
    return 0


def _status_if_running(args: argparse.Namespace) -> dict[str, Any] | None:
    """The status now, or None once the cloud is gone (a demo or a soak ends by itself)."""
    state = find_running(args.state_dir)
    if state is None:
        return None
    try:
        return collect_status(aws_for(state), state.stack(), runtime_status(state.control_url))
    except (BotoCoreError, ClientError, OSError) as error:
        if find_running(args.state_dir) is None:
            return None  # it stopped while it was asked
        raise CliError(f"the local cloud on {state.endpoint_url} did not answer: {error}") from error


def cmd_sam_env(args: argparse.Namespace) -> int:
    state = read_state(args.state_dir)
    stack_path = args.state_dir / "stack.json"
    if state is None and not stack_path.is_file():
        raise CliError("no deployed stack: run `python -m localcloud up --host 0.0.0.0 --detach` first")
    stack = state.stack() if state is not None else DeployedStack.load(stack_path)
    port = int(stack.endpoint_url.rsplit(":", 1)[1])
    endpoint_url = args.endpoint_url or container_endpoint_url(port)
    path = write_sam_env(stack, endpoint_url, args.out)
    emit(args, {"path": str(path), "endpoint_url": endpoint_url},
          f"wrote {path} (AWS_ENDPOINT_URL={endpoint_url}); e.g.\n"
          f"  sam local invoke SqsWorkerFunction -e events/sqs_worker/mixed_batch.json --env-vars {path} "
          f"--docker-network host --skip-pull-image\n"
          f"The cloud must listen where containers reach it: `up --host 0.0.0.0`.")
    return 0
