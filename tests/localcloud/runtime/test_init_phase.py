"""Lambda's init phase: 10 s, after which the init runs again within the first invoke, under the
function's timeout (localcloud.runtime.pool, worker). These tests take the real 10 s: the limit is
Lambda's, not a delay the local cloud's time scale shortens."""

from __future__ import annotations

import pytest

from localcloud.runtime.function_logs import LogEvent
from localcloud.runtime.pool import FunctionPool
from tests.localcloud.runtime.function_pools import PoolFactory
from tests.localcloud.waiting import wait_for

pytestmark = pytest.mark.localcloud


def log_messages(pool: FunctionPool, *, until: str) -> list[str]:
    def read() -> list[str] | None:
        lines = pool.log_path.read_text().splitlines() if pool.log_path.exists() else []
        found = [LogEvent.parse(line).message for line in lines]
        return found if any(message.startswith(until) for message in found) else None
    return wait_for(read, timeout_s=10, what=f"{until!r} in {pool.log_path}")


def test_an_init_past_10_s_runs_again_within_the_first_invoke_and_shares_its_timeout(
    function_pool: PoolFactory,
) -> None:
    """"The Init phase is limited to 10 seconds. If all three tasks do not complete within 10 seconds,
    Lambda retries the Init phase at the time of the first function invocation with the configured
    function timeout." https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html"""
    # Given a function whose module takes 12 s to import, a 4 s handler and a 15 s timeout
    pool = function_pool("init_sleeper", timeout_s=15, environment={"INIT_SLEEP_S": "12"})

    # When it is invoked cold
    result = pool.invoke({"sleep_s": 4})

    # Then the init is stopped at 10 s and runs again within the invoke: 12 s + 4 s do not fit in 15 s
    assert result.error is not None
    assert result.error["errorType"] == "Sandbox.Timedout"
    assert result.error["errorMessage"].endswith("Task timed out after 15.00 seconds")
    assert 24_000 <= result.duration_ms < 28_000
    messages = log_messages(pool, until="REPORT ")
    assert "INIT_REPORT Init Duration: 10000.00 ms\tPhase: init\tStatus: timeout" in messages
    report = next(message for message in messages if message.startswith("REPORT "))
    assert "Status: timeout" in report and "Init Duration" not in report
    assert 14_900 <= float(report.split("Duration: ")[1].split(" ms")[0]) < 17_000


def test_an_init_within_10_s_is_not_part_of_the_invokes_timeout(function_pool: PoolFactory) -> None:
    """An init that ends within 10 s is its own phase: the first invoke gets the whole timeout.
    https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html"""
    # Given a function whose module takes 3 s to import, a 4 s handler and a 15 s timeout
    pool = function_pool("init_sleeper", timeout_s=15, environment={"INIT_SLEEP_S": "3"})

    # When it is invoked cold
    result = pool.invoke({"sleep_s": 4})

    # Then it succeeds with the 11 s the handler left of its 15 s, and the REPORT counts the init apart
    assert result.error is None, result.error
    assert 10_000 < result.payload["remaining_ms"] <= 11_100
    report = next(message for message in log_messages(pool, until="REPORT ") if message.startswith("REPORT "))
    assert "Init Duration: 3" in report
