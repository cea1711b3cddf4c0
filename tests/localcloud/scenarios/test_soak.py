"""`python -m localcloud soak`: a small soak with injected faults must lose nothing and say so in figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from localcloud.config import PROJECT_ROOT
from localcloud.deploy.translation import load_sam_template
from localcloud.scenarios.soak import FAULTY_FUNCTIONS, write_soak_template

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


def test_the_soak_template_copy_shortens_the_timeouts_and_keeps_the_safety_margin_s_share(tmp_path: Path) -> None:
    # Given template.yaml: both faulty functions time out after 30 s and stop taking records 5,000 ms
    # before that; WorkQueue's visibility timeout is 181 s
    template = load_sam_template(PROJECT_ROOT / "template.yaml")
    resources = template["Resources"]

    # When the soak writes its copy for 3 s function timeouts
    copy = json.loads(write_soak_template(PROJECT_ROOT / "template.yaml", tmp_path / "soak.json", 3).read_text())

    # Then each faulty function times out after 3 s and keeps its margin's share of it (5000 x 3 / 30)
    for function in FAULTY_FUNCTIONS:
        original = resources[function]["Properties"]
        changed = copy["Resources"][function]["Properties"]
        timeout = original.get("Timeout", template["Globals"]["Function"]["Timeout"])
        margin = int(original["Environment"]["Variables"]["DEADLINE_SAFETY_MARGIN_MS"])
        assert changed["Timeout"] == 3
        assert changed["Environment"]["Variables"]["DEADLINE_SAFETY_MARGIN_MS"] == str(margin * 3 // timeout)
        assert 0 < margin * 3 // timeout < 3000
        # And nothing else of the function differs but its code path (made absolute)
        rest = {key: value for key, value in changed.items() if key not in ("Timeout", "Environment", "CodeUri")}
        assert rest == {key: value for key, value in original.items()
                        if key not in ("Timeout", "Environment", "CodeUri")}
    # And WorkQueue's visibility timeout is 3 s above the function timeout, its other settings unchanged
    assert copy["Resources"]["WorkQueue"]["Properties"]["VisibilityTimeout"] == 6
    assert copy["Resources"]["ItemsTable"] == resources["ItemsTable"]
