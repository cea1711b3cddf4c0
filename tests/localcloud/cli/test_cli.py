"""The CLI as a user drives it: up --detach, then separate commands find the cloud, then down."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from localcloud.aws.endpoint import free_port, is_healthy
from localcloud.config import PROJECT_ROOT
from localcloud.runtime.sam_env import sam_env_vars
from localcloud.state import read_state
from tests.localcloud.waiting import wait_for

pytestmark = [pytest.mark.localcloud, pytest.mark.slow]

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), str(PROJECT_ROOT / "layers" / "common")])}


def localcloud(state_dir: Path, *args: str, timeout_s: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "localcloud", *args, "--state-dir", str(state_dir)],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, env=ENV, timeout=timeout_s, check=False)


def json_of(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def detached_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    state_dir = tmp_path_factory.mktemp("cli-cloud")
    started = localcloud(state_dir, "up", "--detach", "--json", "--port", str(free_port()))
    assert started.returncode == 0, started.stderr + started.stdout
    yield state_dir
    localcloud(state_dir, "down")


def test_up_detached_leaves_a_cloud_that_later_commands_find(detached_cloud: Path) -> None:
    # Given `up --detach` has returned
    state = read_state(detached_cloud)

    # Then the state file names a live process and a healthy endpoint
    assert state is not None
    assert is_healthy(state.endpoint_url)

    # When `status --json` runs in another process, Then it sees the deployed queues, tables and pollers
    status = json_of(localcloud(detached_cloud, "status", "--json"))
    assert status["running"] is True
    assert {"WorkQueue", "WorkDeadLetterQueue"} <= set(status["queues"])
    assert "ItemsTable" in status["tables"]
    assert "SqsWorkerFunctionWorkQueueEvent" in status["mappings"]


def test_send_wait_reconciles_and_dlq_list_shows_the_reasons(detached_cloud: Path) -> None:
    # When orders with malformed ones and duplicates are sent and waited for
    sent = json_of(localcloud(detached_cloud, "send", "--count", "20", "--malformed", "3", "--duplicates", "2",
                              "--seed", "5", "--wait", "--json"))

    # Then the run reconciles, and `dlq list` shows the three malformed ones with their reasons
    assert sent["reconciliation"]["ok"] is True
    assert sent["reconciliation"]["written"] == 20
    assert sent["reconciliation"]["suppressed_duplicates"] == 2
    letters = json_of(localcloud(detached_cloud, "dlq", "list", "--json"))
    assert len(letters) >= 3
    assert {letter["reason"] for letter in letters} <= {"malformed_json", "not_an_object", "invalid_order",
                                                         "empty_body"}


def test_dlq_redrive_sends_the_dead_letters_back_through_the_worker(detached_cloud: Path) -> None:
    # Given dead letters (malformed orders) in WorkDeadLetterQueue
    before = json_of(localcloud(detached_cloud, "dlq", "list", "--json"))
    assert before

    # When they are redriven to WorkQueue
    redriven = json_of(localcloud(detached_cloud, "dlq", "redrive", "--json"))

    # Then each went back (copied, then deleted), the worker dead-lettered each again, and none was lost
    assert redriven["moved"] == len(before)

    def all_back() -> list[dict[str, Any]] | None:
        letters: list[dict[str, Any]] = json_of(localcloud(detached_cloud, "dlq", "list", "--json"))
        return letters if len(letters) == len(before) else None

    after = wait_for(all_back, timeout_s=60, what="the letters back in the DLQ")
    assert sorted(letter["body_preview"] for letter in after) == sorted(letter["body_preview"] for letter in before)


def test_execute_runs_a_state_machine_to_its_end(detached_cloud: Path) -> None:
    # When the fan-out runs the small job through the CLI
    # (the input file as README.md writes it: a positional argument; --input works the same, test_parser.py)
    outcome = json_of(localcloud(detached_cloud, "execute", "FanOutStateMachine",
                                 str(PROJECT_ROOT / "statemachines" / "inputs" / "small_job.json"), "--json"))

    # Then it succeeded and the answer is the known one
    assert outcome["status"] == "SUCCEEDED"
    assert outcome["output"]["matches_known_value"] is True


def test_deploy_redeploys_into_the_running_cloud(detached_cloud: Path) -> None:
    # When `deploy` asks the running cloud to deploy template.yaml again
    result = json_of(localcloud(detached_cloud, "deploy", "--json"))

    # Then the stack was updated in place and the cloud still answers
    assert result["status"] == "UPDATE_COMPLETE"
    assert json_of(localcloud(detached_cloud, "status", "--json"))["running"] is True


def test_invoke_runs_a_function_with_an_event_file(detached_cloud: Path) -> None:
    # When SqsWorkerFunction is invoked with a sample event through the CLI
    result = json_of(localcloud(detached_cloud, "invoke", "SqsWorkerFunction", "--event",
                                str(PROJECT_ROOT / "events" / "sqs_worker" / "valid_batch.json"), "--json"))

    # Then the function answered with an empty partial batch response
    assert result["function_error"] is None
    assert result["payload"] == {"batchItemFailures": []}


def report_of(events: list[dict[str, Any]], request_id: str) -> dict[str, str] | None:
    for event in events:
        if event["message"].startswith(f"REPORT RequestId: {request_id}\t"):
            return dict(field.split(": ", 1) for field in event["message"].removeprefix("REPORT ").split("\t"))
    return None


def test_logs_show_each_invoke_with_start_end_and_its_report(detached_cloud: Path) -> None:
    # Given an invoke of SqsWorkerFunction through the CLI
    assert localcloud(detached_cloud, "invoke", "SqsWorkerFunction", "--event",
                      str(PROJECT_ROOT / "events" / "sqs_worker" / "valid_batch.json")).returncode == 0

    # When its log is read as JSON events, only the REPORT lines of the last few minutes
    def reports() -> list[dict[str, Any]]:
        result = localcloud(detached_cloud, "logs", "SqsWorkerFunction", "--json", "--since", "10m",
                            "--filter", "REPORT")
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    events = wait_for(reports, timeout_s=30, what="a REPORT line of SqsWorkerFunction")

    # Then each REPORT carries the invoke's figures, with the function's memory size
    memory = read_state(detached_cloud).stack().functions["SqsWorkerFunction"].memory_mb  # type: ignore[union-attr]
    request_id = events[-1]["message"].split()[2]
    report = report_of(events, request_id)
    assert report is not None
    assert report["Memory Size"] == f"{memory} MB"
    assert float(report["Duration"].removesuffix(" ms")) > 0
    assert int(report["Billed Duration"].removesuffix(" ms")) >= 1
    # And the whole log has that invoke's START and END
    everything = [json.loads(line)["message"] for line in
                  localcloud(detached_cloud, "logs", "SqsWorkerFunction", "--json").stdout.splitlines()]
    assert f"START RequestId: {request_id} Version: $LATEST" in everything
    assert f"END RequestId: {request_id}" in everything


class OutputLines:
    """A running command's stdout, line by line, as it comes (read by a thread)."""

    def __init__(self, *args: str, env: dict[str, str] = ENV) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "localcloud", *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT, env=env)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, what: str, matching: Callable[[list[str]], bool], timeout_s: float = 60) -> None:
        wait_for(lambda: matching(list(self.lines)), timeout_s=timeout_s, what=what)

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C; its exit status and stderr."""
        self.process.send_signal(signal.SIGINT)
        _, err = self.process.communicate(timeout=30)
        self._reader.join(10)
        return self.process.returncode, err


def invoke_worker(state_dir: Path) -> None:
    assert localcloud(state_dir, "invoke", "SqsWorkerFunction", "--event",
                      str(PROJECT_ROOT / "events" / "sqs_worker" / "valid_batch.json")).returncode == 0


def test_logs_follow_shows_new_invokes_until_ctrl_c(detached_cloud: Path) -> None:
    # Given `logs --follow` running, showing the REPORT lines from the test's start on
    since = datetime.now(UTC).isoformat()
    follower = OutputLines("logs", "SqsWorkerFunction", "--follow", "--json", "--filter", "REPORT", "--since", since,
                           "--state-dir", str(detached_cloud))
    try:
        invoke_worker(detached_cloud)
        follower.wait_for("the first invoke's REPORT", lambda lines: len(lines) >= 1)

        # When the function is invoked again, while it follows
        invoke_worker(detached_cloud)

        # Then that invoke's REPORT shows up too
        follower.wait_for("the second invoke's REPORT", lambda lines: len(lines) >= 2)
    finally:
        # And Ctrl-C ends it cleanly
        status, err = follower.interrupt()
    assert status == 0, err
    reports = [json.loads(line)["message"] for line in follower.lines]
    assert len(reports) == 2 and all("\tBilled Duration: " in report for report in reports)
    assert reports[0].split()[2] != reports[1].split()[2]  # two request ids


def test_status_watch_refreshes_until_ctrl_c(detached_cloud: Path) -> None:
    # Given `status --watch 0.5` writing to a pipe (one frame after another) at 80 columns
    watcher = OutputLines("status", "--watch", "0.5", "--state-dir", str(detached_cloud), env={**ENV, "COLUMNS": "80"})
    try:
        # When it has shown the cloud more than once
        watcher.wait_for("two frames", lambda lines: sum("lambda-suite-dev on http" in line for line in lines) >= 2)
    finally:
        # And Ctrl-C is pressed
        status, err = watcher.interrupt()

    # Then it ended cleanly, and the frames had whole names within 80 columns
    assert status == 0, err
    assert any("SqsWorkerFunctionWorkQueueEvent" in line for line in watcher.lines)
    assert not any("…" in line or len(line.rstrip()) > 80 for line in watcher.lines)


def test_sam_env_writes_every_functions_variables_for_sam_local(detached_cloud: Path, tmp_path: Path) -> None:
    # When the env-vars file is written for a given endpoint
    out = tmp_path / "env.json"
    written = json_of(localcloud(detached_cloud, "sam-env", "--out", str(out), "--endpoint-url",
                                 "http://172.17.0.1:4566", "--json"))

    # Then it is what sam local reads: globals plus each function's resolved variables and the endpoint
    state = read_state(detached_cloud)
    assert state is not None
    assert written["path"] == str(out)
    assert json.loads(out.read_text()) == sam_env_vars(state.stack(), "http://172.17.0.1:4566")
    document = json.loads(out.read_text())
    assert document["SqsWorkerFunction"]["AWS_ENDPOINT_URL"] == "http://172.17.0.1:4566"
    assert document["SqsWorkerFunction"]["ITEMS_TABLE_NAME"] == state.stack().tables["ItemsTable"].name


def test_down_stops_everything(tmp_path: Path) -> None:
    # Given a cloud started in the background
    state_dir = tmp_path / "state"
    assert localcloud(state_dir, "up", "--detach", "--port", str(free_port()), "--no-pollers").returncode == 0
    state = read_state(state_dir)
    assert state is not None

    # When `down` runs
    stopped = localcloud(state_dir, "down", "--json")

    # Then the process and its endpoint are gone, and so is the state file
    assert json_of(stopped)["stopped"] is True
    assert not is_healthy(state.endpoint_url)
    assert read_state(state_dir) is None
