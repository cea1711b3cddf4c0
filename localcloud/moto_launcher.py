"""The local cloud's moto server: `moto_server` with five changes made inside its own process.

    python -m localcloud.moto_launcher --host 127.0.0.1 --port 4566

Started by localcloud.endpoint as a subprocess, so that the `up` process, the functions' worker
processes and later CLI calls all talk to one server, and its state lives in that process. What it
changes in moto 5.2.5, and why:

1. Step Functions executions run: moto config ``stepfunctions.execute_state_machine = true`` (the same
   switch POST /moto-api/config sets). State machines that CloudFormation creates land in
   ``moto.stepfunctions.models.stepfunctions_backends``, while the executing API answers from the
   parser's own backends; the CloudFormation model is pointed at the parser's backends, otherwise a
   stack's state machine would be invisible to StartExecution.
2. Lambda invokes go to the local cloud's invokers: ``LambdaFunction.invoke`` (what Lambda's Invoke
   API and the Step Functions ``lambda:invoke`` task reach) POSTs the event to the control server of
   the process that runs the invokers (LOCALCLOUD_INVOKE_URL) instead of starting a Docker container.
3. moto's own event source triggers are detached as mappings are created: moto would otherwise receive
   SQS messages and empty stream shards by itself on every write (see localcloud.moto_native_triggers);
   the local cloud's pollers are the only consumers. The mappings stay listed, which is where the
   pollers read their settings.
4. Speed: a few of moto's hot paths do far more work than their result needs (localcloud.moto_performance
   says which and why); they are replaced by equivalent cheaper ones.
5. Distributed Map states as AWS runs them (localcloud.moto_stepfunctions): ToleratedFailureCount and
   ToleratedFailurePercentage are enforced (States.ExceedToleratedFailureThreshold), each child
   execution's outcome is kept, the ResultWriter writes the result files its manifest lists, and an
   integer ToleratedFailurePercentage is accepted.
The server also exits when the process that started it is gone, so a killed `up` or test run leaves
no server behind on its port.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

# moto's models at import: this module only ever runs as the server process (never import it elsewhere).
from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.core.config import default_user_config
from moto.server import main as moto_server_main
from moto.stepfunctions import models as stepfunctions_models
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from localcloud import moto_performance, moto_stepfunctions
from localcloud.config import INVOKE_URL_VARIABLE
from localcloud.moto_native_triggers import detach_moto_event_source_triggers

# Longer than the longest Lambda timeout (900 s): the invoker itself enforces the function's timeout.
INVOKE_HTTP_TIMEOUT_S = 960.0


def forward_invoke(invoke_url: str | None, function_name: str, event: Any) -> tuple[Any, dict[str, Any] | None]:
    """Ask the control server to invoke a function; returns (payload, error) in Lambda's shapes."""
    if not invoke_url:
        return None, {
            "errorType": "LocalCloudNotRunning",
            "errorMessage": f"no invoker is attached to this moto server ({INVOKE_URL_VARIABLE} is not set)",
            "stackTrace": [],
        }
    request = urllib.request.Request(  # noqa: S310 - the control server's own http URL
        invoke_url,
        data=json.dumps({"function_name": function_name, "event": event}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=INVOKE_HTTP_TIMEOUT_S) as response:  # noqa: S310 - our own URL
            answer = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as error:
        # The same error type Lambda reports when its service fails, so Step Functions Retry on
        # Lambda.ServiceException-like errors can catch it.
        return None, {"errorType": "ServiceException", "errorMessage": f"local cloud invoke failed: {error}",
                      "stackTrace": []}
    return answer.get("payload"), answer.get("error")


def _routed_invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> bytes:
    """Replacement for moto's LambdaFunction.invoke (same signature, same response contract)."""
    event = json.loads(body) if body else {}
    invoke_url = os.environ.get(INVOKE_URL_VARIABLE)
    function_name = self.function_name
    if request_headers.get("x-amz-invocation-type") == "Event":
        # Asynchronous: Lambda answers at once and runs the function later.
        threading.Thread(target=forward_invoke, args=(invoke_url, function_name, event), daemon=True).start()
        return b""
    payload, error = forward_invoke(invoke_url, function_name, event)
    if error is not None:
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(error).encode()
    return json.dumps(payload).encode()


def _detaching(create_event_source_mapping: Callable[..., Any]) -> Callable[..., Any]:
    def create_and_detach(self: Any, spec: dict[str, Any]) -> Any:
        mapping = create_event_source_mapping(self, spec)
        detach_moto_event_source_triggers()
        return mapping

    return create_and_detach


def patch_moto() -> None:
    """Apply the five changes; the launcher calls it once, before the server starts."""
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    stepfunctions_models.stepfunctions_backends = stepfunctions_parser_backends  # type: ignore[assignment]
    LambdaFunction.invoke = _routed_invoke  # type: ignore[assignment,method-assign]
    LambdaBackend.create_event_source_mapping = _detaching(  # type: ignore[method-assign]
        LambdaBackend.create_event_source_mapping)
    moto_performance.apply()
    moto_stepfunctions.apply()


def exit_with_parent(parent_pid: int, interval_s: float = 1.0) -> None:
    """Exit when the parent process is gone (re-parented: our parent pid changes)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval_s)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m localcloud.moto_launcher", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-requests", action="store_true", help="log every HTTP request (werkzeug)")
    parser.add_argument("--parent-pid", type=int, help="exit when this process (the one that started us) ends")
    arguments = parser.parse_args(argv)
    if arguments.parent_pid:
        exit_with_parent(arguments.parent_pid)
    # Step Functions' Lambda task calls this very server at localhost:$MOTO_PORT.
    os.environ["MOTO_PORT"] = str(arguments.port)
    if not arguments.log_requests:
        # One log line per request costs time on a busy pipeline and says little.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    patch_moto()
    moto_server_main(["-H", arguments.host, "-p", str(arguments.port)])


if __name__ == "__main__":
    main()
