"""`localcloud up`, `down` and `deploy`: start the local cloud (in the foreground or detached), stop it, redeploy."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from localcloud.aws.endpoint import process_alive, stop_process
from localcloud.cli.limits_view import limits_lines
from localcloud.cli.output import CliError, configure_logging, console, emit, running
from localcloud.cloud import LocalCloud
from localcloud.config import CloudConfig
from localcloud.deploy.deployed_stack import DeployedStack
from localcloud.runtime.cgroups import release_recorded_groups
from localcloud.runtime.subprocess_invoker import SubprocessInvoker
from localcloud.state import clear_state, read_state, read_state_file

DOWN_TIMEOUT_S = 60.0
DETACH_TIMEOUT_S = 180.0


def cloud_config(args: argparse.Namespace) -> CloudConfig:
    parameters = {"Stage": "dev"}
    for assignment in args.parameter or []:
        key, separator, value = assignment.partition("=")
        if not separator:
            raise CliError(f"--parameter takes KEY=VALUE, not {assignment!r}")
        parameters[key] = value
    return CloudConfig(
        port=args.port, host=args.host, template=args.template, stack_name=args.stack_name, parameters=parameters,
        state_dir=args.state_dir, invoker=args.invoker, max_concurrency=args.max_concurrency,
        dev_shm=args.dev_shm, start_pollers=not args.no_pollers,
        memory_limits=args.memory_limits == "on", cpu_limits=args.cpu_limits,
        **({"time_scale": args.time_scale} if getattr(args, "time_scale", None) is not None else {}),
    )


def cmd_up(args: argparse.Namespace) -> int:
    existing = read_state(args.state_dir)
    if existing is not None:
        raise CliError(f"a local cloud already runs on {existing.endpoint_url} (pid {existing.pid}); "
                       f"`python -m localcloud down` first")
    if args.detach:
        return _up_detached(args)
    configure_logging(args.state_dir, args.verbose)
    stop = threading.Event()
    # SIGTERM (`down`) and SIGINT (Ctrl-C) both stop it, also when started where SIGINT was ignored
    # (a background job of a non-interactive shell).
    for stopping_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stopping_signal, lambda _signum, _frame: stop.set())
    cloud = LocalCloud(cloud_config(args))
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
    runtimes = cloud.invoker.runtimes() if isinstance(cloud.invoker, SubprocessInvoker) else {}
    document = {"endpoint_url": cloud.config.endpoint_url, "stack_name": stack.stack_name, "pid": os.getpid(),
                "functions": list(stack.functions), "queues": {k: q.url for k, q in stack.queues.items()},
                "tables": {k: t.name for k, t in stack.tables.items()}, "state_machines": list(stack.state_machines),
                "mappings": list(stack.event_source_mappings), "runtimes": runtimes, "skipped": stack.skipped,
                "skipped_outputs": stack.skipped_outputs, "not_emulated": stack.not_emulated,
                "resource_limits": cloud.invoker.resource_limits()}
    lines = [
        f"[bold green]local cloud up[/] on {cloud.config.endpoint_url} (stack {stack.stack_name}, "
        f"invoker {cloud.config.invoker})",
        f"  functions: {', '.join(stack.functions)}",
        *_runtime_lines(runtimes),
        f"  queues: {', '.join(stack.queues)}",
        f"  tables: {', '.join(stack.tables)}",
        f"  state machines: {', '.join(stack.state_machines) or '-'}",
        f"  mappings polled: {', '.join(stack.event_source_mappings) or '-'}",
        *_not_emulated_lines(stack),
        *limits_lines(cloud.invoker),
        f"  logs: {cloud.config.log_dir} (a function's: `localcloud logs FUNCTION --follow`)",
        "  export AWS_ENDPOINT_URL=" + cloud.config.endpoint_url + " to use the AWS CLI/boto3 against it",
        "Ctrl-C (or `python -m localcloud down`) stops it.",
    ]
    emit(args, document, "\n".join(lines))


def _runtime_lines(runtimes: dict[str, dict[str, str | None]]) -> list[str]:
    declared = sorted({str(runtime["declared"]) for runtime in runtimes.values() if runtime["declared"]})
    runs_on = {runtime["runs_on"] for runtime in runtimes.values()}
    return [f"  runtimes: {', '.join(declared)}, run on {', '.join(sorted(map(str, runs_on)))} (this machine's)"
            ] if declared else []


def _not_emulated_lines(stack: DeployedStack) -> list[str]:
    """What the deploy left out or does not emulate, each by name (never silently)."""
    lines = []
    if stack.skipped:
        lines.append("  skipped (not emulated): "
                     + ", ".join(f"{logical_id} ({kind})" for logical_id, kind in stack.skipped.items()))
    if stack.skipped_outputs:
        lines.append("  outputs skipped: " + ", ".join(
            f"{name} (names {', '.join(named)})" for name, named in stack.skipped_outputs.items()))
    lines += [f"  not emulated: {setting} ({', '.join(logical_ids)})"
              for setting, logical_ids in stack.not_emulated.items()]
    return lines


def _up_argv(args: argparse.Namespace) -> list[str]:
    """The same `up`, in the foreground, for the background process."""
    argv = [sys.executable, "-m", "localcloud", "up", "--state-dir", str(args.state_dir), "--port", str(args.port),
            "--host", args.host, "--template", str(args.template), "--stack-name", args.stack_name,
            "--invoker", args.invoker, "--max-concurrency", str(args.max_concurrency),
            "--memory-limits", args.memory_limits, "--cpu-limits", args.cpu_limits]
    for assignment in args.parameter or []:
        argv += ["--parameter", assignment]
    if getattr(args, "time_scale", None) is not None:
        argv += ["--time-scale", str(args.time_scale)]
    argv += [flag for flag, given in (("--dev-shm", args.dev_shm), ("--no-pollers", args.no_pollers),
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
                emit(args, state.model_dump(mode="json"),
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
        release_recorded_groups(args.state_dir)
        emit(args, {"stopped": False}, "no local cloud is running")
        return 0
    stopped = stop_process(state.pid, grace_s=DOWN_TIMEOUT_S)
    # After a kill -9 of `up` its moto server may still run: it is ours to stop too.
    if state.moto_pid is not None and process_alive(state.moto_pid):
        stop_process(state.moto_pid)
    clear_state(args.state_dir)
    release_recorded_groups(args.state_dir)  # what an `up` killed before its own cleanup left behind
    emit(args, {"stopped": stopped, "pid": state.pid}, f"local cloud stopped (pid {state.pid})")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    state = running(args)
    request = _post(state.control_url + "/deploy", {})
    emit(args, request, f"redeployed {request.get('stack_name')}: {request.get('status')} "
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
