from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from lambda_toolkit import aws_clients
from lambda_toolkit.config import FunctionConfig, load_config
from lambda_toolkit.errors import ConfigurationError


class ExampleConfig(FunctionConfig):
    TABLE_NAME: str
    LIMIT: int = 3


def test_configuration_is_validated_and_typed() -> None:
    config = load_config(ExampleConfig, {"TABLE_NAME": "t", "LIMIT": "7", "UNRELATED": "x"})
    assert (config.TABLE_NAME, config.LIMIT) == ("t", 7)


def test_a_bad_configuration_names_every_problem() -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_config(ExampleConfig, {"LIMIT": "many"})
    assert "TABLE_NAME" in str(raised.value) and "LIMIT" in str(raised.value)


def test_clients_follow_aws_endpoint_url(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given AWS_ENDPOINT_URL points at a local endpoint
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    aws_clients.reset()

    # Then every client made by the factory goes there, and clients are reused
    try:
        assert aws_clients.sqs().meta.endpoint_url == "http://127.0.0.1:4566"
        assert aws_clients.sqs() is aws_clients.sqs()
    finally:
        aws_clients.reset()


def test_an_empty_variable_counts_as_unset() -> None:
    # Given sam local's blank for a variable the template declares under a false condition
    config = load_config(ExampleConfig, {"TABLE_NAME": "t", "LIMIT": ""})

    # Then the default applies, and a blank required variable is reported as missing
    assert config.LIMIT == 3
    with pytest.raises(ConfigurationError, match="TABLE_NAME"):
        load_config(ExampleConfig, {"TABLE_NAME": ""})


def _report_cached_clients(connection: Any) -> None:
    connection.send(aws_clients.client.cache_info().currsize)
    connection.close()


def test_a_forked_child_starts_without_its_parents_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a client cached in this process (its connection pool holds this process's sockets)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    aws_clients.reset()
    aws_clients.client("sqs")
    assert aws_clients.client.cache_info().currsize == 1

    # When a child is forked (as lambda_toolkit.parallel_map forks its workers)
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("fork").Process(target=_report_cached_clients, args=(child,))
    process.start()
    cached_in_child = parent.recv()
    process.join()

    # Then the child has no cached client: it makes its own, with its own connections
    assert cached_in_child == 0
    assert aws_clients.client.cache_info().currsize == 1  # and the parent keeps its own
    aws_clients.reset()
