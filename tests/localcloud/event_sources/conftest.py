"""Contract-test fixtures: moto in server mode over HTTP, queues and stream tables, running pollers.

The moto server runs in this process (ThreadedMotoServer on a free port) so that one test can also
check the in-process detaching of moto's own event source triggers. Every test makes its own
uniquely named resources, so tests share the server without sharing state.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from localcloud.event_sources.dynamodb_streams import DynamoDBStreamPoller
from localcloud.event_sources.pollers import PollerClients, build_poller
from localcloud.event_sources.settings import EventSourceMappingSettings
from localcloud.event_sources.sqs import SqsPoller
from localcloud.runtime.invocation import Invoker
from tests.localcloud.event_sources.moto_resources import REGION, Aws, QueueUnderTest, TableUnderTest, queue_arn, unique


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def aws(moto_endpoint: str) -> Aws:
    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=moto_endpoint, region_name=REGION)  # type: ignore[call-overload]

    return Aws(
        endpoint_url=moto_endpoint,
        clients=PollerClients.for_endpoint(moto_endpoint, REGION),
        sqs=client("sqs"),
        dynamodb=client("dynamodb"),
        cloudformation=client("cloudformation"),
        lambda_client=client("lambda"),
        iam=client("iam"),
    )


@pytest.fixture
def make_queue(aws: Aws) -> Callable[..., QueueUnderTest]:
    def make(
        *, visibility_timeout: int = 1, max_receive_count: int | None = None, fifo: bool = False,
    ) -> QueueUnderTest:
        suffix = ".fifo" if fifo else ""
        fifo_attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true"} if fifo else {}
        dead_letter_url = dead_letter_arn = None
        if max_receive_count is not None:
            dead_letter_url = aws.sqs.create_queue(QueueName=unique("dlq") + suffix,
                                                   Attributes=fifo_attributes)["QueueUrl"]
            dead_letter_arn = queue_arn(aws, dead_letter_url)
        attributes = {"VisibilityTimeout": str(visibility_timeout), **fifo_attributes}
        if dead_letter_arn is not None:
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": max_receive_count})
        url = aws.sqs.create_queue(QueueName=unique("queue") + suffix, Attributes=attributes)["QueueUrl"]
        return QueueUnderTest(url=url, arn=queue_arn(aws, url), dead_letter_url=dead_letter_url)

    return make


@pytest.fixture
def make_stream_table(aws: Aws) -> Callable[..., TableUnderTest]:
    def make(*, view_type: str = "NEW_AND_OLD_IMAGES") -> TableUnderTest:
        name = unique("table")
        description = aws.dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": view_type},
        )["TableDescription"]
        return TableUnderTest(name=name, stream_arn=description["LatestStreamArn"])

    return make


@pytest.fixture
def start_poller(aws: Aws) -> Iterator[Callable[..., SqsPoller | DynamoDBStreamPoller]]:
    """Build and start a poller for settings + a test function; stopped when the test ends."""
    started: list[SqsPoller | DynamoDBStreamPoller] = []

    def start(
        settings: EventSourceMappingSettings, function: Invoker, *, clock: Callable[[], float] = time.time,
        time_scale: float = 1.0,
    ) -> SqsPoller | DynamoDBStreamPoller:
        poller = build_poller(settings, aws.clients, function, clock=clock, time_scale=time_scale)
        poller.start()
        started.append(poller)
        return poller

    yield start
    for poller in reversed(started):
        poller.stop(10)
        assert poller.error is None, f"poller {poller.name} died: {poller.error!r}"
