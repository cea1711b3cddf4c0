"""tools.asl_lint: the ASL files are JSON as stored and pass statelint (what `make lint` runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.asl_lint import main, problems_of

ROOT = Path(__file__).resolve().parents[3]
CASES = ROOT / "tests" / "data" / "asl"


@pytest.mark.parametrize("path", sorted((ROOT / "statemachines").glob("*.asl.json")), ids=lambda p: p.name)
def test_every_state_machine_of_the_project_is_valid_as_stored(path: Path) -> None:
    # When the file is read as the repository holds it (no substitutions applied)
    problems = problems_of(path)

    # Then it is JSON and statelint finds nothing
    assert problems == []


def test_a_placeholder_outside_a_string_is_reported_as_not_json() -> None:
    # Given a Map whose MaxConcurrency is a bare ${...} placeholder
    # When it is linted, Then the one problem says the file is not JSON
    (problem,) = problems_of(CASES / "bare_placeholder.asl.json")
    assert problem.startswith("not a JSON file as stored")


def test_a_definition_that_is_not_an_object_is_refused() -> None:
    # statelint itself accepts any JSON that is not an object without a word
    assert problems_of(CASES / "not_an_object.asl.json") == [
        "a state machine definition is a JSON object, not list"]


def test_statelints_own_checks_apply() -> None:
    # Given a Next naming a state that does not exist
    problems = problems_of(CASES / "next_to_a_missing_state.asl.json")

    # Then statelint's report is passed on
    assert 'No state found named "Second", referenced at State Machine.States.First.Next' in problems


def test_the_documented_fields_statelint_lacks_pass_on_a_distributed_map_only() -> None:
    # Given a distributed Map with Label and ReaderConfig.InputType (both in the Step Functions docs)
    # Then it is valid
    assert problems_of(CASES / "distributed_map_with_label.asl.json") == []
    # And a Label on a Task state is still an error
    assert problems_of(CASES / "label_on_a_task.asl.json") == ['Field "Label" not allowed in State Machine.States.Work']


def test_the_command_exits_1_when_any_file_has_a_problem(capsys: pytest.CaptureFixture[str]) -> None:
    # When one good and one bad file are linted together
    status = main([str(CASES / "distributed_map_with_label.asl.json"), str(CASES / "label_on_a_task.asl.json")])

    # Then it fails and names the bad file's problem, and the good file as valid
    out = capsys.readouterr().out
    assert status == 1
    assert "distributed_map_with_label.asl.json: valid" in out
    assert 'label_on_a_task.asl.json: Field "Label" not allowed' in out
