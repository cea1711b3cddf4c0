"""The local cloud's moto server process (python -m localcloud.motoserver): keep-alive, stop on SIGTERM.

Each test starts the server as localcloud.aws.endpoint starts it, in its own process on a free port.
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from localcloud.aws.endpoint import free_port, is_healthy

pytestmark = pytest.mark.localcloud

LIST_TABLES_HEADERS = {
    "X-Amz-Target": "DynamoDB_20120810.ListTables",
    "Content-Type": "application/x-amz-json-1.0",
    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261202/us-east-1/dynamodb/aws4_request, "
                     "SignedHeaders=host, Signature=0",
}


@contextmanager
def moto_server(*flags: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "localcloud.motoserver", "--port", str(port), *flags],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not is_healthy(f"http://127.0.0.1:{port}"):
            assert process.poll() is None, "the moto server exited"
            assert time.monotonic() < deadline, "the moto server did not answer in 60 s"
            time.sleep(0.1)
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def three_requests_on_one_connection(port: int) -> list[tuple[int, str | None, tuple[str, int]]]:
    """(status, Connection header, the client socket's own address) of each answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    answers = []
    try:
        for _ in range(3):
            connection.request("POST", "/", json.dumps({}), LIST_TABLES_HEADERS)
            response = connection.getresponse()
            response.read()
            assert connection.sock is not None, "the server closed the connection"
            answers.append((response.status, response.getheader("Connection"), connection.sock.getsockname()))
    finally:
        connection.close()
    return answers


def test_the_server_keeps_a_connection_open_across_requests() -> None:
    # Given the local cloud's moto server (cheroot, the default), When a client sends three requests
    # on one connection, Then each is answered on that same socket and none asks to close it.
    with moto_server() as (_, port):
        answers = three_requests_on_one_connection(port)
    assert [status for status, _, _ in answers] == [200, 200, 200]
    assert all(header is None or header.lower() != "close" for _, header, _ in answers)
    assert len({address for _, _, address in answers}) == 1


def test_the_werkzeug_server_closes_every_connection_as_moto_server_does() -> None:
    # Given moto_server's own werkzeug server (--http-server werkzeug, for benchmarks), When a client
    # sends a request, Then the answer says Connection: close (so the test above can tell them apart).
    with moto_server("--http-server", "werkzeug") as (_, port):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("POST", "/", json.dumps({}), LIST_TABLES_HEADERS)
        response = connection.getresponse()
        response.read()
        connection.close()
    assert response.status == 200
    assert response.getheader("Connection") == "close"


def test_sigterm_stops_the_server_with_status_zero() -> None:
    # Given a running server with an open keep-alive connection, When it gets SIGTERM,
    # Then it exits with 0 within its shutdown time and the port is free again.
    with moto_server() as (process, port):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("POST", "/", json.dumps({}), LIST_TABLES_HEADERS)
        connection.getresponse().read()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        connection.close()
        assert not is_healthy(f"http://127.0.0.1:{port}")
