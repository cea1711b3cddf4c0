"""`python -m localcloud <command>`: run lambda-suite on this machine, offline.

    up [--detach]        start moto, deploy template.yaml, start invokers and pollers (Ctrl-C stops)
    down                 stop what `up --detach` started
    deploy               redeploy template.yaml into the running cloud (UpdateStack)
    send                 send generated orders to WorkQueue (--count, --malformed, --duplicates)
    invoke FUNCTION      invoke a function with an event file (through the local Lambda API)
    execute MACHINE [INPUT_FILE]  run a state machine execution and wait for its end
    status [--watch]     queues, DLQs, tables, mappings, functions (--watch: refreshed until Ctrl-C)
    logs FUNCTION        a function's log: START/END/REPORT and its own lines (--follow, --since, --filter)
    dlq list|redrive     WorkDeadLetterQueue's messages with reasons; move them back to WorkQueue
    sam-env              write the --env-vars file for `sam local invoke` against the local cloud
    demo                 everything end to end, with a reconciled report (exit 1 if it does not add up)
    soak                 orders through SqsWorkerFunction with injected faults, reconciled (exit 1 on loss)

Every command but `up`, `demo` and `soak` works on the cloud that `up` started (found via .localcloud/state.json),
or else on a running demo's or soak's; --json makes the output machine-readable.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from localcloud.cli.inspect_commands import cmd_execute, cmd_invoke, cmd_sam_env, cmd_status
from localcloud.cli.lifecycle import cmd_deploy, cmd_down, cmd_up
from localcloud.cli.logs import cmd_logs
from localcloud.cli.output import CliError, errors
from localcloud.config import DEFAULT_PORT, DEFAULT_STACK_NAME, DEFAULT_STATE_DIR, DEFAULT_TEMPLATE, PORT_VARIABLE
from localcloud.runtime.resource_limits import parse_cpu_limits
from localcloud.scenarios.commands import add_scenario_commands


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                        help="where the cloud keeps its state and logs (default .localcloud; a demo's and a "
                             "soak's are found below it)")
    return common


def _cloud_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--port", type=int, default=int(os.environ.get(PORT_VARIABLE, DEFAULT_PORT)),
                         help=f"moto's port (default %(default)s; ${PORT_VARIABLE} sets another; 0: a free one)")
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
    options.add_argument("--dev-shm", action="store_true",
                         help="give functions the host's /dev/shm back (Lambda has none; by default they run "
                              "without it, where the machine allows a mount namespace)")
    options.add_argument("--memory-limits", choices=["on", "off"], default="on",
                         help="MemorySize as each function's hard memory limit, killed past it as in Lambda "
                              "(default on; a cgroup per worker, root)")
    options.add_argument("--cpu-limits", type=_cpu_limits, default="off", metavar="off|all|FUNCTION[,FUNCTION...]",
                         help="the CPU share of MemorySize / 1769 vCPU and Lambda's visible cores, for all "
                              "functions or those named (default off: the whole machine)")
    options.add_argument("--no-pollers", action="store_true", help="deploy and invoke only; poll nothing")
    options.add_argument("--time-scale", type=float, default=None,
                         help="multiply the long AWS delays (async retries, SQS scaling steps); default 1.0 "
                              "or $LOCALCLOUD_TIME_SCALE")
    options.add_argument("--verbose", "-v", action="store_true", help="log progress to the console")
    return options


def _cpu_limits(text: str) -> str:
    try:
        parse_cpu_limits(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error
    return text


def _add_lifecycle_commands(commands: Any, common: argparse.ArgumentParser, cloud: argparse.ArgumentParser) -> None:
    up = commands.add_parser("up", parents=[common, cloud], help="start the local cloud")
    up.add_argument("--detach", "-d", action="store_true", help="run in the background")
    up.set_defaults(handler=cmd_up)
    commands.add_parser("down", parents=[common], help="stop the local cloud").set_defaults(handler=cmd_down)
    commands.add_parser("deploy", parents=[common], help="redeploy template.yaml").set_defaults(handler=cmd_deploy)


def _add_traffic_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    invoke = commands.add_parser("invoke", parents=[common], help="invoke a function")
    invoke.add_argument("function", help="logical id, e.g. SqsWorkerFunction")
    source = invoke.add_mutually_exclusive_group()
    source.add_argument("--event", "-e", help="event JSON file, e.g. events/sqs_worker/mixed_batch.json")
    source.add_argument("--payload", help="event JSON text")
    invoke.set_defaults(handler=cmd_invoke)

    execute = commands.add_parser("execute", parents=[common], help="run a state machine execution")
    execute.add_argument("state_machine", help="logical id, e.g. FanOutStateMachine")
    given = execute.add_mutually_exclusive_group()
    given.add_argument("input_file", nargs="?", metavar="INPUT_FILE",
                       help="input JSON file, e.g. statemachines/inputs/small_job.json")
    given.add_argument("--input", "-i", help="input JSON file (the same as INPUT_FILE)")
    given.add_argument("--input-json", help="input JSON text")
    execute.add_argument("--timeout", type=float, default=300.0)
    execute.set_defaults(handler=cmd_execute)


def _add_inspection_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    status = commands.add_parser("status", parents=[common], help="queues, tables, mappings, functions")
    status.add_argument("--watch", "-w", type=float, nargs="?", const=2.0, metavar="SECONDS",
                        help="refresh every SECONDS (default 2) until Ctrl-C, e.g. while a demo or soak runs")
    status.set_defaults(handler=cmd_status)
    logs = commands.add_parser("logs", parents=[common], help="a function's log events, as CloudWatch holds them")
    logs.add_argument("function", help="logical id, e.g. SqsWorkerFunction")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new events until Ctrl-C")
    logs.add_argument("--since", "-s", help="only events since then: 10m, 1h, 2d, or an ISO time")
    logs.add_argument("--filter", help="CloudWatch filter pattern: terms, ?any, -not, \"a phrase\", %%regex%% "
                                       "(--filter=-term when it starts with -)")
    logs.set_defaults(handler=cmd_logs)
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
    # A fresh copy of the cloud options for each command that takes them: argparse shares a parent's
    # actions, so one command's set_defaults(port=0) would otherwise change every other's --port default.
    _add_lifecycle_commands(commands, common, _cloud_options())
    _add_traffic_commands(commands, common)
    _add_inspection_commands(commands, common)
    add_scenario_commands(commands, common, _cloud_options)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except CliError as error:
        errors.print(f"[red]error:[/] {error}", soft_wrap=True)
        return 1
    except BrokenPipeError:
        # The reader went away (`localcloud logs F | head`): done, without a traceback at exit's flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
