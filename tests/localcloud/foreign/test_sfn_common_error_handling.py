"""AWS's "Common Error Handling Patterns" workflow (step-functions-workflows-collection), option 1.

Deployed from its own template.yaml (sfn-common-error-handling/, SOURCE.md): five python3.12
functions and two state machines (DefinitionUri + DefinitionSubstitutions, SAM policy templates, a
Connector, Globals with Tracing and LoggingConfig). Its README documents (README.md, "How it works"):

    "Both workflows have the same functionality, they look at an input, check and see if it's a number,
    if the number is odd, and if the number is even. If any of these conditions aren't met, that task
    will fail. Each task has a catch condition that routes the failures to the same common error
    handling Lambda function."

    "The option 1 state machine relies on each task using a particular format for the ResultPath of
    each tasks catch configuration. [...] The common error handling function looks in the input object
    for attribute that ends in "Failure", to get the approximate name of the task"

and "Testing": start an execution with input like `{"Number": 4}`; "depending on whether the number
is even, odd, or not a number, the Step Function will fail in different places."

Option 2's error handler uses an f-string that only Python 3.12 parses (PEP 701); this machine runs
every function on its own Python (3.11), so option 2 is deployed but not driven here (SOURCE.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.runtime.subprocess_invoker import THIS_PYTHON
from localcloud.stepfunctions.executions import run_execution
from tests.localcloud.foreign.conftest import foreign_cloud

pytestmark = pytest.mark.localcloud

APP = Path(__file__).parent / "sfn-common-error-handling"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with foreign_cloud(tmp_path_factory, APP / "template.yaml", "sfn-common-error-handling") as started:
        yield started


def execute_option_1(cloud: LocalCloud, number: Any) -> dict[str, Any]:
    # The template's own Output names the state machine, as `sam deploy` shows it.
    machine = cloud.stack.outputs["CommonErrorOption1StateMachineArn"]
    outcome = run_execution(cloud.aws.stepfunctions, machine, {"Number": number}, timeout_s=60)
    # Every failure is caught and handled, so every execution succeeds: the output says where it failed.
    assert outcome.status == "SUCCEEDED", outcome
    output: dict[str, Any] = outcome.output
    return output


def test_an_even_number_fails_in_the_odd_task_and_the_common_handler_names_it(cloud: LocalCloud) -> None:
    # Given the README's test input, an even number
    # When option 1 runs it
    output = execute_option_1(cloud, 4)

    # Then Number Lambda passed it on, Odd Lambda failed ("even number") and was caught into
    # oddLambdaFailure, Even Lambda never ran, and the common error handler named the odd task
    assert output["numberLambda"]["Payload"] == 4
    assert output["oddLambdaFailure"]["Error"] == "Exception"
    assert json.loads(output["oddLambdaFailure"]["Cause"])["errorMessage"] == "even number"
    assert not {"oddLambda", "evenLambda", "evenLambdaFailure"} & set(output)
    assert output["commonErrorLambda"]["Payload"] == "oddLambda"


def test_an_odd_number_fails_in_the_even_task_and_the_common_handler_names_it(cloud: LocalCloud) -> None:
    # Given an odd number
    # When option 1 runs it
    output = execute_option_1(cloud, 3)

    # Then the odd task succeeded, the even task failed ("odd number") and was caught, and the common
    # error handler named the even task
    assert output["oddLambda"]["Payload"] == "woohoo odd number"
    assert output["evenLambdaFailure"]["Error"] == "Exception"
    assert json.loads(output["evenLambdaFailure"]["Cause"])["errorMessage"] == "odd number"
    assert output["commonErrorLambda"]["Payload"] == "evenLambda"


def test_not_a_number_fails_in_the_number_task_and_the_common_handler_names_it(cloud: LocalCloud) -> None:
    # Given an input that is not a number
    # When option 1 runs it
    output = execute_option_1(cloud, "abc")

    # Then the number task failed with the Python exception's type as the States error (ValueError from
    # int("abc")), nothing after it ran, and the common error handler named the number task
    assert output["numberLambdaFailure"]["Error"] == "ValueError"
    assert "invalid literal for int()" in json.loads(output["numberLambdaFailure"]["Cause"])["errorMessage"]
    assert not {"numberLambda", "oddLambda", "oddLambdaFailure"} & set(output)
    assert output["commonErrorLambda"]["Payload"] == "numberLambda"


def test_the_whole_template_is_deployed_and_the_python_its_functions_run_on_is_reported(cloud: LocalCloud) -> None:
    # Given the deployed application
    stack = cloud.stack

    # Then both state machines and all five functions exist, nothing was skipped, and each function
    # reports its declared runtime next to the Python that really runs it
    assert set(stack.state_machines) == {"CommonErrorOption1StateMachine", "CommonErrorOption2StateMachine"}
    assert set(stack.functions) == {"OddFunction", "EvenFunction", "NumberFunction", "CommonErrorOption1Function",
                                    "CommonErrorOption2Function"}
    assert stack.skipped == {}
    assert cloud.invoker.runtimes()["OddFunction"] == {"declared": "python3.12", "runs_on": THIS_PYTHON}
    # The JSON log format reaches the functions (AWS_LAMBDA_LOG_FORMAT); it and Tracing are listed as
    # not emulated, by name
    assert {function.log_format for function in stack.functions.values()} == {"JSON"}
    assert sorted(stack.not_emulated["TracingConfig.Mode: Active"]) == sorted(stack.functions)
    assert sorted(stack.not_emulated["LoggingConfig.LogFormat: JSON"]) == sorted(stack.functions)
