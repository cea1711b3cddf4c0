"""The environment a function runs with in the local cloud: the template's variables + Lambda's own.

Two layers, because two invokers need them differently:
- function_variables: what template.yaml sets (resolved to the local stack's physical names) plus
  AWS_ENDPOINT_URL, the one variable that points boto3 at the local endpoint. `sam local` takes
  exactly these from an --env-vars file and adds the runtime's variables itself.
- runtime_variables: what the Lambda service adds (AWS_LAMBDA_FUNCTION_NAME, _HANDLER, the region,
  credentials, ...), which the subprocess invoker must set because no runtime does it for it.
"""

from __future__ import annotations

import os

from localcloud.aws.clients import FAKE_CREDENTIAL_ENV
from localcloud.deploy.deployed_stack import DeployedFunction

RUNTIME_VERSION = "python3.13"


def function_variables(function: DeployedFunction, endpoint_url: str) -> dict[str, str]:
    return {
        **function.environment,
        "AWS_ENDPOINT_URL": endpoint_url,
        # No X-Ray daemon runs locally: the tracer would only log failed sends.
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


def runtime_variables(function: DeployedFunction, *, region: str) -> dict[str, str]:
    if function.code_dir is None:
        raise ValueError(f"{function.logical_id} has no local code folder (InlineCode or image functions)")
    python_path = [str(function.code_dir), *(str(layer) for layer in function.layer_dirs)]
    return {
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(function.timeout_s),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"localcloud/[$LATEST]{function.logical_id}",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime or RUNTIME_VERSION}",
        "_HANDLER": function.handler,
        "LAMBDA_TASK_ROOT": str(function.code_dir),
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        **FAKE_CREDENTIAL_ENV,
        "PYTHONPATH": os.pathsep.join(python_path),
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        # Logs reach the log file line by line, as CloudWatch gets them.
        "PYTHONUNBUFFERED": "1",
        **_logging_variables(function),
    }


def _logging_variables(function: DeployedFunction) -> dict[str, str]:
    """What Lambda sets for LoggingConfig's JSON format: loggers that read it (Powertools) follow it.

    The application log level defaults to INFO with the JSON format.
    """
    if function.log_format != "JSON":
        return {}
    return {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": function.application_log_level or "INFO"}


def sandbox_environment(function: DeployedFunction, *, endpoint_url: str, region: str) -> dict[str, str]:
    """Everything a worker process gets; nothing is inherited from the process that starts it."""
    return {**runtime_variables(function, region=region), **function_variables(function, endpoint_url)}
