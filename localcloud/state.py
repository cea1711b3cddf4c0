"""The state file (.localcloud/state.json): how separate CLI calls find the running local cloud.

`up` writes it once everything runs and removes it when it stops; `send`, `status`, `invoke`,
`deploy` and `down` read it. A state file whose `up` process is gone is stale and ignored (after a
kill -9, `down` still stops the moto server it names).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from localcloud.deploy.deployed_stack import DeployedStack

STATE_FILE = "state.json"
STACK_FILE = "stack.json"


class CloudState(BaseModel):
    model_config = ConfigDict(frozen=True)

    pid: int  # the `up` process
    moto_pid: int | None
    endpoint_url: str
    control_url: str
    stack_name: str
    region: str
    invoker: str
    state_dir: Path

    @property
    def stack_path(self) -> Path:
        return self.state_dir / STACK_FILE

    def stack(self) -> DeployedStack:
        return DeployedStack.load(self.stack_path)


def write_state(state: CloudState) -> None:
    path = state.state_dir / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(state.model_dump_json(indent=2))
    temporary.replace(path)


def read_state(state_dir: Path) -> CloudState | None:
    """The running cloud's state, or None when none runs (no file, or its process is gone)."""
    state = read_state_file(state_dir)
    if state is None or not _alive(state.pid):
        return None
    return state


def read_nested_states(state_dir: Path) -> list[CloudState]:
    """The running clouds in the folders right below ``state_dir`` (a demo's, a soak's: each keeps its own)."""
    if not state_dir.is_dir():
        return []
    found = (read_state(folder) for folder in sorted(state_dir.iterdir()) if folder.is_dir())
    return [state for state in found if state is not None]


def read_state_file(state_dir: Path) -> CloudState | None:
    path = state_dir / STATE_FILE
    try:
        return CloudState.model_validate(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def clear_state(state_dir: Path) -> None:
    (state_dir / STATE_FILE).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
