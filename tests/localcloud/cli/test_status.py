"""`localcloud status` as a person reads it: whole names in an 80-column terminal, and --watch refreshing."""

from __future__ import annotations

import copy
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from localcloud.cli.status import render_status, watch_status

STATUS = json.loads((Path(__file__).resolve().parents[2] / "data" / "status" / "running_demo.json").read_text())
NAMES = [*STATUS["queues"], *STATUS["tables"], *STATUS["mappings"], *STATUS["functions"]]
LABELS = ["visible", "in flight", "delayed", "batches", "records", "completed", "failed batches", "reported failed",
          "filtered", "on-failure", "invocations", "errors", "timeouts", "cold starts", "max concurrent"]


def rendered(width: int) -> str:
    console = Console(width=width, record=True, force_terminal=False)
    render_status(STATUS, console)
    return console.export_text()


@pytest.mark.parametrize("width", [80, 60, 160])
def test_every_name_is_shown_whole_and_no_line_is_wider_than_the_terminal(width: int) -> None:
    # When the status of a running demo is shown at this width
    text = rendered(width)

    # Then every queue, table, mapping and function name is there in full, nothing is cut with an ellipsis,
    # and no line overflows
    lines = text.splitlines()
    for name in NAMES:
        assert any(name in line for line in lines), name
    assert "…" not in text
    assert max(len(line.rstrip()) for line in lines) <= width


def test_at_80_columns_every_figure_keeps_its_label() -> None:
    # Given the mapping table, too wide for 80 columns with its 33-character names
    text = " ".join(rendered(80).split())  # labels may wrap inside a table header

    # Then each mapping is a block: its name, then each figure after its label
    assert "SqsWorkerFunctionWorkQueueEvent batches 41 records 360 completed 340 failed batches 0" in text
    assert "reported failed 20 filtered 0 on-failure 0" in text
    for label in LABELS:
        assert all(word in text for word in label.split()), label


def test_a_wide_terminal_shows_the_mappings_as_one_table_row_each() -> None:
    lines = rendered(160).splitlines()
    (row,) = [line for line in lines if line.startswith("SqsWorkerFunctionWorkQueueEvent")]
    assert [cell.strip() for cell in row.split("│")[1:]] == ["41", "360", "340", "0", "20", "0", "0"]


def statuses(invocations: list[int | None]) -> Iterator[dict[str, Any] | None]:
    for count in invocations:
        if count is None:
            yield None
            continue
        status = copy.deepcopy(STATUS)
        status["functions"]["SqsWorkerFunction"]["invocations"] = count
        yield status


def function_rows(screen: str) -> list[str]:
    """The SqsWorkerFunction rows of everything written to the terminal, escape codes taken out."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen).replace("\r", "\n")
    return [line for line in text.splitlines() if line.startswith("SqsWorkerFunction ")]


def test_watch_refreshes_until_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a terminal (rich redraws only on one that is not "dumb") and a cloud whose worker function
    # is invoked between refreshes
    monkeypatch.setenv("TERM", "xterm-256color")
    screen = io.StringIO()
    terminal = Console(file=screen, width=80, force_terminal=True)
    fetched = statuses([41, 42, 43])
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            raise KeyboardInterrupt  # Ctrl-C while waiting for the third refresh

    # When it is watched every 2 s
    status = watch_status(lambda: next(fetched), terminal, 2.0, sleep=sleep)

    # Then each refresh showed the figures of its moment, and Ctrl-C ended the watch without an error
    assert status == 0
    assert sleeps == [2.0, 2.0, 2.0]
    shown = [row.split("│")[1].strip() for row in function_rows(screen.getvalue())]
    assert list(dict.fromkeys(shown)) == ["41", "42", "43"]  # in order (Live draws the last one again at the end)


def test_watch_ends_when_the_cloud_stops() -> None:
    # Given a demo that ends after the first refresh
    terminal = Console(width=80, record=True, force_terminal=True)
    fetched = statuses([41, None])

    # When it is watched
    status = watch_status(lambda: next(fetched), terminal, 1.0, sleep=lambda _s: None)

    # Then the watch says so and ends
    assert status == 0
    assert "the local cloud stopped" in terminal.export_text()


def test_watch_into_a_file_prints_each_refresh_after_the_last() -> None:
    # Given output that is not a terminal (a pipe, a file)
    out = io.StringIO()
    fetched = statuses([41, 42, None])

    # When it is watched
    watch_status(lambda: next(fetched), Console(file=out, width=80, force_terminal=False), 1.0, sleep=lambda _s: None)

    # Then each refresh is there, in order, with no cursor movement
    assert [row.split("│")[1].strip() for row in function_rows(out.getvalue())] == ["41", "42"]
    assert "\x1b[" not in out.getvalue()
    assert out.getvalue().rstrip().endswith("the local cloud stopped")


def test_the_resource_limits_in_force_are_shown_for_each_function() -> None:
    # Given a running cloud whose CpuBenchmarkFunction alone has CPU limits, capped by a 2-core machine
    status = copy.deepcopy(STATUS)
    status["resource_limits"] = {
        "SqsWorkerFunction": {"memory": "256 MB hard limit, no swap", "cpu": "not limited (--cpu-limits)"},
        "CpuBenchmarkFunction": {"memory": "5307 MB hard limit, no swap",
                                 "cpu": "3.00 vCPU quota (300000 us per 100000 us), 2 cores "
                                        "(capped by this machine: 3 in Lambda)"},
    }
    console = Console(width=160, record=True, force_terminal=False)

    # When it is shown
    render_status(status, console)
    text = console.export_text()

    # Then a section says, for each function, which memory and CPU limits are in force, the cap by name
    assert "Resource limits" in text
    assert "256 MB hard limit, no swap" in text
    assert "capped by this machine: 3 in Lambda" in text
    assert "not limited (--cpu-limits)" in text
