"""ASL fields the local cloud's Step Functions (moto's interpreter and localcloud.motoserver) do not run
as AWS does: a definition that uses one is refused at deploy, naming the state and the field.

- ResultWriter.WriterConfig (OutputType JSON/JSONL, Transformation NONE/COMPACT/FLATTEN;
  step-functions/latest/dg/input-output-resultwriter.html): moto's grammar has no such field, and the
  result files the local cloud writes are the NONE/JSON form AWS writes without a WriterConfig.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

REFUSED_MAP_FIELDS: Final[dict[tuple[str, str], str]] = {
    ("ResultWriter", "WriterConfig"): "the output formats and transformations of a ResultWriter are not "
                                      "emulated (results are written as AWS writes them without a WriterConfig)",
}


def unemulated_fields(definition: Mapping[str, Any]) -> list[str]:
    """One line per refused field of the definition's states, nested ones included."""
    return [f"state {name!r}: {'.'.join(path)}: {reason}" for name, path, reason in _refused(definition)]


def _refused(node: Mapping[str, Any]) -> Iterator[tuple[str, tuple[str, str], str]]:
    for name, state in (node.get("States") or {}).items():
        if not isinstance(state, Mapping):
            continue
        if state.get("Type") == "Map":
            for (parent, field), reason in REFUSED_MAP_FIELDS.items():
                container = state.get(parent)
                if isinstance(container, Mapping) and field in container:
                    yield name, (parent, field), reason
        for nested in (state.get("ItemProcessor"), state.get("Iterator")):
            if isinstance(nested, Mapping):
                yield from _refused(nested)
        for branch in state.get("Branches") or []:
            if isinstance(branch, Mapping):
                yield from _refused(branch)
