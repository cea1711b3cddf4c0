"""Every command in README.md works as written: its code blocks, run in order in a fresh clone.

The README is read at test time from the committed HEAD (never a copy of its commands here), the
repository is cloned at that commit into a temporary folder, and each command line of each block is
pasted into one shell there, in order, as a user would (tests/readme/readme_blocks.py says how the
blocks are marked; tests/readme/pasting_shell.py how lines run). Each must exit 0 within its time
limit and print what the README says it prints. The clone builds its own venv (`make demo` runs
`make setup`), and nothing of this checkout's venv is on the shell's PATH.

`make test-readme` runs it; `make test` (and so CI) includes it. Commands that need an AWS account
are only checked to parse; the one that must not run here (`make test`, which runs this test) is
named in NOT_RUN, and the test fails when the README's not-run commands are anything else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud.aws.endpoint import free_port
from localcloud.config import PORT_VARIABLE
from tests.readme.pasting_shell import Outcome, PastingShell
from tests.readme.readme_blocks import Block, Command, Kind, UnknownBlockError, parse_blocks
from tests.support import sam_cli
from tests.support.requirements import require_facility

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# Commands the README shows but this test must not run, and why.
NOT_RUN = {"make test": "it runs this very test (CI runs it through .ci/run)",
           "make memory-sweep": "ten memory sizes of the whole benchmark (CPU and I/O halves, three repeats) "
                                "take many minutes",
           "make memory-sweep MEMORY=512,1769,3538": "ten memory sizes of the whole benchmark (CPU and I/O "
                                                     "halves, three repeats) take many minutes",
           "make memory-sweep MEMORY=512,1769,3538 EVENT=events/cpu_benchmark/sweep_precise.json":
               "three memory sizes of five times the CPU work take about 3 minutes (measured: 3 min 10 s)"}
COMMAND_TIMEOUT_S = 1200.0  # the longest, `make demo` in a fresh clone, builds the venv first
CTRL_C_SHOWS_WITHIN_S = 120.0
CTRL_C_RUNS_FOR_S = 8.0
# What a user's shell would not have: this checkout's venv, pytest's and make's own variables.
DROPPED_VARIABLES = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES"}


def committed(path: str) -> tuple[str, str]:
    """(HEAD's commit, the file's text at HEAD)."""
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    text = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout
    return commit, text


COMMIT, README = committed("README.md")
try:
    BLOCKS = parse_blocks(README)
    PARSE_ERROR: str | None = None
except UnknownBlockError as error:
    BLOCKS, PARSE_ERROR = [], str(error)


def test_every_block_is_of_a_known_kind() -> None:
    # A new block with an unknown (or no) info string fails here with what to write instead
    assert PARSE_ERROR is None, PARSE_ERROR
    for block in BLOCKS:
        try:
            block.kind  # noqa: B018 - raises for an unknown info string
        except UnknownBlockError as error:
            pytest.fail(f"README.md line {block.line}: {error}")


def test_the_commands_not_run_are_exactly_the_expected_ones() -> None:
    # Given every not-run block of the README
    not_run = {command.line.split(" #", 1)[0].strip(): block.reason
               for block in BLOCKS if block.kind is Kind.NOT_RUN for command in block.commands}

    # Then they are the ones this test knows must not run, and nothing else slipped in
    assert set(not_run) == set(NOT_RUN), (f"not-run commands in README.md: {not_run}; expected {NOT_RUN}. "
                                          f"Run a new command (```bash) or add it to NOT_RUN with its reason.")


def test_every_aws_command_has_a_parse_check() -> None:
    for block in BLOCKS:
        if block.kind is Kind.AWS:
            for command in block.commands:
                assert parse_check(command) is not None, f"README.md line {block.line}: no check for {command.line}"


def parse_check(command: Command) -> str | None:
    """What shows an AWS-only command is well formed without an account: make's dry run, sam's help."""
    words = command.words
    if words[0] == "make":
        return " ".join(["make", "-n", *words[1:]])
    if words[0] == "sam" and len(words) > 1:
        return f"sam {words[1]} --help"
    return None


# -------------------------------------------------------------------------------------------------
# the fresh clone, and its shell


def user_environment() -> dict[str, str]:
    """This process's environment as a user's shell would have it: no venv active, no pytest/make variables."""
    venv_bins = {str(Path(sys.prefix) / "bin"), str(ROOT / ".venv" / "bin")}
    env = {name: value for name, value in os.environ.items()
           if name not in DROPPED_VARIABLES and not name.startswith("PYTEST")}
    env["PATH"] = os.pathsep.join(entry for entry in env.get("PATH", "").split(os.pathsep)
                                  if entry and entry.rstrip("/") not in venv_bins)
    # `up`'s port, so that a cloud on this shared machine's 4566 is not disturbed (CI has none).
    env[PORT_VARIABLE] = str(free_port())
    return env


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("readme") / "lambda-suite"
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(ROOT), str(folder)], check=True)
    subprocess.run(["git", "checkout", "--quiet", COMMIT], cwd=folder, check=True)
    yield folder
    # Whatever a failed line left running there: its local cloud (`up --detach` starts its own session).
    python = folder / ".venv" / "bin" / "python"
    if python.exists():
        subprocess.run([str(python), "-m", "localcloud", "down"], cwd=folder, capture_output=True, timeout=120,
                       check=False)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def shell(clone: Path) -> Iterator[PastingShell]:
    pasting = PastingShell(clone, user_environment(), clone.parent / "outputs")
    yield pasting
    pasting.close()


def check(block: Block, outcome: Outcome, prints: str | None) -> None:
    where = f"README.md line {block.line} (block {block.number}, ```{block.info})"
    assert outcome.status == 0, f"{where}:\n{outcome.describe()}"
    if prints is not None:
        assert prints in outcome.output, f"{where}: the README says it prints {prints!r}:\n{outcome.describe()}"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.kind is not Kind.DATA], ids=lambda b: b.id)
def test_readme_block(block: Block, shell: PastingShell) -> None:
    # Given the README's blocks before this one have run in the same shell (the blocks run in order)
    if block.kind is Kind.NOT_RUN:
        pytest.skip(f"not run: {block.reason}")  # the set of these is checked above
    if block.kind is Kind.DOCKER and not sam_cli.docker_available():
        require_facility("no Docker engine answers `docker info`; the README's Docker commands need one")

    # When each of its lines is pasted into the shell
    for command in block.commands:
        if block.kind is Kind.AWS:
            check_line = parse_check(command)
            assert check_line is not None, command.line
            check(block, shell.run(check_line, COMMAND_TIMEOUT_S), None)
        elif block.kind is Kind.CTRL_C:
            outcome = shell.run_until_interrupted(" ".join(command.words), shows_within_s=CTRL_C_SHOWS_WITHIN_S,
                                                  runs_for_s=CTRL_C_RUNS_FOR_S)
            # Then it showed something before Ctrl-C, and Ctrl-C ended it cleanly
            assert outcome.output.strip(), f"README.md line {block.line}: printed nothing:\n{outcome.describe()}"
            check(block, outcome, command.prints)
        else:
            # Then it exits 0 and prints what the README says it prints
            check(block, shell.run(command.line, COMMAND_TIMEOUT_S), command.prints)
