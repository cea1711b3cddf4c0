"""The command line as README.md writes it: defaults, positional arguments, and what each command accepts."""

from __future__ import annotations

import pytest

from localcloud.cli import build_parser
from localcloud.cli.lifecycle import _up_argv, cloud_config
from localcloud.config import DEFAULT_PORT, PORT_VARIABLE
from localcloud.scenarios.commands import demo_cpu_limits


@pytest.fixture(autouse=True)
def no_port_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PORT_VARIABLE, raising=False)


def help_of(command: str) -> str:
    subcommands = next(action for action in build_parser()._actions if action.dest == "command")
    text: str = subcommands.choices[command].format_help()  # type: ignore[index]
    return " ".join(text.split())


def test_up_listens_on_4566_and_says_so_while_demo_and_soak_take_a_free_port() -> None:
    # Regression: demo's and soak's set_defaults(port=0) once changed the --port default that `up` shared
    # with them through one parent parser, and `up --detach` waited for moto on port 0.
    assert build_parser().parse_args(["up"]).port == DEFAULT_PORT == 4566
    assert "moto's port (default 4566;" in help_of("up")
    assert build_parser().parse_args(["demo"]).port == 0
    assert build_parser().parse_args(["soak"]).port == 0
    assert "(default 0;" in help_of("demo")


def test_the_port_variable_changes_ups_default_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PORT_VARIABLE, "4599")
    assert build_parser().parse_args(["up"]).port == 4599
    assert build_parser().parse_args(["demo"]).port == 0


JOB = "statemachines/inputs/small_job.json"


def test_execute_takes_the_input_file_as_readme_writes_it_or_with_input() -> None:
    positional = build_parser().parse_args(["execute", "FanOutStateMachine", JOB])
    flag = build_parser().parse_args(["execute", "FanOutStateMachine", "--input", JOB])
    assert (positional.state_machine, positional.input_file, positional.input) == ("FanOutStateMachine", JOB, None)
    assert (flag.input_file, flag.input) == (None, JOB)


def test_execute_refuses_two_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["execute", "FanOutStateMachine", "a.json", "--input-json", "{}"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_status_watch_refreshes_every_two_seconds_unless_told() -> None:
    assert build_parser().parse_args(["status"]).watch is None
    assert build_parser().parse_args(["status", "--watch"]).watch == 2.0
    assert build_parser().parse_args(["status", "--watch", "0.5"]).watch == 0.5


def test_logs_takes_a_function_and_the_sam_logs_options() -> None:
    args = build_parser().parse_args(["logs", "SqsWorkerFunction", "--follow", "--since", "10m", "--filter", "REPORT"])
    assert (args.function, args.follow, args.since, args.filter, args.json) == (
        "SqsWorkerFunction", True, "10m", "REPORT", False)


def test_up_runs_functions_without_dev_shm_unless_dev_shm_gives_it_back() -> None:
    # Given `up` as README.md describes it, with and without --dev-shm (and the old opt-in spelling)
    default, given_back = (build_parser().parse_args(argv) for argv in (["up"], ["up", "--dev-shm"]))

    # Then the default sandbox has no /dev/shm, --dev-shm keeps the host's, and a detached up passes it on
    assert cloud_config(default).dev_shm is False
    assert cloud_config(given_back).dev_shm is True
    assert "--dev-shm" in _up_argv(given_back) and "--dev-shm" not in _up_argv(default)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["up", "--no-dev-shm"])  # removed: no /dev/shm is the default now


def test_cpu_limits_are_off_by_default_for_up_and_on_for_the_benchmark_in_the_demo() -> None:
    # up: memory limits on, CPU limits off; the demo limits the CPU of the function whose CPU it measures
    up = build_parser().parse_args(["up"])
    assert (up.memory_limits, up.cpu_limits) == ("on", "off")
    demo = build_parser().parse_args(["demo"])
    assert demo_cpu_limits(demo.cpu_limits, demo.invoker) == "CpuBenchmarkFunction"
    # (the Docker invoker has no CPU setting, and an explicit choice is kept)
    assert demo_cpu_limits(demo.cpu_limits, "docker") == "off"
    assert demo_cpu_limits("all", "subprocess") == "all"
    named = build_parser().parse_args(["up", "--cpu-limits", "CpuBenchmarkFunction,FanOutWorkerFunction"])
    assert named.cpu_limits == "CpuBenchmarkFunction,FanOutWorkerFunction"


def test_cpu_limits_refuse_an_empty_list(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["up", "--cpu-limits", ","])
    assert "--cpu-limits takes off, all or FUNCTION[,FUNCTION...]" in capsys.readouterr().err
