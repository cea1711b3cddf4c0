"""The Docker invoker: functions run in Lambda's runtime image through `sam local start-lambda`.

    python -m localcloud up --invoker docker

Needs a Docker engine, the runtime image (public.ecr.aws/lambda/python:3.13, or the stand-in that
`make images` builds) and a build: `sam build --use-container --skip-pull-image --docker-network host`
(the same .aws-sam/build the SAM tests use; built here when it is missing or older than the code).
`sam local start-lambda` then serves Lambda's Invoke API on a local port, with warm containers (LAZY:
each started on its first invoke and kept), and this invoker calls it with a boto3 Lambda client.

Containers reach the moto server on the host's Docker bridge address, not on 127.0.0.1 (see
localcloud.runtime.sam_env), so the local cloud listens on 0.0.0.0 when this invoker is chosen.

sam local serves a copy of the built template whose functions declare exactly the variables the
deployed stack resolved (each function's own, no Globals): SAM CLI 1.170 cannot resolve intrinsics
in Environment and passes an empty string for each one it cannot (e.g. `!If [Cond, x,
!Ref AWS::NoValue]`), where Lambda would pass nothing at all. The --env-vars file is written too;
with the copy it only repeats the same values.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from localcloud.aws.clients import LocalAws
from localcloud.aws.endpoint import free_port, port_in_use
from localcloud.config import PROJECT_ROOT, CloudConfig
from localcloud.deploy.deployed_stack import DeployedStack
from localcloud.deploy.translation import load_sam_template
from localcloud.runtime.environment import function_variables
from localcloud.runtime.invocation import InvokeResult
from localcloud.runtime.resource_limits import docker_status
from localcloud.runtime.sam_env import container_endpoint_url, write_sam_env

logger = logging.getLogger("localcloud.invokers")

BUILD_DIR = PROJECT_ROOT / ".aws-sam" / "build"
SAM_ENV = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
START_TIMEOUT_S = 120.0
BUILD_TIMEOUT_S = 1800.0
# A cold container start (image, runtime init) on top of the function's own timeout.
INVOKE_MARGIN_S = 60


class DockerInvokerError(RuntimeError):
    pass


def ensure_built(template: Path, build_dir: Path = BUILD_DIR) -> Path:
    """The built template, running `sam build` in the build container when there is none or when the
    template or any function's or layer's code changed since (sam's --cached then rebuilds only those)."""
    built = build_dir / "template.yaml"
    if built.is_file() and not build_is_stale(template, built):
        return built
    logger.info("%s missing or older than the code: running sam build --use-container", built)
    result = subprocess.run(
        ["sam", "build", "--use-container", "--skip-pull-image", "--docker-network", "host",
         "--template", str(template), "--build-dir", str(build_dir), "--cached",
         "--cache-dir", str(build_dir.parent / "cache")],
        cwd=PROJECT_ROOT, env=SAM_ENV, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False,
    )
    if result.returncode != 0:
        raise DockerInvokerError(f"sam build failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    built.touch()  # sam leaves an unchanged build's files as they were: mark when it was checked
    return built


def build_is_stale(template: Path, built: Path) -> bool:
    """True when the template, or a file under a function's CodeUri or a layer's ContentUri, is newer
    than the built template (bytecode caches aside)."""
    built_at = built.stat().st_mtime
    return any(path.stat().st_mtime > built_at for path in _source_files(template))


def _source_files(template: Path) -> list[Path]:
    document = load_sam_template(template)
    folders: set[Path] = set()
    global_code = document.get("Globals", {}).get("Function", {}).get("CodeUri")
    for resource in document.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function":
            code = properties.get("CodeUri", global_code)
        elif resource.get("Type") == "AWS::Serverless::LayerVersion":
            code = properties.get("ContentUri")
        else:
            continue
        if isinstance(code, str):
            folders.add((template.parent / code).resolve())
    files = [template]
    for folder in sorted(folders):
        candidates = folder.rglob("*") if folder.is_dir() else [folder]
        files += [path for path in candidates
                  if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"]
    return files


LAMBDA_ERROR_KEYS = frozenset({"errorType", "errorMessage", "stackTrace", "requestId"})


def _is_error_document(document: Any) -> bool:
    """Lambda's error document. sam local start-lambda (1.170) answers an init failure with one but
    without the X-Amz-Function-Error header that Lambda sets, so the shape itself has to tell."""
    return isinstance(document, dict) and "errorType" in document and set(document) <= LAMBDA_ERROR_KEYS


class DockerInvoker:
    def __init__(self, stack: DeployedStack, *, config: CloudConfig, port: int | None = None) -> None:
        self.config = config
        self.port = port or free_port()
        self._stack = stack
        self._process: subprocess.Popen[bytes] | None = None
        self._stats: dict[str, Counter[str]] = {}
        self._lock = threading.Lock()
        self._client: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DockerInvoker:
        built = ensure_built(self.config.template)
        endpoint_url = container_endpoint_url(self.config.port)
        env_file = write_sam_env(self._stack, endpoint_url, self.config.state_dir / "docker-env.json")
        served = self._resolved_template(built, endpoint_url)
        log_path = self.config.log_dir / "sam-local.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            self._process = subprocess.Popen(
                ["sam", "local", "start-lambda", "--template", str(served), "--host", "127.0.0.1",
                 "--port", str(self.port), "--env-vars", str(env_file), "--skip-pull-image",
                 "--docker-network", "host", "--warm-containers", "LAZY"],
                cwd=PROJECT_ROOT, env=SAM_ENV, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not port_in_use(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise DockerInvokerError(f"sam local start-lambda did not start; see {log_path}")
            time.sleep(0.2)
        longest = max((function.timeout_s for function in self._stack.functions.values()), default=3)
        self._client = LocalAws(self.url, self._stack.region, Config(
            connect_timeout=5, read_timeout=longest + INVOKE_MARGIN_S, retries={"max_attempts": 0},
            max_pool_connections=32,
        )).client("lambda")
        return self

    def _resolved_template(self, built: Path, endpoint_url: str) -> Path:
        """The built template with each function's variables as deployed, and absolute code paths."""
        template = load_sam_template(built)
        template.get("Globals", {}).get("Function", {}).pop("Environment", None)
        for logical_id, resource in template["Resources"].items():
            properties = resource.get("Properties", {})
            for key in ("CodeUri", "ContentUri", "DefinitionUri"):
                if isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
                    properties[key] = str((built.parent / properties[key]).resolve())
            if resource["Type"] == "AWS::Serverless::Function" and logical_id in self._stack.functions:
                variables = function_variables(self._stack.functions[logical_id], endpoint_url)
                properties["Environment"] = {"Variables": variables}
        path = self.config.state_dir / "sam-local-template.json"
        path.write_text(json.dumps(template, indent=1))
        return path

    def invoke(self, function_name: str, event: Any) -> InvokeResult:
        """Invoke by logical id: sam local knows the functions by the template's names."""
        started = time.monotonic()
        try:
            response = self._client.invoke(FunctionName=function_name, Payload=json.dumps(event).encode())
            body = response["Payload"].read()
        except (ClientError, BotoCoreError) as error:
            self._count(function_name, "errors")
            return InvokeResult(error={"errorType": "ServiceException", "errorMessage": str(error), "stackTrace": []},
                                duration_ms=(time.monotonic() - started) * 1000)
        duration_ms = (time.monotonic() - started) * 1000
        document = json.loads(body) if body else None
        self._count(function_name, "invocations")
        if response.get("FunctionError") or _is_error_document(document):
            self._count(function_name, "errors")
            if not isinstance(document, dict):
                document = {"errorType": "Unhandled", "errorMessage": str(document)}
            return InvokeResult(error=document, duration_ms=duration_ms)
        return InvokeResult(payload=document, duration_ms=duration_ms)

    def _count(self, function_name: str, counter: str) -> None:
        with self._lock:
            self._stats.setdefault(function_name, Counter())[counter] += 1

    def stats(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {name: dict(counts) for name, counts in self._stats.items()}

    def resource_limits(self) -> dict[str, dict[str, str]]:
        """What sam local enforces: each container's memory is MemorySize; it has no CPU setting."""
        return docker_status(self._stack.functions)

    def reconfigure(self, stack: DeployedStack) -> None:
        """New physical names or settings: restart sam local with a fresh --env-vars file."""
        self.stop()
        self._stack = stack
        self.start()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        # SIGINT is sam's Ctrl-C: it removes its warm containers before it exits.
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if port_in_use(self.port):
            logger.warning("port %s still answers after sam local stopped", self.port)
