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
6. Inline Map states run at most 40 iterations at once (localcloud.motoserver.inline_map).
7. Asynchronous invokes: an Invoke with InvocationType Event, the legacy InvokeAsync API, and what AWS
   itself invokes asynchronously (SNS subscriptions, S3 notifications, EventBridge targets) are queued
   in the control server's event queues (POST /invoke-async: retries, event age, destinations, DLQ)
   instead of being forwarded once with nothing to catch a failure. The Invoke answers 202 with the
   queued event's request id, the id its invocation record carries. DryRun validates and runs nothing.
   PutFunctionEventInvokeConfig replaces the configuration (moto 5.2.5 appends and keeps answering the
   first one).
8. UpdateFunctionConfiguration (MemorySize, Timeout, Environment) restarts the function's workers with
   the new settings, LastUpdateStatus InProgress -> Successful; what the invoker cannot apply is refused
   by name (localcloud.motoserver.function_updates).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import moto.core.responses as moto_responses
import moto.events.notifications as events_notifications
import moto.s3.notifications as s3_notifications

# moto's models at import: this module only ever runs as the server process (never import it elsewhere).
from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.awslambda.responses import LambdaResponse
from moto.core.config import default_user_config
from moto.core.exceptions import JsonRESTError
from moto.stepfunctions import models as stepfunctions_models
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from localcloud.config import INVOKE_URL_VARIABLE
from localcloud.motoserver import distributed_map, function_updates, inline_map, performance
from localcloud.motoserver.call_flags import CallFlag
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


class AsyncInvokeRefused(JsonRESTError):
    """The event could not be queued: Lambda's Invoke fails with a service error (nothing was accepted)."""

    code = 500

    def __init__(self, message: str) -> None:
        super().__init__("ServiceException", message)


def queue_async_invoke(invoke_url: str | None, function_name: str, event: Any) -> str:
    """Queue an Event invoke in the control server's event queues; returns its request id."""
    if not invoke_url:
        raise AsyncInvokeRefused(f"no invoker is attached to this moto server ({INVOKE_URL_VARIABLE} is not set)")
    request = urllib.request.Request(  # noqa: S310 - the control server's own http URL
        invoke_url.removesuffix("/invoke") + "/invoke-async",
        data=json.dumps({"function_name": function_name, "event": event}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own URL
            return str(json.loads(response.read())["request_id"])
    except urllib.error.HTTPError as error:
        raise AsyncInvokeRefused(f"local cloud refused the event: {error.read().decode(errors='replace')}") from error
    except (urllib.error.URLError, OSError, ValueError, KeyError) as error:
        raise AsyncInvokeRefused(f"local cloud could not queue the event: {error}") from error


# Set while moto delivers an SNS message, an S3 notification or an EventBridge event to a function, or
# serves InvokeAsync: AWS invokes those asynchronously, with the event queue's retries and destinations.
_asynchronous_origin = CallFlag()
_invoked_asynchronously = _asynchronous_origin.during


def _routed_invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> bytes:
    """Replacement for moto's LambdaFunction.invoke (same signature, same response contract)."""
    event = json.loads(body) if body else {}
    invoke_url = os.environ.get(INVOKE_URL_VARIABLE)
    function_name = self.function_name
    invocation_type = request_headers.get("x-amz-invocation-type") or "RequestResponse"
    if invocation_type == "DryRun":
        return b""  # Lambda checks the request and permissions, and runs nothing
    if invocation_type == "Event" or _asynchronous_origin.active:
        # Asynchronous: queued with its retries and destinations; Lambda answers 202 at once.
        response_headers["x-amzn-requestid"] = queue_async_invoke(invoke_url, function_name, event)
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


def _keeping_a_request_id(generate: Callable[..., str]) -> Callable[..., str]:
    """moto gives every response a random request id; an Event invoke's must be its queued event's."""

    def request_id(headerdict: dict[str, Any] | None = None) -> str:
        if isinstance(headerdict, dict) and headerdict.get("x-amzn-requestid"):
            return str(headerdict["x-amzn-requestid"])
        return generate(headerdict)

    return request_id


def _replacing_event_invoke_config(backend: Any, function_name: str, config: dict[str, Any]) -> dict[str, Any]:
    """PutFunctionEventInvokeConfig: "If a configuration already exists ... this operation overwrites it"."""
    backend.get_function(function_name).event_invoke_config = []
    return _MOTO_PUT_EVENT_INVOKE_CONFIG(backend, function_name, config)


def _updating_event_invoke_config(backend: Any, function_name: str, config: dict[str, Any]) -> dict[str, Any]:
    """UpdateFunctionEventInvokeConfig changes only the settings it names."""
    existing = backend.get_function(function_name).event_invoke_config
    merged = {**(existing[0].config if existing else {}), **config}
    return _replacing_event_invoke_config(backend, function_name, merged)


_MOTO_PUT_EVENT_INVOKE_CONFIG = LambdaBackend.put_function_event_invoke_config


def patch_asynchronous_invocation() -> None:
    """Change 7 of the module docstring (kept apart from the others: other patches are added alongside)."""
    LambdaBackend.send_sns_message = _invoked_asynchronously(  # type: ignore[method-assign]
        LambdaBackend.send_sns_message)
    s3_notifications._invoke_awslambda = _invoked_asynchronously(s3_notifications._invoke_awslambda)
    events_notifications._invoke_lambda = _invoked_asynchronously(events_notifications._invoke_lambda)
    LambdaResponse.invoke_async = _invoked_asynchronously(LambdaResponse.invoke_async)  # type: ignore[method-assign]
    moto_responses.gen_amzn_requestid_long = _keeping_a_request_id(  # type: ignore[attr-defined]
        moto_responses.gen_amzn_requestid_long)  # type: ignore[attr-defined]
    LambdaBackend.put_function_event_invoke_config = (  # type: ignore[method-assign]
        _replacing_event_invoke_config)  # type: ignore[assignment]
    LambdaBackend.update_function_event_invoke_config = (  # type: ignore[method-assign]
        _updating_event_invoke_config)  # type: ignore[assignment]


def patch_moto(*, speed_ups: bool = True) -> None:
    """Apply the changes; the launcher calls it once, before the server starts. ``speed_ups=False``
    leaves out localcloud.motoserver.performance (bench/moto_server_calls.py measures moto as shipped)."""
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    stepfunctions_models.stepfunctions_backends = stepfunctions_parser_backends  # type: ignore[assignment]
    LambdaFunction.invoke = _routed_invoke  # type: ignore[assignment,method-assign]
    LambdaBackend.create_event_source_mapping = _detaching(  # type: ignore[method-assign]
        LambdaBackend.create_event_source_mapping)
    patch_asynchronous_invocation()
    if speed_ups:
        performance.apply()
    distributed_map.apply()
    inline_map.apply()
    function_updates.apply()
