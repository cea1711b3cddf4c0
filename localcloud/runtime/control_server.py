"""The running local cloud's own small HTTP API, on 127.0.0.1 (never another interface).

    POST /invoke   {"function_name", "event"} -> {"payload", "error", "duration_ms"}
                   what the moto server calls for Lambda Invoke and Step Functions lambda:invoke tasks
                   (localcloud.motoserver), so those reach the same invokers as the pollers do
    POST /invoke-async {"function_name", "event"} -> 202 {"request_id"}: an InvocationType Event invoke,
                   queued with the function's retries and destinations (localcloud.event_sources.async_invoke);
                   404 {"error"} for a function the stack does not have
    POST /function-configuration {"function_name", "memory_size", "timeout", "environment"} -> {"function"}:
                   an UpdateFunctionConfiguration (localcloud.motoserver.function_updates): the function's
                   workers restart with the new settings; 404 for a function the stack does not have,
                   409 {"error"} when this invoker cannot apply it
    POST /deploy   {} -> the stack summary: redeploy template.yaml and restart pollers and workers
    GET  /status   -> pollers' and invokers' counters

The process that runs `up` serves it; CLI calls in other processes find its URL in the state file.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from localcloud.runtime.invocation import InvokeResult

logger = logging.getLogger("localcloud.control")


class ControlledCloud(Protocol):
    def invoke(self, function_name: str, event: Any) -> InvokeResult: ...

    def invoke_async(self, function_name: str, event: Any) -> str: ...

    def redeploy(self) -> dict[str, Any]: ...

    def update_function_configuration(self, function_name: str, *, memory_mb: int, timeout_s: int,
                                      environment: dict[str, str]) -> str: ...

    def runtime_status(self) -> dict[str, Any]: ...


class ControlServer:
    def __init__(self, cloud: ControlledCloud, port: int = 0) -> None:
        self._cloud = cloud
        handler = type("Handler", (_Handler,), {"cloud": cloud})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="localcloud-control", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def invoke_url(self) -> str:
        return self.url + "/invoke"

    def start(self) -> ControlServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    cloud: ControlledCloud
    protocol_version = "HTTP/1.1"  # keep-alive: the moto server reuses its connection per thread

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/invoke":
            result = self.cloud.invoke(body["function_name"], body.get("event"))
            self._answer(200, {"payload": result.payload, "error": result.error, "duration_ms": result.duration_ms})
        elif self.path == "/invoke-async":
            self._invoke_async(body)
        elif self.path == "/function-configuration":
            self._update_function_configuration(body)
        elif self.path == "/deploy":
            try:
                self._answer(200, self.cloud.redeploy())
            except Exception as error:  # reported to the CLI caller; the running cloud stays up
                logger.exception("redeploy failed")
                self._answer(500, {"error": f"{type(error).__name__}: {error}"})
        else:
            self._answer(404, {"error": f"no such endpoint: POST {self.path}"})

    def _invoke_async(self, body: dict[str, Any]) -> None:
        try:
            request_id = self.cloud.invoke_async(body["function_name"], body.get("event"))
        except LookupError as error:
            self._answer(404, {"error": str(error)})
        else:
            self._answer(202, {"request_id": request_id})

    def _update_function_configuration(self, body: dict[str, Any]) -> None:
        try:
            logical_id = self.cloud.update_function_configuration(
                body["function_name"], memory_mb=int(body["memory_size"]), timeout_s=int(body["timeout"]),
                environment={str(name): str(value) for name, value in (body.get("environment") or {}).items()})
        except LookupError as error:
            self._answer(404, {"error": str(error)})
        except ValueError as error:  # UpdateNotApplied is one: the invoker cannot run these settings
            self._answer(409, {"error": str(error)})
        else:
            self._answer(200, {"function": logical_id})

    def do_GET(self) -> None:
        if self.path == "/status":
            self._answer(200, self.cloud.runtime_status())
        else:
            self._answer(404, {"error": f"no such endpoint: GET {self.path}"})

    def _answer(self, status: int, document: Any) -> None:
        data = json.dumps(document, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("control: " + format, *args)
