"""Which runtime a function runs on here, and what Lambda tells the runtime about its logging.

The subprocess invoker runs every Python function on this machine's interpreter, whatever pythonX.Y
the template declares, says so, and refuses a function whose runtime is not Python. A function with
LoggingConfig's JSON format gets AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL, as Lambda sets them
(lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html: "behind the scenes Lambda sets the
application log level in the runtime using the AWS_LAMBDA_LOG_LEVEL environment variable. Lambda also
sets your function's log format using the AWS_LAMBDA_LOG_FORMAT environment variable"; the default
application log level of the JSON format is INFO).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from localcloud.deploy.deployed_stack import DeployedFunction, DeployedStack
from localcloud.runtime.environment import sandbox_environment
from localcloud.runtime.subprocess_invoker import SubprocessInvoker, UnsupportedRuntime

pytestmark = pytest.mark.localcloud


def function(logical_id: str, tmp_path: Path, **settings: Any) -> DeployedFunction:
    return DeployedFunction(logical_id=logical_id, name=f"stack-{logical_id}",
                            arn=f"arn:aws:lambda:us-east-1:123456789012:function:stack-{logical_id}",
                            handler="app.handler", code_dir=tmp_path, timeout_s=3, memory_mb=128, **settings)


def stack_of(*functions: DeployedFunction) -> DeployedStack:
    return DeployedStack(stack_name="stack", stack_id="stack-id", status="CREATE_COMPLETE", region="us-east-1",
                         account_id="123456789012", endpoint_url="http://127.0.0.1:1", resources={},
                         functions={each.logical_id: each for each in functions})


def test_a_function_whose_runtime_is_not_python_is_refused_by_name(tmp_path: Path) -> None:
    # Given a stack with a Python function and two that are not
    stack = stack_of(function("Py", tmp_path, runtime="python3.12"), function("Node", tmp_path, runtime="nodejs20.x"),
                     function("Java", tmp_path, runtime="java21"))

    # When the subprocess invoker is made for it, Then it refuses, naming each function and its runtime
    with pytest.raises(UnsupportedRuntime, match=r"Java \(java21\), Node \(nodejs20\.x\)"):
        SubprocessInvoker(stack, endpoint_url="http://127.0.0.1:1", log_dir=tmp_path)


def test_python_functions_are_reported_with_the_python_they_run_on(tmp_path: Path) -> None:
    # Given functions declaring older and newer Pythons than this machine's
    stack = stack_of(function("Old", tmp_path, runtime="python3.9"), function("New", tmp_path, runtime="python3.13"))

    # When the subprocess invoker is made for it
    invoker = SubprocessInvoker(stack, endpoint_url="http://127.0.0.1:1", log_dir=tmp_path)

    # Then each one's declared runtime stands next to the interpreter that really runs it
    this_python = "python{}.{}.{}".format(*sys.version_info[:3])
    assert invoker.runtimes() == {"Old": {"declared": "python3.9", "runs_on": this_python},
                                  "New": {"declared": "python3.13", "runs_on": this_python}}
    invoker.stop()


def test_the_json_log_format_sets_lambdas_log_variables_with_info_by_default(tmp_path: Path) -> None:
    # Given functions with the JSON log format, with and without an application log level, and one with text
    functions = [function("Json", tmp_path, log_format="JSON"),
                 function("Debug", tmp_path, log_format="JSON", application_log_level="DEBUG"),
                 function("Text", tmp_path)]

    # When their sandbox environments are built
    environments = {each.logical_id: sandbox_environment(each, endpoint_url="http://127.0.0.1:1", region="us-east-1")
                    for each in functions}

    # Then the JSON ones get the format and their level (INFO by default), the text one neither
    assert {key: environments["Json"].get(key) for key in ("AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL")} == {
        "AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"}
    assert environments["Debug"]["AWS_LAMBDA_LOG_LEVEL"] == "DEBUG"
    assert not {"AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL"} & set(environments["Text"])
