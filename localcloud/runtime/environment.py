"""The environment a function runs with in the local cloud: the template's variables + Lambda's own.

Two layers, because two invokers need them differently:
- function_variables: what template.yaml sets (resolved to the local stack's physical names) plus the
  local additions: AWS_ENDPOINT_URL, the one variable that points boto3 at the local endpoint, and
  POWERTOOLS_TRACE_DISABLED (no X-Ray daemon runs locally, so Lambda's AWS_XRAY_* are not set either).
  `sam local` takes exactly these from an --env-vars file and adds the runtime's variables itself.
- runtime_variables: what the Lambda service and the Python runtime set (LAMBDA_RUNTIME_VARIABLES,
  from https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime),
  which the subprocess invoker must set because no runtime does it for it. _X_AMZN_TRACE_ID changes
  with every invoke: the runtime (localcloud.runtime.worker_main) sets it when an invoke arrives.
Nothing of the process that starts a worker leaks in: a worker gets these and nothing else.
"""

from __future__ import annotations

import sys
from pathlib import Path

from localcloud.aws.clients import FAKE_CREDENTIAL_ENV
from localcloud.deploy.deployed_stack import DeployedFunction

RUNTIME_VERSION = "python3.13"
# Where the runtime's own code is (Lambda's /var/runtime): the folder of worker_main.py, the bootstrap.
RUNTIME_DIR = Path(__file__).resolve().parent
# Lambda's Runtime API address. Nothing listens there locally (the worker speaks to the invoker over
# pipes); the variable is set because Lambda sets it and code may read it.
RUNTIME_API = "127.0.0.1:9001"

# What Lambda sets in a Python function's environment, by the page above (AWS_LAMBDA_LOG_FORMAT and
# AWS_LAMBDA_LOG_LEVEL only with LoggingConfig's JSON format; _X_AMZN_TRACE_ID per invoke).
LAMBDA_RUNTIME_VARIABLES = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ", "LANG", "PATH", "LD_LIBRARY_PATH", "PYTHONPATH",
})
LAMBDA_LOGGING_VARIABLES = frozenset({"AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL"})
# What the local cloud adds on top (function_variables).
LOCAL_ADDITIONS = frozenset({"AWS_ENDPOINT_URL", "POWERTOOLS_TRACE_DISABLED"})


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
    task_root = str(function.code_dir)
    # Lambda's values with this machine's folders: /var/lang (the interpreter) is this Python's prefix.
    interpreter_bin = str(Path(sys.executable).parent)
    return {
        "_HANDLER": function.handler,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime or RUNTIME_VERSION}",
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
        # Replaced by each worker's own stream (localcloud.runtime.worker).
        "AWS_LAMBDA_LOG_STREAM_NAME": f"localcloud/[$LATEST]{function.logical_id}",
        "AWS_ACCESS_KEY": FAKE_CREDENTIAL_ENV["AWS_ACCESS_KEY_ID"],
        **FAKE_CREDENTIAL_ENV,
        "AWS_LAMBDA_RUNTIME_API": RUNTIME_API,
        "LAMBDA_TASK_ROOT": task_root,
        "LAMBDA_RUNTIME_DIR": str(RUNTIME_DIR),
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "PATH": f"{interpreter_bin}:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "LD_LIBRARY_PATH": f"{sys.base_prefix}/lib:/lib64:/usr/lib64:{RUNTIME_DIR}:{RUNTIME_DIR}/lib:"
                           f"{task_root}:{task_root}/lib:/opt/lib",
        # As Lambda's Python runtime has it ($LAMBDA_RUNTIME_DIR); the function folder and its layers
        # come onto sys.path from the bootstrap (worker_main), as /var/task and /opt/python do.
        "PYTHONPATH": str(RUNTIME_DIR),
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
    """Everything a worker process gets; nothing is inherited from the process that starts it (the
    names are LAMBDA_RUNTIME_VARIABLES, the template's own and LOCAL_ADDITIONS)."""
    return {**runtime_variables(function, region=region), **function_variables(function, endpoint_url)}
