"""Which running cloud a command works on: `up`'s, else the one a demo or a soak runs in its own folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from localcloud.cli.output import CliError, find_running
from localcloud.state import CloudState, write_state

DEAD_PID = 2**22 + 1  # above Linux's pid_max default: no such process


def state_in(folder: Path, pid: int) -> CloudState:
    state = CloudState(pid=pid, moto_pid=None, endpoint_url="http://127.0.0.1:1", control_url="http://127.0.0.1:2",
                       stack_name="lambda-suite-dev", region="us-east-1", invoker="subprocess", state_dir=folder)
    write_state(state)
    return state


def test_the_cloud_up_started_comes_first(tmp_path: Path) -> None:
    up = state_in(tmp_path, os.getpid())
    state_in(tmp_path / "demo", os.getpid())
    assert find_running(tmp_path) == up


def test_without_it_a_running_demos_cloud_is_found(tmp_path: Path) -> None:
    # Given a stale state file of an `up` that is gone, and a demo running in .localcloud/demo
    state_in(tmp_path, DEAD_PID)
    demo = state_in(tmp_path / "demo", os.getpid())
    state_in(tmp_path / "soak", DEAD_PID)

    # Then commands work on the demo's cloud
    assert find_running(tmp_path) == demo


def test_two_running_scenarios_must_be_named(tmp_path: Path) -> None:
    state_in(tmp_path / "demo", os.getpid())
    state_in(tmp_path / "soak", os.getpid())
    with pytest.raises(CliError, match=r"several local clouds run: --state-dir .*demo, --state-dir .*soak"):
        find_running(tmp_path)


def test_none_running_is_none(tmp_path: Path) -> None:
    assert find_running(tmp_path / "never-made") is None
