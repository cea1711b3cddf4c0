"""What every `localcloud` command shares: its output, its errors, and finding the running cloud."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from rich.console import Console

from localcloud.aws.clients import LocalAws
from localcloud.state import CloudState, read_nested_states, read_state

console = Console(stderr=False)
errors = Console(stderr=True)


class CliError(Exception):
    """A failure to report in one line, with exit status 1."""


def emit(args: argparse.Namespace, document: Any, human: str | None = None) -> None:
    if args.json:
        print(json.dumps(document, indent=2, default=str))
    elif human is not None:
        # Lines as long as they are: rich would cut them at 80 columns in a pipe, mid-path.
        console.print(human, soft_wrap=True)


def running(args: argparse.Namespace) -> CloudState:
    """The cloud `up` runs; else the one a demo or a soak runs (each in its own folder below the state dir)."""
    state = find_running(args.state_dir)
    if state is None:
        raise CliError(f"no local cloud is running (state dir {args.state_dir}); start one with "
                       f"`localcloud up --detach`")
    return state


def find_running(state_dir: Path) -> CloudState | None:
    state = read_state(state_dir)
    if state is not None:
        return state
    nested = read_nested_states(state_dir)
    if len(nested) > 1:
        raise CliError("several local clouds run: " + ", ".join(f"--state-dir {s.state_dir}" for s in nested)
                       + "; name one")
    return nested[0] if nested else None


def aws_for(state: CloudState) -> LocalAws:
    return LocalAws(state.endpoint_url, state.region)


def configure_logging(state_dir: Path, verbose: bool) -> None:
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
    # It warns on every translation that it has no feature toggle configuration (none is needed here).
    logging.getLogger("samtranslator.feature_toggle").setLevel(logging.ERROR)
