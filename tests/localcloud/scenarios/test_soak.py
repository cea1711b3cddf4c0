"""`python -m localcloud soak`: a small soak with injected faults must lose nothing and say so in figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from localcloud.config import PROJECT_ROOT

pytestmark = [pytest.mark.localcloud, pytest.mark.slow]

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), str(PROJECT_ROOT / "layers" / "common")])}
ORDERS, DUPLICATES, MALFORMED = 150, 15, 10


def test_small_soak_with_faults_writes_every_order_once_and_dead_letters_every_bad_one(tmp_path: Path) -> None:
    # Given a fresh local cloud deployed with FaultInjection=true: 20 % transient faults, 2 % crashes
    argv = [sys.executable, "-m", "localcloud", "soak", "--json", "--state-dir", str(tmp_path),
            "--orders", str(ORDERS), "--duplicates", str(DUPLICATES), "--malformed", str(MALFORMED),
            "--transient-rate", "0.2", "--crash-rate", "0.02", "--timeout-rate", "0", "--timeout", "400"]

    # When the soak runs end to end
    result = subprocess.run(argv, capture_output=True, text=True, cwd=PROJECT_ROOT, env=ENV, timeout=600,
                            check=False)

    # Then it exits 0 and its figures reconcile
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["problems"] == []
    for function in ("SqsWorkerFunction", "StreamConsumerFunction"):
        assert report["settings"][f"{function}_fault_env"] == {
            "FAULT_INJECTION_ENABLED": "true", "FAULT_TRANSIENT_RATE": "0.2", "FAULT_CRASH_RATE": "0.02",
            "FAULT_TIMEOUT_RATE": "0"}
    assert report["sent"] == {"valid": ORDERS, "malformed": MALFORMED, "duplicate": DUPLICATES}
    assert report["written"] == report["valid_orders"] == ORDERS
    assert report["duplicates_suppressed"] == DUPLICATES
    assert report["dead_lettered_invalid"] == MALFORMED
    assert sum(report["dead_letter_reasons"].values()) == MALFORMED + report["dead_letters_repeated"]
    assert report["redriven"] == report["dead_lettered_after_retries"]
    # The faults did happen, and were retried
    assert report["retries"] > 0
    assert report["deliveries"] == ORDERS + DUPLICATES + MALFORMED + report["redriven"] + report["retries"]
    assert report["aggregate_differences"] == 0
    assert report["stream_failures"] == report["stream_failures_replayed"]
    # The stream consumer's faults happened too (20 % of records fail transiently: its batches of up to
    # 100 come back partially failed and are retried from the failed record, or bisected)
    assert report["stream_batches_invoked"] > 0 and report["stream_retries"] + report["stream_bisections"] > 0
    # And it said where its time went, phase by phase, in order
    phases = list(report["phases"].items())
    assert phases[0][0] == "local cloud started" and phases[-1][0] == "stream failures replayed, aggregates reconciled"
    assert [seconds for _, seconds in phases] == sorted(seconds for _, seconds in phases)
    assert phases[-1][1] <= report["elapsed_s"]


def test_a_function_timeout_inside_the_deadline_safety_margin_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    # Given template.yaml, whose SqsWorkerFunction stops taking records 5,000 ms before its deadline
    argv = [sys.executable, "-m", "localcloud", "soak", "--state-dir", str(tmp_path), "--orders", "10",
            "--function-timeout", "3"]

    # When a soak is asked for with 3 s function timeouts
    result = subprocess.run(argv, capture_output=True, text=True, cwd=PROJECT_ROOT, env=ENV, timeout=120,
                            check=False)

    # Then it is refused by name (every record would be reported failed), and no local cloud was started
    assert result.returncode == 1, result.stdout + result.stderr
    message = " ".join((result.stdout + result.stderr).split())
    assert "--function-timeout 3 leaves SqsWorkerFunction no time" in message
    assert "DEADLINE_SAFETY_MARGIN_MS is 5000 ms" in message and "use at least 6" in message
    assert not (tmp_path / "soak" / "state.json").exists()
