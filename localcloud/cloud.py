"""The local cloud as one object: endpoint, deployed stack, invokers and event source mapping pollers.

    with LocalCloud(CloudConfig(port=4566)) as cloud:   # start(): everything below, in this order
        cloud.stack.queues["WorkQueue"].url
        cloud.invoke("SqsWorkerFunction", event)

start():
1. the control server (127.0.0.1, a free port): the moto server sends Lambda invokes there;
2. the moto server (localcloud.aws.endpoint) on config.port, told where the control server is;
3. the deploy of template.yaml (localcloud.deploy.stack), saved as <state_dir>/stack.json;
4. the invoker (subprocess workers by default, or `sam local start-lambda`), and the functions' asynchronous
   event queues (localcloud.event_sources.async_invoke: Event invokes, retries, destinations, DLQ);
5. one poller per enabled event source mapping of the stack (localcloud.event_sources.pollers), reading the
   mappings' settings from moto's Lambda API;
6. the state file, so that other processes (the CLI) find all of it.
stop() undoes it in reverse order. The cloud is itself an Invoker: pollers, the control server and
tests invoke through it, by logical id, physical name or ARN.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from botocore.exceptions import ClientError

from localcloud.aws.clients import LocalAws
from localcloud.aws.endpoint import MotoEndpoint
from localcloud.config import CloudConfig
from localcloud.deploy.deployed_stack import DeployedFunction, DeployedStack
from localcloud.deploy.stack import deploy
from localcloud.event_sources.async_invoke import AsyncInvoker, AsyncInvokeSettings
from localcloud.event_sources.destinations import AsyncDestinations
from localcloud.event_sources.pollers import POLLER_CLIENT_CONFIG, PollerClients, PollerSet, start_pollers
from localcloud.event_sources.settings import read_stack_mappings
from localcloud.runtime.control_server import ControlServer
from localcloud.runtime.docker_invoker import DockerInvoker
from localcloud.runtime.invocation import AnsweredLease, DirectLease, InvokeLease, InvokeResult, LeasingInvoker
from localcloud.runtime.resource_limits import SandboxLimits, docker_refusals, parse_cpu_limits
from localcloud.runtime.subprocess_invoker import SubprocessInvoker
from localcloud.state import STACK_FILE, CloudState, clear_state, write_state

logger = logging.getLogger("localcloud")


class UpdateNotApplied(ValueError):
    """An UpdateFunctionConfiguration this cloud's invoker cannot run: the update fails, nothing changes."""


