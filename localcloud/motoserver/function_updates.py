"""UpdateFunctionConfiguration as AWS runs it: the invoker's workers restart with the new settings.

lambda/latest/api/API_UpdateFunctionConfiguration.html and lambda/latest/dg/functions-states.html:
- "When you update a function, Lambda provisions an instance of the function and its supporting
  resources": the update answers at once with LastUpdateStatus InProgress; GetFunction and
  GetFunctionConfiguration say InProgress until it is done, then Successful (the function_updated_v2
  waiter polls for that), or Failed with LastUpdateStatusReason/ReasonCode, when "Lambda aborts the
  update and the function's previous code and configuration remain available".
- While an update is InProgress, another update fails with ResourceConflictException, and invokes run
  the previous configuration.
- The reserved environment variables (lambda/latest/dg/configuration-envvars.html) "cannot be set in
  your function configuration": Lambda refuses them with InvalidParameterValueException.

moto 5.2.5 applies the update to its model, always answers Successful, and drops the settings it does
not know. Here the update is checked, applied to moto's model, reported InProgress, and sent to the
control server (POST /function-configuration) in a thread: the invoker replaces the function's pool, so
workers started from then on get the new AWS_LAMBDA_FUNCTION_MEMORY_SIZE, Timeout and variables (and
whatever limits the sandbox derives from MemorySize); then the status is Successful. An invoker that
cannot apply it makes the update Failed, and moto's model goes back to the previous values, which are
the ones still running. Settings the invoker does not apply (Role, Handler, Layers, VpcConfig, ...) are
refused by name before anything changes: never accepted and ignored.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from moto.awslambda.exceptions import InvalidParameterValueException, LambdaClientError
from moto.awslambda.models import LambdaBackend, LambdaFunction

from localcloud.config import INVOKE_URL_VARIABLE

# What an update may change here: the invoker applies the first three; Description only labels the function.
APPLIED_SETTINGS: Final = ("MemorySize", "Timeout", "Environment", "Description")
MIN_MEMORY_MB: Final = 128
MAX_MEMORY_MB: Final = 10_240
MAX_TIMEOUT_S: Final = 900
# lambda/latest/dg/configuration-envvars.html, "Reserved environment variables".
RESERVED_VARIABLES: Final = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})
# Pool restarts stop idle workers (a grace of seconds each); far below the waiter's 300 s.
CONTROL_TIMEOUT_S: Final = 120.0
_APPLIED_ATTRIBUTE: Final = "localcloud_function_updates"


class ResourceConflict(LambdaClientError):
    code = 409

    def __init__(self, function_arn: str) -> None:
        super().__init__("ResourceConflictException",
                         f"The operation cannot be performed at this time. An update is in progress for resource: "
                         f"{function_arn}")


@dataclass
class UpdateStatus:
    """LastUpdateStatus of one function, with the reason of a failed update."""

    status: str = "Successful"
    reason: str | None = None
    reason_code: str | None = None


_statuses: dict[str, UpdateStatus] = {}
_lock = threading.Lock()


def apply() -> None:
    if getattr(LambdaBackend, _APPLIED_ATTRIBUTE, False):
        return  # once per process: the wrappers must not wrap themselves
    setattr(LambdaBackend, _APPLIED_ATTRIBUTE, True)
    LambdaBackend.update_function_configuration = _updating  # type: ignore[method-assign,assignment]
    LambdaFunction.get_configuration = _reporting_status(  # type: ignore[method-assign]
        LambdaFunction.get_configuration)


def check_update(body: dict[str, Any]) -> None:
    """Refuse, by name, what the local cloud cannot apply or what Lambda itself refuses."""
    unapplied = sorted(set(body) - set(APPLIED_SETTINGS))
    if unapplied:
        raise InvalidParameterValueException(
            f"the local cloud does not apply {', '.join(unapplied)} in UpdateFunctionConfiguration; it applies "
            f"{', '.join(APPLIED_SETTINGS)}")
    memory = body.get("MemorySize")
    if memory is not None and not MIN_MEMORY_MB <= int(memory) <= MAX_MEMORY_MB:
        raise InvalidParameterValueException(
            f"MemorySize {memory} is outside {MIN_MEMORY_MB}-{MAX_MEMORY_MB} MB")
    timeout = body.get("Timeout")
    if timeout is not None and not 1 <= int(timeout) <= MAX_TIMEOUT_S:
        raise InvalidParameterValueException(f"Timeout {timeout} is outside 1-{MAX_TIMEOUT_S} seconds")
    variables = (body.get("Environment") or {}).get("Variables") or {}
    reserved = sorted(set(variables) & RESERVED_VARIABLES)
    if reserved:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment variables you "
            "have provided contains reserved keys that are currently not supported for modification. "
            f"Reserved keys used in this request: {', '.join(reserved)}")


def _updating(self: LambdaBackend, function_name: str, qualifier: str | None,
              body: dict[str, Any]) -> dict[str, Any] | None:
    function = self.get_function(function_name, qualifier)
    check_update(body)
    if "Environment" in body:  # Environment {} clears the variables, as {"Variables": {}} does
        body = {**body, "Environment": {"Variables": dict(body["Environment"].get("Variables") or {})}}
    with _lock:
        current = _statuses.setdefault(function.function_arn, UpdateStatus())
        if current.status == "InProgress":
            raise ResourceConflict(function.function_arn)
        _statuses[function.function_arn] = UpdateStatus("InProgress", "The function is being updated.")
    previous = _settings_of(function)
    configuration: dict[str, Any] = function.update_configuration(body)
    threading.Thread(target=_apply_in_invoker, args=(function, previous), name="function-update",
                     daemon=True).start()
    return configuration


def _settings_of(function: LambdaFunction) -> dict[str, Any]:
    return {"MemorySize": function.memory_size, "Timeout": function.timeout,
            "Environment": {"Variables": dict(function.environment_vars or {})},
            "Description": function.description}


def _apply_in_invoker(function: LambdaFunction, previous: dict[str, Any]) -> None:
    failure = tell_invoker(os.environ.get(INVOKE_URL_VARIABLE), function.function_name, _settings_of(function))
    if failure is None:
        status = UpdateStatus()
    else:
        # "Lambda aborts the update and the function's previous code and configuration remain available."
        # (Outside the lock: moto's update answers with get_configuration, which reads the status.)
        function.update_configuration(previous)
        status = UpdateStatus("Failed", failure, "InvalidConfiguration")
    with _lock:
        _statuses[function.function_arn] = status


def tell_invoker(invoke_url: str | None, function_name: str, settings: dict[str, Any]) -> str | None:
    """POST the new settings to the control server; None once applied, else why not."""
    if not invoke_url:
        return f"no invoker is attached to this moto server ({INVOKE_URL_VARIABLE} is not set)"
    request = urllib.request.Request(  # noqa: S310 - the control server's own http URL
        invoke_url.removesuffix("/invoke") + "/function-configuration",
        data=json.dumps({"function_name": function_name, "memory_size": settings["MemorySize"],
                         "timeout": settings["Timeout"],
                         "environment": settings["Environment"]["Variables"]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=CONTROL_TIMEOUT_S):  # noqa: S310 - our own URL
            return None
    except urllib.error.HTTPError as error:
        answer = error.read().decode(errors="replace")
        try:
            return str(json.loads(answer)["error"])
        except (ValueError, KeyError, TypeError):
            return answer or str(error)
    except (urllib.error.URLError, OSError) as error:
        return f"the local cloud's invoker could not be reached: {error}"


def _reporting_status(get_configuration: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    def configuration(self: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
        document = get_configuration(self, on_create)
        with _lock:
            status = _statuses.get(self.function_arn)
        if status is not None and "LastUpdateStatus" in document:
            document["LastUpdateStatus"] = status.status
            if status.reason is not None:
                document["LastUpdateStatusReason"] = status.reason
            if status.reason_code is not None:
                document["LastUpdateStatusReasonCode"] = status.reason_code
        return document

    return configuration
