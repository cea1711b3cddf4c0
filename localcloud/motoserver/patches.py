"""The changes the local cloud makes to moto 5.2.5 inside the moto server process (patch_moto).

Applied once by the entry point (localcloud.motoserver.__main__) before the server starts; nothing
else imports this package, because importing it loads moto's models into the importing process.

1. Step Functions executions run: moto config ``stepfunctions.execute_state_machine = true`` (the same
   switch POST /moto-api/config sets). State machines that CloudFormation creates land in
   ``moto.stepfunctions.models.stepfunctions_backends``, while the executing API answers from the
   parser's own backends; the CloudFormation model is pointed at the parser's backends, otherwise a
   stack's state machine would be invisible to StartExecution.
2. Lambda invokes go to the local cloud's invokers: ``LambdaFunction.invoke`` (what Lambda's Invoke
   API and the Step Functions ``lambda:invoke`` task reach) POSTs the event to the control server of
   the process that runs the invokers (LOCALCLOUD_INVOKE_URL) instead of starting a Docker container.
3. moto's own event source triggers are detached as mappings are created: moto would otherwise receive
   SQS messages and empty stream shards by itself on every write (see localcloud.motoserver.native_triggers);
   the local cloud's pollers are the only consumers. The mappings stay listed, which is where the
   pollers read their settings.
4. Speed: a few of moto's hot paths do far more work than their result needs (localcloud.motoserver.performance
   says which and why); they are replaced by equivalent cheaper ones.
5. Distributed Map states as AWS runs them (localcloud.motoserver.distributed_map): ToleratedFailureCount and
   ToleratedFailurePercentage are enforced (States.ExceedToleratedFailureThreshold), each child
   execution's outcome is kept, the ResultWriter writes the result files its manifest lists, and an
   integer ToleratedFailurePercentage is accepted.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

# moto's models at import: this module only ever runs as the server process (never import it elsewhere).
from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.core.config import default_user_config
from moto.stepfunctions import models as stepfunctions_models
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from localcloud.config import INVOKE_URL_VARIABLE
from localcloud.motoserver import distributed_map, performance
from localcloud.motoserver.native_triggers import detach_moto_event_source_triggers

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
    performance.apply()
    distributed_map.apply()
