"""Validate Amazon States Language files as stored: `python -m tools.asl_lint statemachines/*.asl.json`.

`make lint` runs it. Each file must be a JSON object (editors, the Step Functions graph views and
validators read the file as it is in the repository, before DefinitionSubstitutions), and statelint
(the States Language validator, https://states-language.net/spec.html) must find no problem in it.

statelint 3.1.0 does not know two Map fields that Step Functions documents; only these two reports
are let through, by their exact wording, and only where the field belongs:
- "Label" of a distributed Map state (stepfunctions/latest/dg/state-map-distributed.html, "Label");
- "InputType" of an ItemReader's ReaderConfig (stepfunctions/latest/dg/input-output-itemreader.html,
  "ReaderConfig").
Exit status 1 when any file has a problem, with one line per problem.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from statelint.linter import Linter

# statelint's wording for a field it does not know, and where Step Functions documents each one.
_UNKNOWN_FIELD = re.compile(r'^Field "(?P<field>\w+)" not allowed in (?P<where>.+)$')
DOCUMENTED_FIELDS_STATELINT_LACKS = {
    # field: a pattern the place must match (statelint names it State Machine.States.<name>...)
    "Label": re.compile(r"\.States\.[^.]+$"),
    "InputType": re.compile(r"\.ItemReader\.ReaderConfig$"),
}


def known_gap(problem: str, definition: dict[str, object]) -> bool:
    """True for a statelint report about a field Step Functions documents and statelint lacks."""
    match = _UNKNOWN_FIELD.match(problem)
    if match is None:
        return False
    place = DOCUMENTED_FIELDS_STATELINT_LACKS.get(match["field"])
    if place is None or not place.search(match["where"]):
        return False
    # A Label is a Map state's field only.
    return match["field"] != "Label" or _state_type(definition, match["where"]) == "Map"


def _state_type(definition: dict[str, object], where: str) -> object:
    node: object = definition
    for key in where.split(".")[1:]:  # "State Machine.States.Name" -> States, Name
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node.get("Type") if isinstance(node, dict) else None


def problems_of(path: Path) -> list[str]:
    try:
        definition = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        return [f"not a JSON file as stored: {error}"]
    if not isinstance(definition, dict):
        return [f"a state machine definition is a JSON object, not {type(definition).__name__}"]
    return [problem for problem in Linter.validate(definition) if not known_gap(problem, definition)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.asl_lint", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="ASL files (*.asl.json)")
    arguments = parser.parse_args(argv)
    failed = False
    for path in arguments.files:
        problems = problems_of(path)
        failed = failed or bool(problems)
        for problem in problems:
            print(f"{path}: {problem}")
        if not problems:
            print(f"{path}: valid")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
