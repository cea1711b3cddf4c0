"""The default invoker: warm worker processes with Lambda's environment, deadline, errors and limits."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from localcloud.cloud import LocalCloud
from localcloud.deploy.deployed_stack import DeployedFunction
from localcloud.runtime import worker
from localcloud.runtime.pool import FunctionPool
from localcloud.runtime.sandbox import Sandbox, sandbox_unavailable_reason
from tests.support.requirements import require_facility

pytestmark = pytest.mark.localcloud

TESTS = Path(__file__).parents[1]  # tests/localcloud: its functions, layers and stand-in workers


def test_a_function_runs_with_the_environment_lambda_gives_it(probe_cloud: LocalCloud) -> None:
    # Given the probe function as deployed (Timeout 7, MemorySize 192 from Globals, variables naming resources)
    function = probe_cloud.stack.functions["EnvProbeFunction"]

    # When it is invoked
    result = probe_cloud.invoke("EnvProbeFunction", {"hello": "world"})

    # Then it saw Lambda's variables, the template's resolved to local resources, and the local endpoint
    assert result.error is None
    environment = result.payload["environment"]
    assert environment == {
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "192",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "_HANDLER": "app.lambda_handler",
        "LAMBDA_TASK_ROOT": str(TESTS / "functions" / "env_probe"),
        "AWS_ENDPOINT_URL": probe_cloud.config.endpoint_url,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PROBE_QUEUE_URL": probe_cloud.stack.queues["ProbeQueue"].url,
        "PROBE_TABLE_NAME": probe_cloud.stack.tables["ProbeTable"].name,
        "PROBE_SETTING": "from-parameter",
    }
    assert result.payload["event"] == {"hello": "world"}


def test_the_context_has_a_real_deadline_and_the_functions_identity(probe_cloud: LocalCloud) -> None:
    # Given the probe function (Timeout 7 s)
    function = probe_cloud.stack.functions["EnvProbeFunction"]

    # When it is invoked
    context = probe_cloud.invoke("EnvProbeFunction", {}).payload["context"]

    # Then the context names it, gives its memory as the runtime does (a string) and time left below 7 s
    assert context["function_name"] == function.name
    assert context["invoked_function_arn"] == function.arn
    assert context["memory_limit_in_mb"] == "192"
    assert 5_000 < context["remaining_ms"] <= 7_000
    assert len(context["aws_request_id"]) == 36


def test_only_the_function_folder_and_its_layers_are_importable(probe_cloud: LocalCloud) -> None:
    # When the probe reports its sys.path and working directory
    payload = probe_cloud.invoke("EnvProbeFunction", {}).payload

    # Then /var/task (its folder) comes first, then /opt/python (its layer), and nothing of this repository
    folder = str(TESTS / "functions" / "env_probe")
    assert payload["sys_path"][:2] == [folder, str(TESTS / "layers" / "probe_layer")]
    assert payload["cwd"] == folder
    assert payload["layer"] == "probe-layer"
    assert payload["localcloud_importable"] is False


def test_the_timeout_is_enforced_and_the_next_invoke_gets_a_fresh_worker(probe_cloud: LocalCloud) -> None:
    # Given SleeperFunction (Timeout 1 s)
    cold_starts = probe_cloud.runtime_status()["functions"].get("SleeperFunction", {}).get("cold_starts", 0)

    # When it is asked to sleep past its timeout
    timed_out = probe_cloud.invoke("SleeperFunction", {"sleep_s": 5})

    # Then the invoke fails as Lambda's does, at the deadline rather than when the sleep ends
    assert timed_out.error is not None
    assert timed_out.error["errorType"] == "Sandbox.Timedout"
    assert timed_out.error["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert 900 <= timed_out.duration_ms < 3_000
    # And the next invoke works, in a new worker (the killed one is gone)
    after = probe_cloud.invoke("SleeperFunction", {"sleep_s": 0})
    assert after.error is None
    assert probe_cloud.runtime_status()["functions"]["SleeperFunction"]["cold_starts"] >= cold_starts + 1


def test_the_init_phase_does_not_count_against_the_first_invokes_timeout(probe_cloud: LocalCloud) -> None:
    # Given SlowInitFunction, whose module takes 1.5 s to import, with a 1 s timeout
    # When it is invoked cold
    result = probe_cloud.invoke("SlowInitFunction", {})

    # Then the invoke succeeds with (almost) its whole second left, as in Lambda (init has its own limit)
    assert result.error is None, result.error
    assert 500 < result.payload["remaining_ms"] <= 1_000
    assert result.duration_ms >= 1_500


def test_a_crashed_process_is_a_runtime_exit_error_and_the_next_invoke_works(probe_cloud: LocalCloud) -> None:
    # When the function's process exits in the middle of an invoke
    crashed = probe_cloud.invoke("CrasherFunction", {"exit_code": 3})

    # Then the invoke fails with Runtime.ExitError and the exit status
    assert crashed.error is not None
    assert crashed.error["errorType"] == "Runtime.ExitError"
    assert crashed.error["errorMessage"].endswith("Runtime exited with error: exit status 3")
    # And a fresh worker serves the next one
    assert probe_cloud.invoke("CrasherFunction", {}).error is None


def test_a_handler_exception_is_reported_in_lambdas_error_shape(probe_cloud: LocalCloud) -> None:
    # When the handler raises
    result = probe_cloud.invoke("FailingFunction", {"reason": "out of stock"})

    # Then the error carries its type and message, and a stack trace from the handler down
    assert result.error is not None
    assert result.error["errorType"] == "OrderRejectedError"
    assert result.error["errorMessage"] == "rejected: out of stock"
    assert "functions/failing/app.py" in result.error["stackTrace"][0]
    assert not any("worker_main" in line for line in result.error["stackTrace"])


def test_an_import_failure_is_an_init_error_on_every_invoke(probe_cloud: LocalCloud) -> None:
    for _attempt in range(2):
        # When a function whose module cannot be imported is invoked (again)
        result = probe_cloud.invoke("BrokenImportFunction", {})

        # Then each invoke reports the init error (a new sandbox each time, as Lambda re-initialises)
        assert result.error is not None
        assert result.error["errorType"] == "Runtime.ImportModuleError"
        assert "a_module_that_does_not_exist" in result.error["errorMessage"]


def test_reserved_concurrency_bounds_the_workers_of_a_function(probe_cloud: LocalCloud) -> None:
    # Given ConcurrencyProbeFunction with ReservedConcurrentExecutions 2
    assert probe_cloud.stack.functions["ConcurrencyProbeFunction"].reserved_concurrency == 2

    # When six invokes holding 0.5 s each arrive at once
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: probe_cloud.invoke("ConcurrencyProbeFunction", {"hold_s": 0.5}), range(6)))

    # Then all succeed, served by at most two processes, never more than two at a time
    assert all(result.error is None for result in results)
    payloads = [result.payload for result in results]
    assert len({payload["pid"] for payload in payloads}) <= 2
    events = sorted([(p["started"], 1) for p in payloads] + [(p["finished"], -1) for p in payloads])
    running = peak = 0
    for _time, change in events:
        running += change
        peak = max(peak, running)
    assert peak == 2
    assert probe_cloud.runtime_status()["functions"]["ConcurrencyProbeFunction"]["max_concurrent"] == 2


def test_reserved_concurrency_zero_throttles_every_invoke(probe_cloud: LocalCloud) -> None:
    # Given ThrottledFunction with ReservedConcurrentExecutions 0
    assert probe_cloud.stack.functions["ThrottledFunction"].reserved_concurrency == 0

    # When it is invoked, Then Lambda's throttling error answers and no worker starts
    result = probe_cloud.invoke("ThrottledFunction", {"sleep_s": 0})
    assert result.error is not None
    assert result.error["errorType"] == "TooManyRequestsException"
    stats = probe_cloud.runtime_status()["functions"]["ThrottledFunction"]
    assert (stats["throttles"], stats["cold_starts"]) == (1, 0)


def test_by_default_multiprocessing_fails_as_in_lambda_but_process_and_pipe_work(probe_cloud: LocalCloud) -> None:
    require_facility(sandbox_unavailable_reason())
    # Given the probe cloud's default invoker (no --dev-shm)
    # When the probe tries multiprocessing's primitives
    result = probe_cloud.invoke("EnvProbeFunction", {"multiprocessing": True})

    # Then /dev/shm is absent, a Lock fails with Lambda's OSError 38, and Process + Pipe still work
    assert result.error is None, result.error
    assert result.payload["dev_shm_exists"] is False
    assert result.payload["multiprocessing"]["lock"] == "OSError 38"
    assert result.payload["multiprocessing"]["process_with_pipe"] == "ok"


def test_the_lambda_invoke_api_of_the_endpoint_reaches_the_same_invoker(probe_cloud: LocalCloud) -> None:
    # Given the function's physical name, as any AWS client knows it
    lambda_client = probe_cloud.aws.lambda_client
    sleeper = probe_cloud.stack.functions["SleeperFunction"].name

    # When it is invoked through the moto server's Lambda API, once fine and once failing
    answered = lambda_client.invoke(FunctionName=sleeper, Payload=json.dumps({"sleep_s": 0}).encode())
    failing = lambda_client.invoke(FunctionName=probe_cloud.stack.functions["FailingFunction"].arn,
                                   Payload=json.dumps({"reason": "api"}).encode())

    # Then the answers come from the local workers, errors flagged as Lambda flags them
    assert json.loads(answered["Payload"].read())["slept_s"] == 0
    assert failing["FunctionError"] == "Unhandled"
    assert json.loads(failing["Payload"].read())["errorMessage"] == "rejected: api"


MISANSWERING_WORKER = TESTS / "stand_in_workers" / "misanswering_worker.py"


def misanswering_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> FunctionPool:
    """A pool whose worker processes are the misanswering stand-in instead of worker_main.py."""
    monkeypatch.setattr(worker, "WORKER_BOOTSTRAP",
                        f"import runpy; runpy.run_path({str(MISANSWERING_WORKER)!r}, run_name='__main__')")
    function = DeployedFunction(logical_id="MisansweringFunction", name="misanswering", handler="app.handler",
                                arn="arn:aws:lambda:us-east-1:123456789012:function:misanswering",
                                code_dir=tmp_path, timeout_s=5, memory_mb=128)
    return FunctionPool(function=function, env={"MISANSWER": mode, "PATH": "/usr/bin:/bin"},
                        log_path=tmp_path / "misanswering.log", limit=1, sandbox=Sandbox(isolated=False))


@pytest.mark.parametrize("mode", ["wrong_request", "wrong_pid", "init_again"])
def test_an_answer_to_another_request_or_from_another_process_is_never_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    # Given a worker that answers with a success naming another request (or another process)
    pool = misanswering_pool(tmp_path, monkeypatch, mode)
    try:
        # When it is invoked
        result = pool.invoke({"Records": []})

        # Then the invoke fails (an event source keeps the batch) instead of returning that success,
        # and the worker is retired: the next invoke is a cold start
        assert result.payload is None
        assert result.error is not None and result.error["errorType"] == "LocalCloud.InvokerProtocolError"
        pool.invoke({"Records": []})
        assert pool.stats.cold_starts == 2
    finally:
        pool.stop()


def test_a_worker_answering_its_own_request_is_kept_warm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the same stand-in answering correctly (the control for the test above)
    pool = misanswering_pool(tmp_path, monkeypatch, "correct")
    try:
        # When it is invoked twice
        results = [pool.invoke({"Records": []}) for _ in range(2)]

        # Then both succeed on one warm worker
        assert [result.payload for result in results] == [{"batchItemFailures": []}] * 2
        assert pool.stats.cold_starts == 1
    finally:
        pool.stop()


def test_a_worker_whose_pipes_were_closed_behind_its_back_sends_nothing_and_closes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a warm worker whose request descriptor number other code closed and reused for another pipe
    pool = misanswering_pool(tmp_path, monkeypatch, "correct")
    try:
        assert pool.invoke({"Records": []}).error is None
        request_number = pool._idle[0]._request_write
        other_read, other_write = os.pipe()
        os.dup2(other_write, request_number)  # closes the worker's pipe end, then reuses its number

        # When the pool invokes it
        result = pool.invoke({"Records": []})

        # Then the invoke fails at once with the invoker's protocol error, nothing was written into the
        # other pipe, and retiring the worker left the reused number open
        assert result.error is not None and result.error["errorType"] == "LocalCloud.InvokerProtocolError"
        os.set_blocking(other_read, False)
        with pytest.raises(BlockingIOError):
            os.read(other_read, 1)
        os.fstat(request_number)  # raises if the retirement closed it
        for number in (request_number, other_read, other_write):
            os.close(number)
    finally:
        pool.stop()
