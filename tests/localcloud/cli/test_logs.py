"""`localcloud logs`: reading a function's log file, CloudWatch's filter patterns, --since, and the output forms.

The file is tests/data/logs/SqsWorkerFunction.log, in the format the invoker writes
(localcloud.runtime.function_logs; tests/localcloud/runtime/test_function_logs.py proves the writing).
Filter pattern rules: logs/latest/userguide/FilterAndPatternSyntax.html ("Matching terms in unstructured
log events": terms are ANDed, ?term ORs, -term excludes, quoted phrases, %regex%).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from localcloud.cli.logs import FilterPattern, LogReader, follow, make_printer, parse_since, print_pretty, selected
from localcloud.cli.output import CliError
from localcloud.runtime.function_logs import LogEvent

LOG = Path(__file__).resolve().parents[2] / "data" / "logs" / "SqsWorkerFunction.log"
NOW = datetime(2026, 6, 1, 12, 15, tzinfo=UTC)


def messages(pattern: str | None = None, since: datetime | None = None) -> list[str]:
    events = LogReader(LOG).read()
    return [event.message for event in selected(events, since, FilterPattern.parse(pattern) if pattern else None)]


def test_every_line_is_an_event_with_its_time_stream_and_message() -> None:
    # When the file is read
    events = LogReader(LOG).read()

    # Then each line is one event: nine, the error's traceback kept in its own event (joined by \r)
    assert len(events) == 9
    assert events[0].timestamp == datetime(2026, 6, 1, 12, 0, 0, 100_000, tzinfo=UTC)
    assert events[0].log_stream == "2026/06/01/[$LATEST]aaaaaaaa111111111111111111111111"
    assert events[6].message.split("\r")[1] == "Traceback (most recent call last):"


def test_terms_must_all_appear_case_sensitively() -> None:
    assert messages("REPORT Init") == [messages()[4]]
    assert messages("report") == []


def test_a_question_mark_term_is_one_of_several() -> None:
    assert [m.split()[0] for m in messages("?START ?END")] == ["START", "END", "START", "END"]


def test_a_minus_term_excludes() -> None:
    assert [m.split(" RequestId")[0] for m in messages("RequestId -START -END")] == ["REPORT", "REPORT"]


def test_a_quoted_phrase_is_one_term_and_percent_signs_make_a_regular_expression() -> None:
    assert messages('"Dead-lettering message"') == [messages()[2]]
    assert messages(r"%Billed Duration: \d{2} ms%") == [messages()[8]]


def test_json_patterns_are_refused_by_name() -> None:
    with pytest.raises(CliError, match="JSON filter patterns"):
        FilterPattern.parse('{ $.level = "ERROR" }')


def test_since_takes_a_span_back_from_now_or_an_iso_time() -> None:
    assert parse_since("10m", NOW) == NOW - timedelta(minutes=10)
    assert parse_since("2 hours ago", NOW) == NOW - timedelta(hours=2)
    assert parse_since("2026-06-01T12:05:00Z", NOW) == datetime(2026, 6, 1, 12, 5, tzinfo=UTC)
    with pytest.raises(CliError, match="--since takes"):
        parse_since("yesterday", NOW)


def test_since_keeps_the_events_from_then_on() -> None:
    # Given the second invoke ten minutes after the first
    # When only the last 10 minutes are asked for (at 12:15)
    # Then only the second invoke's four events remain
    assert [m.split()[0] for m in messages(since=parse_since("10m", NOW))] == ["START", "[ERROR]", "END", "REPORT"]


def test_only_whole_lines_are_read_and_the_rest_on_the_next_read(tmp_path: Path) -> None:
    # Given a file whose last line is still being written
    path = tmp_path / "F.log"
    path.write_bytes(b"2026-06-01T12:00:00.000Z\ts\tfirst\n2026-06-01T12:00:00.100Z\ts\tsec")
    reader = LogReader(path)

    # When it is read, then completed, then read again
    before = reader.read()
    with path.open("ab") as log:
        log.write(b"ond\n")
    after = reader.read()

    # Then each event comes once, whole
    assert [event.message for event in before] == ["first"]
    assert [event.message for event in after] == ["second"]


def test_follow_yields_what_is_there_then_each_new_batch(tmp_path: Path) -> None:
    # Given a file that does not exist yet (the function was never invoked)
    path = tmp_path / "F.log"
    rounds = iter([True, True, False])

    def append_then_continue() -> bool:
        with path.open("ab") as log:
            log.write(b"2026-06-01T12:00:00.000Z\ts\tline\n")
        return next(rounds)

    # When followed for two rounds, a line appended before each
    batches = list(follow(LogReader(path), keep_going=append_then_continue, sleep=lambda _s: None))

    # Then the first read is empty and each round brings its line
    assert [[event.message for event in batch] for batch in batches] == [[], ["line"], ["line"]]


def test_json_output_is_one_event_document_a_line_with_the_raw_message(capsys: pytest.CaptureFixture[str]) -> None:
    # When the Powertools line is printed with --json
    event = LogReader(LOG).read()[1]
    make_printer(argparse.Namespace(json=True), Console())(event)

    # Then it is FilterLogEvents' shape, the message exactly as the function wrote it
    document = json.loads(capsys.readouterr().out)
    assert document == {"timestamp": 1780315200200, "logStreamName": event.log_stream, "message": event.message}


def test_plain_output_off_a_terminal_is_one_line_per_event(capsys: pytest.CaptureFixture[str]) -> None:
    event = LogReader(LOG).read()[4]
    make_printer(argparse.Namespace(json=False), Console(force_terminal=False))(event)
    assert capsys.readouterr().out == f"2026-06-01T12:00:00.400Z {event.log_stream} {event.message}\n"


def test_on_a_terminal_powertools_lines_show_level_and_message_then_their_keys() -> None:
    # Given a terminal
    terminal = Console(width=100, record=True, force_terminal=True)

    # When the Powertools line and the REPORT are shown
    events = LogReader(LOG).read()
    print_pretty(events[1], terminal)
    print_pretty(events[4], terminal)

    # Then the JSON line reads as "level message" with its other keys indented below (less those that are the
    # same on every line of the function), and the REPORT's
    # fields are spaced out instead of tab-separated
    lines = [line.rstrip() for line in terminal.export_text().splitlines()]
    assert lines[0] == "2026-06-01T12:00:00.200Z aaaaaaaa INFO Order processed"
    assert '      "location": "process_record:179",' in lines
    assert '      "order_id": "o-1"' in lines
    assert not any('"level"' in line or '"timestamp"' in line or '"function_arn"' in line for line in lines)
    assert "Duration: 300.12 ms  Billed Duration: 1501 ms" in lines[-1]


def test_on_a_terminal_an_error_shows_its_traceback_on_its_own_lines() -> None:
    terminal = Console(width=100, record=True, force_terminal=True)
    print_pretty(LogReader(LOG).read()[6], terminal)
    assert [line.rstrip() for line in terminal.export_text().splitlines()][1:] == ["Traceback (most recent call last):",
                                                      '  File "app.py", line 12, in lambda_handler']


def test_a_line_from_before_timestamps_is_kept_as_a_message() -> None:
    event = LogEvent.parse("START RequestId: 1 Version: $LATEST")
    assert (event.timestamp, event.log_stream, event.message) == (None, "", "START RequestId: 1 Version: $LATEST")
