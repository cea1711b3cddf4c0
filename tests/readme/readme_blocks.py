"""README.md's fenced code blocks, as the README test reads them: what kind each is, and its command lines.

The info string after the opening ``` says how a block is used:

    bash                 run, line by line, in order, in one shell (cd, source and exports carry over)
    bash docker          the same, and it needs a Docker engine with the Lambda images (CI has them)
    bash ctrl-c          each line runs until Ctrl-C: started, left to show something, interrupted; exit 0
    bash aws             needs an AWS account: only checked to parse (`make -n TARGET ...`, `sam CMD --help`)
    bash not-run: WHY    not run, for the reason given; the test holds the list of such commands
    text, json, yaml     output or data, no commands

Any other info string is an error, so a new block is run (or says why not) instead of slipping by.
A line's comment `# prints "TEXT"` (or `# prints 'TEXT'`, for a TEXT with double quotes) makes TEXT a
required part of that command's output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

FENCE = re.compile(r"^ {0,3}```(?P<info>.*)$")
PRINTS = re.compile(r"""\bprints (?:"(?P<double>[^"]+)"|'(?P<single>[^']+)')""")
NOT_RUN_PREFIX = "bash not-run:"


class Kind(Enum):
    RUN = "bash"
    DOCKER = "bash docker"
    CTRL_C = "bash ctrl-c"
    AWS = "bash aws"
    NOT_RUN = "bash not-run"
    DATA = "data"


DATA_INFO = {"text", "json", "yaml"}


@dataclass(frozen=True)
class Command:
    line: str  # as pasted: the comment is the shell's to ignore
    prints: str | None  # what the README says it prints, if it says so

    @property
    def words(self) -> list[str]:
        return self.line.split(" #", 1)[0].split()


@dataclass(frozen=True)
class Block:
    number: int  # 1, 2, ... in README order
    line: int  # where its opening fence is (1-based)
    info: str
    commands: tuple[Command, ...]

    @property
    def kind(self) -> Kind:
        return kind_of(self.info)

    @property
    def reason(self) -> str:
        """Why a not-run block is not run."""
        return self.info.removeprefix(NOT_RUN_PREFIX).strip()

    @property
    def id(self) -> str:
        return f"block{self.number:02d}-line{self.line}-{self.kind.name.lower()}"


class UnknownBlockError(ValueError):
    pass


def kind_of(info: str) -> Kind:
    if info.startswith(NOT_RUN_PREFIX):
        if not info.removeprefix(NOT_RUN_PREFIX).strip():
            raise UnknownBlockError(f"```{info}: a not-run block says why it is not run")
        return Kind.NOT_RUN
    if info in DATA_INFO:
        return Kind.DATA
    for kind in (Kind.RUN, Kind.DOCKER, Kind.CTRL_C, Kind.AWS):
        if info == kind.value:
            return kind
    raise UnknownBlockError(
        f"```{info}: unknown info string; use bash, bash docker, bash ctrl-c, bash aws, "
        f"bash not-run: <reason>, or text/json/yaml for output (tests/readme/readme_blocks.py)")


def commands_of(lines: list[str]) -> tuple[Command, ...]:
    """The command lines of a block: comments and blank lines skipped, backslash continuations joined."""
    commands: list[Command] = []
    pending = ""
    for raw in lines:
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        comment = full.split(" #", 1)[1] if " #" in full else ""
        prints = PRINTS.search(comment)
        commands.append(Command(full, (prints["double"] or prints["single"]) if prints else None))
    return tuple(commands)


def parse_blocks(readme: str) -> list[Block]:
    blocks: list[Block] = []
    opened: tuple[int, str] | None = None
    body: list[str] = []
    for number, line in enumerate(readme.splitlines(), start=1):
        fence = FENCE.match(line)
        if opened is None:
            if fence:
                opened, body = (number, fence["info"].strip()), []
            continue
        if fence and not fence["info"].strip():
            blocks.append(Block(len(blocks) + 1, opened[0], opened[1], commands_of(body)))
            opened = None
        else:
            body.append(line)
    if opened is not None:
        raise UnknownBlockError(f"README.md line {opened[0]}: a code block that is never closed")
    return blocks
