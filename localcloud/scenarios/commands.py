"""lambda-suite's own commands of `localcloud`: order traffic, its DLQ, the demo and the soak.

The engine (localcloud.cli) knows no resource by name; these commands know WorkQueue,
WorkDeadLetterQueue and the functions of template.yaml, and register themselves on its parser.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

from localcloud.aws.endpoint import free_port
from localcloud.cli.lifecycle import cloud_config
from localcloud.cli.output import aws_for, configure_logging, console, emit, running
from localcloud.scenarios.demo import DemoOptions, run_demo, wait_for_drain
from localcloud.scenarios.order_reconciliation import peek_dead_letters, reconcile_orders
from localcloud.scenarios.order_traffic import generate_orders, send_orders, waves


def cmd_send(args: argparse.Namespace) -> int:
    state = running(args)
    stack = state.stack()
    messages = generate_orders(args.count, malformed=args.malformed, duplicates=args.duplicates, seed=args.seed)
    queue_url = stack.queues["WorkQueue"].url
    if args.wait:
        # Duplicates as a second wave, once the originals are written (see order_traffic.waves).
        first, second = waves(messages)
        sent = send_orders(aws_for(state).sqs, queue_url, first)
        wait_for_drain(aws_for(state), stack, timeout_s=args.timeout)
        sent += send_orders(aws_for(state).sqs, queue_url, second)
        wait_for_drain(aws_for(state), stack, timeout_s=args.timeout)
    else:
        sent = send_orders(aws_for(state).sqs, queue_url, messages)
    document: dict[str, Any] = {"queue": queue_url, "sent": len(sent), "valid": args.count,
                                "malformed": args.malformed, "duplicates": args.duplicates}
    if args.wait:
        document["reconciliation"] = reconcile_orders(aws_for(state), stack, sent).to_document()
    emit(args, document, f"sent {len(sent)} message(s) to WorkQueue ({args.count} valid, {args.malformed} "
                          f"malformed, {args.duplicates} duplicates)"
                          + (f"\n{json.dumps(document['reconciliation'], indent=2)}" if args.wait else ""))
    if args.wait and not document["reconciliation"]["ok"]:
        return 1
    return 0


def cmd_dlq(args: argparse.Namespace) -> int:
    # The operator's DLQ tooling, shared with `make dlq-list` against AWS.
    from tools.dlq import describe, redrive  # noqa: PLC0415

    state = running(args)
    stack = state.stack()
    sqs = aws_for(state).sqs
    dlq_url = stack.queues["WorkDeadLetterQueue"].url
    if args.action == "list":
        # tools.dlq's own listing leaves the messages invisible for 30 s (a redrive right after it would
        # find none); the peek here sets them visible again at once, and tools.dlq describes each.
        letters = [describe(message) for message in peek_dead_letters(aws_for(state), dlq_url)]
        human = [f"{len(letters)} message(s) in WorkDeadLetterQueue"]
        human += [f"- {letter.message_id}  {letter.reason}: {letter.detail}\n    body: {letter.body_preview!r}"
                  for letter in letters]
        emit(args, [asdict(letter) for letter in letters], "\n".join(human))
        return 0
    # moto has no StartMessageMoveTask: tools.dlq copies each message back, then deletes it.
    result = redrive(sqs, dlq_url, stack.queues["WorkQueue"].url, method="copy", max_messages=args.max)
    emit(args, asdict(result), f"redrove {result.moved} message(s) to WorkQueue ({result.method})")
    return 0


def demo_cpu_limits(given: str | None, invoker: str) -> str:
    """The demo's --cpu-limits: as given, else CpuBenchmarkFunction's, so that the benchmark runs with the CPU
    its MemorySize buys in Lambda (none with the Docker invoker: sam local has no CPU setting)."""
    if given is not None:
        return given
    return "off" if invoker == "docker" else "CpuBenchmarkFunction"


def cmd_demo(args: argparse.Namespace) -> int:
    # Its own state directory and a free port: a demo never disturbs a cloud that `up` runs.
    state_dir = args.state_dir / "demo"
    configure_logging(state_dir, args.verbose)
    args.cpu_limits = demo_cpu_limits(args.cpu_limits, args.invoker)
    config = replace(cloud_config(args), port=args.port or free_port(), state_dir=state_dir)
    options = DemoOptions(orders=args.orders, malformed=args.malformed, duplicates=args.duplicates,
                          timeout_s=args.timeout, json_output=args.json)
    return run_demo(config, options, console)


def cmd_soak(args: argparse.Namespace) -> int:
    # Imported here: only the soak needs it. Its own state directory and a free port, as the demo.
    from localcloud.scenarios.soak import SoakOptions, run_soak  # noqa: PLC0415

    state_dir = args.state_dir / "soak"
    configure_logging(state_dir, args.verbose)
    if not args.verbose:
        # The injected faults make the pollers warn by design; the log file keeps every line.
        for handler in logging.getLogger().handlers:
            if not isinstance(handler, logging.FileHandler):
                handler.setLevel(logging.ERROR)
    config = replace(cloud_config(args), port=args.port or free_port(), state_dir=state_dir)
    options = SoakOptions(orders=args.orders, duplicates=args.duplicates, malformed=args.malformed,
                          transient_rate=args.transient_rate, crash_rate=args.crash_rate,
                          timeout_rate=args.timeout_rate, function_timeout_s=args.function_timeout,
                          drain_timeout_s=args.timeout, seed=args.seed, json_output=args.json)
    return run_soak(config, options, console)




def add_scenario_commands(commands: Any, common: argparse.ArgumentParser,
                          cloud_options: Callable[[], argparse.ArgumentParser]) -> None:
    """Add send, dlq, demo and soak; ``cloud_options`` makes a fresh parent parser per command."""
    demo = commands.add_parser("demo", parents=[common, cloud_options()], help="everything, reconciled")
    demo.add_argument("--orders", type=int, default=300)
    demo.add_argument("--malformed", type=int, default=20)
    demo.add_argument("--duplicates", type=int, default=20)
    demo.add_argument("--timeout", type=float, default=90.0, help="how long queues may take to drain")
    # port 0: a free one; --cpu-limits: CpuBenchmarkFunction unless given (see cmd_demo)
    demo.set_defaults(handler=cmd_demo, port=0, cpu_limits=None)
    soak = commands.add_parser("soak", parents=[common, cloud_options()],
                               help="orders with injected faults, reconciled")
    soak.add_argument("--orders", type=int, default=2000, help="valid orders")
    soak.add_argument("--duplicates", type=int, default=100, help="exact resends of valid orders")
    soak.add_argument("--malformed", type=int, default=50, help="bodies the worker must dead-letter")
    soak.add_argument("--transient-rate", type=float, default=0.05, help="FaultTransientRate")
    soak.add_argument("--crash-rate", type=float, default=0.01, help="FaultCrashRate")
    soak.add_argument("--timeout-rate", type=float, default=0.01, help="FaultTimeoutRate")
    soak.add_argument("--function-timeout", type=int, default=3,
                      help="SqsWorkerFunction and StreamConsumerFunction timeout (s) in the soak's template copy "
                           "(their safety margin scaled with it); 0: template.yaml as is")
    soak.add_argument("--seed", type=int, default=7)
    soak.add_argument("--timeout", type=float, default=900.0, help="how long WorkQueue may take to drain")
    soak.set_defaults(handler=cmd_soak, port=0)



    send = commands.add_parser("send", parents=[common], help="send generated orders to WorkQueue")
    send.add_argument("--count", "-n", type=int, default=100, help="valid orders")
    send.add_argument("--malformed", type=int, default=0, help="bodies the worker must dead-letter")
    send.add_argument("--duplicates", type=int, default=0, help="exact resends of valid orders")
    send.add_argument("--seed", type=int, default=int(time.time()))
    send.add_argument("--wait", action="store_true", help="wait until WorkQueue drains, then reconcile")
    send.add_argument("--timeout", type=float, default=120.0)
    send.set_defaults(handler=cmd_send)

    dlq = commands.add_parser("dlq", parents=[common], help="WorkDeadLetterQueue: list or redrive")
    dlq.add_argument("action", choices=["list", "redrive"])
    dlq.add_argument("--max", type=int, default=None, help="redrive at most this many")
    dlq.set_defaults(handler=cmd_dlq)
