"""A function's log as CloudWatch Logs holds it: START, the function's lines, END, and a REPORT with real figures.

Rules (docs/AWS_RULES.md, "Function logs"):
- lambda/latest/dg/python-logging.html: each invoke is framed by START RequestId / END RequestId and a
  REPORT line with Duration, Billed Duration, Memory Size, Max Memory Used, and Init Duration on the
  first invoke of an execution environment; stdout and stderr lines are log events.
- aws.amazon.com/lambda/pricing: duration is billed rounded up to the nearest 1 ms; the INIT phase is
  billed too since 1 August 2025 (aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase).
- lambda/latest/dg/lambda-runtime-environment.html: one log stream per execution environment.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from localcloud.deploy.deployed_stack import DeployedFunction
from localcloud.runtime.environment import sandbox_environment
from localcloud.runtime.function_logs import LogEvent
from localcloud.runtime.pool import FunctionPool
from localcloud.runtime.sandbox import choose_sandbox
from tests.localcloud.waiting import wait_for

pytestmark = pytest.mark.localcloud

FUNCTIONS = Path(__file__).parents[1] / "functions"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
PoolFactory = Callable[..., FunctionPool]
STREAM = re.compile(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$")


@pytest.fixture
def pool_of(tmp_path: Path) -> Iterator[PoolFactory]:
    pools: list[FunctionPool] = []

    def make(folder: str, *, timeout_s: int = 5, memory_mb: int = 192) -> FunctionPool:
        function = DeployedFunction(logical_id=f"{folder.title()}Function", name=f"probe-{folder}",
                                    arn=f"arn:aws:lambda:us-east-1:123456789012:function:probe-{folder}",
                                    handler="app.lambda_handler", code_dir=FUNCTIONS / folder, timeout_s=timeout_s,
                                    memory_mb=memory_mb)
        pool = FunctionPool(function=function, log_path=tmp_path / f"{function.logical_id}.log", limit=1,
                            env=sandbox_environment(function, endpoint_url="http://127.0.0.1:9", region="us-east-1"),
                            sandbox=choose_sandbox(dev_shm=False))
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.stop()


def events(pool: FunctionPool) -> list[LogEvent]:
    if not pool.log_path.exists():
        return []
    return [LogEvent.parse(line) for line in pool.log_path.read_bytes().decode().split("\n") if line]


def reports(pool: FunctionPool, count: int) -> list[dict[str, str]]:
    """The REPORT lines as {field: value}, once there are ``count`` (the sandbox writes them after answering)."""

    def report_lines() -> list[str] | None:
        lines = [event.message for event in events(pool) if event.message.startswith("REPORT ")]
        return lines if len(lines) >= count else None

    found = wait_for(report_lines, timeout_s=10, what=f"{count} REPORT line(s) in {pool.log_path}")
    return [dict(field.split(": ", 1) for field in line.removeprefix("REPORT ").split("\t")) for line in found]


def ms(value: str) -> float:
    assert value.endswith(" ms"), value
    return float(value.removesuffix(" ms"))


def test_each_invoke_is_framed_by_start_end_and_report_with_one_request_id(pool_of: PoolFactory) -> None:
    # Given a function that logs through print, stderr, a JSON line and a child process
    pool = pool_of("log_writer")

    # When it is invoked twice (one sandbox: the second invoke is warm)
    first = pool.invoke({"tag": "one"})
    second = pool.invoke({"tag": "two"})
    reports(pool, 2)

    # Then each invoke's lines sit between its START and END, then its REPORT, all with its request id
    assert first.error is None and second.error is None
    messages = [event.message for event in events(pool)]
    ids = re.findall(rf"^START RequestId: ({UUID}) Version: \$LATEST$", "\n".join(messages), re.MULTILINE)
    assert len(ids) == 2 and ids[0] != ids[1]
    for tag, request_id in zip(("one", "two"), ids, strict=True):
        start = messages.index(f"START RequestId: {request_id} Version: $LATEST")
        end = messages.index(f"END RequestId: {request_id}")
        assert messages[end + 1].startswith(f"REPORT RequestId: {request_id}\t")
        body = messages[start + 1:end]
        assert {f"printed {tag}", f"to stderr {tag}", f"from a child {tag}"} <= set(body), body
        assert any(f'"structured {tag}"' in line and request_id in line for line in body), body
    # And every event has its time and the sandbox's log stream, which the function's context names too
    assert all(event.timestamp is not None for event in events(pool))
    assert {event.log_stream for event in events(pool)} == {first.payload["log_stream_name"]}
    assert STREAM.match(first.payload["log_stream_name"])


def test_the_report_has_the_invokes_duration_memory_and_init_on_the_cold_start_only(pool_of: PoolFactory) -> None:
    # Given the sleeper with 256 MB
    pool = pool_of("sleeper", memory_mb=256)

    # When it sleeps 300 ms cold, then 100 ms warm
    pool.invoke({"sleep_s": 0.3})
    pool.invoke({"sleep_s": 0.1})
    cold, warm = reports(pool, 2)

    # Then Duration is the handler's time, Memory Size the function's, Max Memory Used a real peak
    assert 300 <= ms(cold["Duration"]) < 1_300
    assert 100 <= ms(warm["Duration"]) < 1_100
    assert cold["Memory Size"] == warm["Memory Size"] == "256 MB"
    used = int(warm["Max Memory Used"].removesuffix(" MB"))
    # (not below Memory Size: the local sandbox of this branch sets no memory limit, and a peak of 264 MB
    # for the sleeper was seen under load; see the closing note of the session that merged it)
    assert 5 <= used < 512
    # And Init Duration only on the first invoke of the sandbox
    assert ms(cold["Init Duration"]) > 0
    assert "Init Duration" not in warm
    assert "Status" not in cold and "Status" not in warm


def test_billed_duration_is_rounded_up_to_the_millisecond_and_includes_init_on_a_cold_start(
    pool_of: PoolFactory,
) -> None:
    # Given two invokes of a fresh sandbox
    pool = pool_of("sleeper")
    pool.invoke({"sleep_s": 0.05})
    pool.invoke({"sleep_s": 0.05})
    cold, warm = reports(pool, 2)

    # Then the cold one bills its init with its duration, the warm one its duration, each rounded up to 1 ms
    assert ms(cold["Billed Duration"]) == math.ceil(ms(cold["Duration"]) + ms(cold["Init Duration"]))
    assert ms(warm["Billed Duration"]) == math.ceil(ms(warm["Duration"]))


def test_a_timeout_is_logged_with_its_message_and_a_timeout_report(pool_of: PoolFactory) -> None:
    # Given the sleeper with a 1 s timeout
    pool = pool_of("sleeper", timeout_s=1)

    # When it sleeps past its timeout (the invoker kills the sandbox)
    result = pool.invoke({"sleep_s": 5})
    (report,) = reports(pool, 1)

    # Then the log has Lambda's timeout line, END, and a REPORT with Status: timeout at about the timeout
    assert result.error is not None and result.error["errorType"] == "Sandbox.Timedout"
    messages = [event.message for event in events(pool)]
    request_id = report["RequestId"]
    timed_out = next(m for m in messages if m.endswith(f"{request_id} Task timed out after 1.00 seconds"))
    assert messages.index(timed_out) < messages.index(f"END RequestId: {request_id}")
    assert report["Status"] == "timeout"
    assert 1_000 <= ms(report["Duration"]) < 2_000
    assert ms(report["Billed Duration"]) == math.ceil(ms(report["Duration"]))
    assert int(report["Max Memory Used"].removesuffix(" MB")) > 0


def test_a_crash_is_logged_as_a_runtime_exit_error(pool_of: PoolFactory) -> None:
    # When the function's process exits with status 3 during an invoke
    pool = pool_of("crasher")
    pool.invoke({"exit_code": 3})
    (report,) = reports(pool, 1)

    # Then the log says so, as Lambda's does, and the REPORT carries the error type
    messages = [event.message for event in events(pool)]
    request_id = report["RequestId"]
    assert f"RequestId: {request_id} Error: Runtime exited with error: exit status 3" in messages
    assert messages[messages.index(f"END RequestId: {request_id}") - 1] == "Runtime.ExitError"
    assert (report["Status"], report["Error Type"]) == ("error", "Runtime.ExitError")


def test_a_handler_error_is_one_event_with_its_traceback(pool_of: PoolFactory) -> None:
    # When the handler raises
    pool = pool_of("failing")
    pool.invoke({"reason": "out of stock"})
    reports(pool, 1)

    # Then the Python runtime's [ERROR] line is one event, its traceback lines joined by \r
    (error,) = [event.message for event in events(pool) if event.message.startswith("[ERROR]")]
    first, *trace = error.split("\r")
    assert first == "[ERROR] OrderRejectedError: rejected: out of stock"
    assert trace[0] == "Traceback (most recent call last):"
    assert any("functions/failing/app.py" in line for line in trace)
