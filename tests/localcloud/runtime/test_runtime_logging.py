"""Logging as Lambda's Python runtime sets it up before the handler's module is imported (awslambdaric's
bootstrap: one handler on the root logger; its level from LoggingConfig only with the JSON format)."""

from __future__ import annotations

import json
import re

import pytest

from localcloud.runtime.function_logs import LogEvent
from localcloud.runtime.pool import FunctionPool
from tests.localcloud.runtime.function_pools import PoolFactory
from tests.localcloud.waiting import wait_for

pytestmark = pytest.mark.localcloud

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
STAMP = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"


def messages(pool: FunctionPool) -> list[str]:
    """The function's log once its invoke's REPORT line is there (the log is copied as it comes)."""
    def read() -> list[str] | None:
        lines = pool.log_path.read_text().splitlines() if pool.log_path.exists() else []
        found = [LogEvent.parse(line).message for line in lines]
        return found if any(message.startswith("REPORT ") for message in found) else None
    return wait_for(read, timeout_s=10, what=f"a REPORT line in {pool.log_path}")


def test_text_format_the_root_logger_stays_at_warning_so_logging_info_prints_nothing(
    function_pool: PoolFactory,
) -> None:
    """The Python runtime adds a handler to the root logger ("[%(levelname)s]\\t%(asctime)s.%(msecs)03dZ\\t
    %(aws_request_id)s\\t%(message)s") and, with the Text log format, leaves its level alone: Python's
    default, WARNING. https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html"""
    # Given a function with the default (Text) log format that never configures logging
    pool = function_pool("logging_probe")

    # When it logs at DEBUG, INFO, WARNING and ERROR
    result = pool.invoke({"tag": "text"})

    # Then only WARNING and ERROR reach the log, in the runtime's format with the request id
    assert result.error is None, result.error
    assert result.payload == {"root_level": "WARNING", "root_handlers": 1}
    logged = [message for message in messages(pool) if message.endswith(" text")]
    assert len(logged) == 2, logged
    assert re.fullmatch(rf"\[WARNING\]\t{STAMP}\t{UUID}\twarning text", logged[0])
    assert re.fullmatch(rf"\[ERROR\]\t{STAMP}\t{UUID}\terror text", logged[1])
    request_ids = {message.split("\t")[2] for message in logged}
    starts = [message for message in messages(pool) if message.startswith("START RequestId: ")]
    assert request_ids == {starts[-1].split()[2]}


def test_json_format_emits_json_lines_at_the_application_log_level(function_pool: PoolFactory) -> None:
    """With LoggingConfig LogFormat JSON the runtime writes each record as a JSON object (timestamp,
    level, message, logger, requestId, extra fields) and sets the root level from ApplicationLogLevel
    (INFO unless set). https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html"""
    # Given a function with the JSON log format and the default application log level
    pool = function_pool("logging_probe", log_format="JSON")

    # When it logs at DEBUG, INFO, WARNING and ERROR (the last with an extra field)
    result = pool.invoke({"tag": "json"})

    # Then INFO and above are JSON lines, with the request id and the record's extra fields
    assert result.error is None, result.error
    assert result.payload == {"root_level": "INFO", "root_handlers": 1}
    records = [json.loads(message) for message in messages(pool) if message.startswith("{")]
    assert [(record["level"], record["message"]) for record in records] == [
        ("INFO", "info json"), ("WARNING", "warning json"), ("ERROR", "error json")]
    assert records[0]["logger"] == "root" and records[2]["logger"] == "probe.named"
    assert records[2]["order_id"] == "o-1"
    assert all(re.fullmatch(UUID, record["requestId"]) for record in records)
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", record["timestamp"]) for record in records)


def test_json_format_application_log_level_debug_shows_debug(function_pool: PoolFactory) -> None:
    """ApplicationLogLevel sets the root logger's level (TRACE, DEBUG, INFO, WARN, ERROR, FATAL).
    https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html"""
    # Given a function with the JSON format at ApplicationLogLevel DEBUG
    pool = function_pool("logging_probe", log_format="JSON", application_log_level="DEBUG")

    # When it logs, Then its DEBUG record is there too
    result = pool.invoke({"tag": "debug"})
    assert result.error is None, result.error
    assert result.payload["root_level"] == "DEBUG"
    levels = [json.loads(message)["level"] for message in messages(pool) if message.startswith("{")]
    assert levels == ["DEBUG", "INFO", "WARNING", "ERROR"]
