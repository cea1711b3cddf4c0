"""Contract on the whole local cloud: the SQS poller receives only what the function's workers can take.

lambda/latest/dg/services-sqs-scaling.html: Lambda runs as many batches as it has pollers and function
concurrency for; a batch never waits, received and invisible, for an execution environment. Here the
subprocess invoker's pool holds ReservedConcurrentExecutions workers and the poller leases one before it
receives (tests/localcloud/templates/probe_template.yaml, LeaseProbe*).
"""

from __future__ import annotations

import pytest

from localcloud.cloud import LocalCloud
from tests.localcloud.waiting import wait_for

pytestmark = pytest.mark.localcloud


def test_a_batch_is_received_only_when_a_worker_of_the_function_is_free(probe_cloud: LocalCloud) -> None:
    # Given LeaseProbeFunction (one worker, 0.5 s per batch) under a mapping allowed five batches, a 2 s
    # visibility timeout and maxReceiveCount 1
    queue = probe_cloud.stack.queues["LeaseProbeQueue"]
    dead_letters = probe_cloud.stack.queues["LeaseProbeDeadLetterQueue"]
    sqs = probe_cloud.aws.sqs
    stats_before = probe_cloud.runtime_status()["pollers"]["LeaseProbeFunctionLeaseProbeQueueEvent"]

    # When six messages arrive at once (3 s of work for the one worker)
    for index in range(6):
        sqs.send_message(QueueUrl=queue.url, MessageBody=f"m{index}")

    # Then all six are processed, one at a time, and none was received before the worker could take it:
    # none turned visible again, so none reached the dead-letter queue
    def completed() -> int:
        stats = probe_cloud.runtime_status()["pollers"]["LeaseProbeFunctionLeaseProbeQueueEvent"]
        return int(stats["records_completed"] - stats_before["records_completed"])

    wait_for(lambda: completed() >= 6, timeout_s=30, what="six messages processed")
    received = sqs.receive_message(QueueUrl=dead_letters.url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    assert received.get("Messages", []) == []
    assert completed() == 6
    assert probe_cloud.runtime_status()["functions"]["LeaseProbeFunction"]["max_concurrent"] == 1
