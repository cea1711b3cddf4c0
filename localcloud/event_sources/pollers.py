"""Running every event source mapping of the local cloud: one poller per enabled mapping.

The local cloud core wires it as

    clients = PollerClients.for_endpoint(endpoint_url, region)
    mappings = read_stack_mappings(cloudformation=..., lambda_client=..., stack_name=...)
    pollers = start_pollers(mappings, clients, invoker)
    ...  pollers.stats() for status output
    pollers.stop()
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import boto3
from botocore.config import Config

from localcloud.event_sources.dynamodb_streams import DynamoDBStreamPoller
from localcloud.event_sources.poller import PollerStats, logger
from localcloud.event_sources.settings import EventSourceMappingSettings, SourceKind
from localcloud.event_sources.sqs import SqsPoller
from localcloud.runtime.invocation import Invoker

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_sqs import SQSClient

# Each invoker thread holds a connection while it deletes; the default pool of 10 would make busy
# mappings wait on each other for connections, not on the function.
POLLER_CLIENT_CONFIG = Config(
    connect_timeout=3,
    read_timeout=30,
    max_pool_connections=64,
    retries={"mode": "standard", "max_attempts": 4},
)


class Poller(Protocol):
    settings: EventSourceMappingSettings
    stats: PollerStats
    error: BaseException | None

    @property
    def name(self) -> str: ...

    def start(self) -> None: ...

    def stop(self, timeout_s: float = 30.0) -> None: ...


@dataclass(frozen=True)
class PollerClients:
    sqs: SQSClient
    dynamodbstreams: DynamoDBStreamsClient

    @classmethod
    def for_endpoint(cls, endpoint_url: str, region: str) -> PollerClients:
        session = boto3.session.Session()
        return cls(
            sqs=session.client("sqs", endpoint_url=endpoint_url, region_name=region, config=POLLER_CLIENT_CONFIG),
            dynamodbstreams=session.client("dynamodbstreams", endpoint_url=endpoint_url, region_name=region,
                                           config=POLLER_CLIENT_CONFIG),
        )


def build_poller(
    settings: EventSourceMappingSettings,
    clients: PollerClients,
    invoker: Invoker,
    *,
    clock: Callable[[], float] = time.time,
    time_scale: float = 1.0,
) -> SqsPoller | DynamoDBStreamPoller:
    """``time_scale`` multiplies the long AWS delays (SQS scaling steps of a minute; CloudConfig.time_scale)."""
    if settings.kind is SourceKind.DYNAMODB_STREAM:
        return DynamoDBStreamPoller(settings, streams=clients.dynamodbstreams, sqs=clients.sqs, invoker=invoker,
                                    clock=clock)
    return SqsPoller(settings, sqs=clients.sqs, invoker=invoker, time_scale=time_scale)


class PollerSet:
    """The running pollers; stats() gives each mapping's counters by its name."""

    def __init__(self, pollers: Iterable[Poller]) -> None:
        self.pollers: list[Poller] = list(pollers)
        self._started: list[Poller] = []

    def start(self) -> PollerSet:
        """Start every poller; if one is refused, stop those already running and raise its error."""
        for poller in self.pollers:
            try:
                poller.start()
            except BaseException:
                self.stop()
                raise
            self._started.append(poller)
            logger.info("poller started: %s", poller.name)
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        while self._started:
            self._started.pop().stop(timeout_s)

    def stats(self) -> dict[str, dict[str, int]]:
        return {poller.name: poller.stats.snapshot() for poller in self.pollers}

    def errors(self) -> dict[str, BaseException]:
        """Pollers whose thread died of an unexpected error (a bug): the status should show them."""
        return {poller.name: poller.error for poller in self.pollers if poller.error is not None}

    def __enter__(self) -> PollerSet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_pollers(
    mappings: Iterable[EventSourceMappingSettings],
    clients: PollerClients,
    invoker: Invoker,
    *,
    clock: Callable[[], float] = time.time,
    time_scale: float = 1.0,
) -> PollerSet:
    """Build and start a poller for every ENABLED mapping (a disabled mapping polls nothing in AWS)."""
    pollers = [build_poller(settings, clients, invoker, clock=clock, time_scale=time_scale)
               for settings in mappings if settings.enabled]
    return PollerSet(pollers).start()


@contextmanager
def running_pollers(
    mappings: Iterable[EventSourceMappingSettings],
    clients: PollerClients,
    invoker: Invoker,
    *,
    clock: Callable[[], float] = time.time,
    time_scale: float = 1.0,
) -> Iterator[PollerSet]:
    pollers = start_pollers(mappings, clients, invoker, clock=clock, time_scale=time_scale)
    try:
        yield pollers
    finally:
        pollers.stop()