class LocalCloud:
    def __init__(self, config: CloudConfig) -> None:
        self.config = config
        self.control: ControlServer | None = None
        self.endpoint: MotoEndpoint | None = None
        self.aws = LocalAws(config.endpoint_url, config.region)
        self._stack: DeployedStack | None = None
        self.invoker: Any = None  # SubprocessInvoker | DockerInvoker: invoke, reconfigure, stats, stop
        self.pollers: PollerSet | None = None
        self.async_invoker: AsyncInvoker | None = None
        self._deploy_lock = threading.Lock()
        self.started_at: float | None = None
        self._wrote_state = False

    # ---------------------------------------------------------------------------------------------
    # lifecycle

    def start(self) -> LocalCloud:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        config = self.config
        if config.invoker == "docker":  # before anything starts: what sam local cannot do is refused by name
            docker_refusals(memory=config.memory_limits, cpu=parse_cpu_limits(config.cpu_limits))
        config.log_dir.mkdir(parents=True, exist_ok=True)
        self.control = ControlServer(self).start()
        # Containers reach the host on the Docker bridge, not on its loopback.
        host = "0.0.0.0" if config.invoker == "docker" else config.host  # noqa: S104
        self.endpoint = MotoEndpoint(port=config.port, host=host, invoke_url=self.control.invoke_url,
                                     log_path=config.log_dir / "moto.log").start()
        logger.info("moto server on %s (pid %s)", self.endpoint.url, self.endpoint.pid)
        self._stack = self._deploy()
        self.invoker = self._make_invoker(self._stack)
        self.async_invoker = self._make_async_invoker()
        self.pollers = self._start_pollers()
        self.started_at = time.time()
        self._wrote_state = True
        write_state(CloudState(
            pid=os.getpid(), moto_pid=self.endpoint.pid, endpoint_url=self.endpoint.url,
            control_url=self.control.url, stack_name=config.stack_name, region=config.region,
            invoker=config.invoker, state_dir=config.state_dir,
        ))

    def stop(self) -> None:
        """Stop whatever was started, in reverse order; safe to call more than once."""
        if self.pollers is not None:
            self.pollers.stop()
            self.pollers = None
        if self.async_invoker is not None:
            self.async_invoker.stop()
            self.async_invoker = None
        if self.invoker is not None:
            self.invoker.stop()
            self.invoker = None
        if self.endpoint is not None:
            self.endpoint.stop()
            self.endpoint = None
        if self.control is not None:
            self.control.stop()
            self.control = None
        if self._wrote_state:  # only the cloud that wrote the state file removes it
            clear_state(self.config.state_dir)
            self._wrote_state = False

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---------------------------------------------------------------------------------------------
    # what runs

    @property
    def stack(self) -> DeployedStack:
        if self._stack is None:
            raise RuntimeError("the local cloud is not started")
        return self._stack

    def _deploy(self) -> DeployedStack:
        config = self.config
        started = time.monotonic()
        stack = deploy(self.aws, config.template, stack_name=config.stack_name, parameters=config.parameters)
        stack.save(config.state_dir / STACK_FILE)
        logger.info("deployed %s (%s) in %.1f s", config.stack_name, stack.status, time.monotonic() - started)
        return stack

    def _make_invoker(self, stack: DeployedStack) -> Any:
        config = self.config
        if config.invoker == "docker":
            return DockerInvoker(stack, config=config).start()
        limits = SandboxLimits(memory=config.memory_limits, cpu=parse_cpu_limits(config.cpu_limits),
                               function_ids=stack.functions, state_dir=config.state_dir)
        return SubprocessInvoker(stack, endpoint_url=config.endpoint_url, log_dir=config.log_dir,
                                 max_concurrency=config.max_concurrency, dev_shm=config.dev_shm,
                                 limits=limits)

    def _make_async_invoker(self) -> AsyncInvoker:
        destinations = AsyncDestinations(sqs=self.aws.sqs, sns=self.aws.client("sns"), invoke_async=self.invoke_async)
        return AsyncInvoker(self, settings_of=self._async_settings, function_arn_of=self._function_arn,
                            destinations=destinations, time_scale=self.config.time_scale)

    def _async_settings(self, function_name: str) -> AsyncInvokeSettings:
        """Read when an attempt is due: PutFunctionEventInvokeConfig at run time applies, as on AWS."""
        function = self.stack.functions[self.stack.function_logical_id(function_name) or function_name]
        try:
            config: dict[str, Any] = dict(
                self.aws.lambda_client.get_function_event_invoke_config(FunctionName=function.name))
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            config = {}
        return AsyncInvokeSettings.from_event_invoke_config(config, dead_letter_target=function.dead_letter_target_arn)

    def _function_arn(self, function_name: str) -> str:
        return self.stack.functions[self.stack.function_logical_id(function_name) or function_name].arn

    def _start_pollers(self) -> PollerSet | None:
        if not self.config.start_pollers:
            return None
        mappings = read_stack_mappings(cloudformation=self.aws.cloudformation, lambda_client=self.aws.lambda_client,
                                       stack_name=self.config.stack_name)
        # The pollers' own client settings, with this cloud's fake credentials (never the environment's).
        clients = PollerClients(sqs=self.aws.client("sqs", POLLER_CLIENT_CONFIG),
                                dynamodbstreams=self.aws.client("dynamodbstreams", POLLER_CLIENT_CONFIG))
        return start_pollers(mappings, clients, self, time_scale=self.config.time_scale)

    # ---------------------------------------------------------------------------------------------
    # Invoker, and what the control server asks

    def invoke(self, function_name: str, event: Any) -> InvokeResult:
        logical_id = self.stack.function_logical_id(function_name)
        if logical_id is None or self.invoker is None:
            return InvokeResult(error={"errorType": "ResourceNotFoundException",
                                       "errorMessage": f"Function not found: {function_name}", "stackTrace": []})
        result: InvokeResult = self.invoker.invoke(logical_id, event)
        return result

    def try_lease(self, function_name: str) -> InvokeLease | None:
        """LeasingInvoker: a free environment of the function (the SQS poller takes one before receiving)."""
        logical_id = self.stack.function_logical_id(function_name)
        if logical_id is None or self.invoker is None:
            return AnsweredLease(self.invoke(function_name, None))
        if isinstance(self.invoker, LeasingInvoker):
            return self.invoker.try_lease(logical_id)
        return DirectLease(self.invoker, logical_id)  # the Docker invoker keeps no count of its containers

    def invoke_async(self, function_name: str, event: Any) -> str:
        """InvocationType Event: queue the event and return its request id (LookupError: no such function)."""
        logical_id = self.stack.function_logical_id(function_name)
        if logical_id is None or self.async_invoker is None:
            raise LookupError(f"Function not found: {function_name}")
        return self.async_invoker.submit(logical_id, event)

    def redeploy(self) -> dict[str, Any]:
        """Deploy template.yaml again (UpdateStack) and restart the pollers on the new mappings.

        Functions whose settings changed get fresh workers; messages in queues stay where they are.
        """
        with self._deploy_lock:
            if self.pollers is not None:
                self.pollers.stop()
                self.pollers = None
            self._stack = self._deploy()
            self.invoker.reconfigure(self._stack)
            self.pollers = self._start_pollers()
        return {"stack_name": self.stack.stack_name, "status": self.stack.status,
                "resources": len(self.stack.resources)}

    def update_function_configuration(self, function_name: str, *, memory_mb: int, timeout_s: int,
                                      environment: dict[str, str]) -> str:
        """UpdateFunctionConfiguration (localcloud.motoserver.function_updates): the function's workers
        restart with these settings, as Lambda starts new execution environments; returns its logical id.

        An invoke already running finishes on its old worker; every worker started from now on gets the
        new memory size, timeout and variables (the whole set: an update replaces them all).
        """
        with self._deploy_lock:
            stack = self.stack
            logical_id = stack.function_logical_id(function_name)
            if logical_id is None:
                raise LookupError(f"Function not found: {function_name}")
            if self.config.invoker != "subprocess":
                raise UpdateNotApplied(
                    f"the {self.config.invoker} invoker (sam local start-lambda) runs the template's MemorySize, "
                    "Timeout and Environment; UpdateFunctionConfiguration is applied by the subprocess invoker")
            # A queue URL as CloudFormation names it (the deploy hands functions the URL that works here).
            local_urls = {stack.resources[queue_id].physical_id: queue.url for queue_id, queue in stack.queues.items()
                          if queue_id in stack.resources}
            function = DeployedFunction.model_validate({
                **stack.functions[logical_id].model_dump(), "memory_mb": memory_mb, "timeout_s": timeout_s,
                "environment": {name: local_urls.get(value, value) for name, value in environment.items()},
            })
            self._stack = stack.model_copy(update={"functions": {**stack.functions, logical_id: function}})
            self._stack.save(self.config.state_dir / STACK_FILE)
            self.invoker.reconfigure(self._stack)
        logger.info("%s updated: %d MB, %d s, %d variable(s); new workers use them", logical_id, memory_mb,
                    timeout_s, len(environment))
        return logical_id

    def runtime_status(self) -> dict[str, Any]:
        pollers = self.pollers
        return {
            "stack_name": self.config.stack_name,
            "endpoint_url": self.config.endpoint_url,
            "invoker": self.config.invoker,
            "uptime_s": round(time.time() - self.started_at, 1) if self.started_at else 0.0,
            "pollers": pollers.stats() if pollers else {},
            "poller_errors": {name: repr(error) for name, error in pollers.errors().items()} if pollers else {},
            "functions": self.invoker.stats() if self.invoker is not None else {},
            "resource_limits": self.invoker.resource_limits() if self.invoker is not None else {},
            "async_invocation": self.async_invoker.stats.snapshot() if self.async_invoker is not None else {},
        }
