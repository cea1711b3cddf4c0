"""The HTTP server in front of moto's WSGI application: cheroot, with keep-alive and a thread pool.

moto_server runs werkzeug's development server, which answers every request with Connection: close
and starts a thread for each connection: every boto3 call of a worker, a poller or a test opens a TCP
connection, and the server spends about a quarter of its time accepting, starting a thread and
parsing (py-spy, the end-to-end bench). cheroot (CherryPy's HTTP/1.1 server) keeps connections open,
so each boto3 client reuses its own, and hands requests to a fixed pool of threads; idle keep-alive
connections wait in a selector, not in a thread. The WSGI application is moto's own
(DomainDispatcherApplication, as moto_server builds it); `--http-server werkzeug` runs moto_server's
own server instead (bench/moto_server_calls.py measures the two side by side).

Threads: most requests are short (the local cloud's pollers never long-poll: WaitTimeSeconds=0), but
some hold a thread for as long as a function runs: a Lambda Invoke through moto (Step Functions'
Lambda tasks, a Map's iterations) waits for the function, and a function's own ReceiveMessage may wait
up to 20 s. A pool that such requests fill would leave the functions' own calls queued behind them
until timeouts free it, so the pool is large (REQUEST_THREADS, idle threads cost little) where
werkzeug starts a thread per connection without bound.
"""

from __future__ import annotations

import signal
import sys
from typing import Any, Literal

HttpServer = Literal["cheroot", "werkzeug"]
HTTP_SERVERS: tuple[HttpServer, ...] = ("cheroot", "werkzeug")
REQUEST_THREADS = 512
KEEP_ALIVE_CONNECTIONS = 1024  # cheroot's default (10) would close most of the workers' connections
IDLE_CONNECTION_TIMEOUT_S = 60  # botocore keeps a connection in its pool until the server drops it


def serve(host: str, port: int, server: HttpServer) -> None:
    """Serve moto on host:port until SIGTERM/SIGINT."""
    if server == "werkzeug":
        from moto.server import main as moto_server_main  # noqa: PLC0415

        moto_server_main(["-H", host, "-p", str(port)])
        return
    from cheroot import wsgi  # noqa: PLC0415
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app  # noqa: PLC0415

    application = DomainDispatcherApplication(create_backend_app)
    application.debug = True  # type: ignore[attr-defined]  # as moto_server sets it
    http = wsgi.Server((host, port), application, numthreads=REQUEST_THREADS, request_queue_size=256,
                       timeout=IDLE_CONNECTION_TIMEOUT_S, accepted_queue_timeout=IDLE_CONNECTION_TIMEOUT_S)
    http.keep_alive_conn_limit = KEEP_ALIVE_CONNECTIONS

    def stop(_signum: int, _frame: Any) -> None:
        sys.exit(0)  # unwinds http.start() in the main thread; the pool is stopped below

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        http.start()
    finally:
        http.stop()
