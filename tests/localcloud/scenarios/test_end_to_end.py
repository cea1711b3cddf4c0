"""End to end: messages in a queue -> the real poller -> the real function -> tables and DLQs."""

from __future__ import annotations

import pytest

from localcloud.cloud import LocalCloud
from localcloud.scenarios.order_reconciliation import peek_dead_letters, queue_depth, reconcile_orders
from localcloud.scenarios.order_traffic import MessageKind, generate_orders, send_orders, waves
from tests.localcloud.waiting import wait_for
from tests.support.requirements import require_resources
from tools.reconcile_aggregates import ReconcileReport, reconcile

pytestmark = [pytest.mark.localcloud, pytest.mark.slow]


def test_orders_reach_items_table_and_bad_ones_the_dead_letter_queue_each_once(local_cloud: LocalCloud) -> None:
    # Given 40 valid orders, 5 malformed bodies and 5 exact duplicates
    stack = local_cloud.stack
    messages = generate_orders(40, malformed=5, duplicates=5, seed=11)

    # When they are sent to WorkQueue (the duplicates once the originals are in) and the SQS poller feeds
    # SqsWorkerFunction until the queue drains
    sent = []
    for wave in waves(messages):
        sent += send_orders(local_cloud.aws.sqs, stack.queues["WorkQueue"].url, wave)
        wait_for(lambda: queue_depth(local_cloud.aws, stack.queues["WorkQueue"].url) == 0, timeout_s=90,
                 what="WorkQueue drained")

    # Then every message is accounted for: 40 written, 5 dead-lettered with their reasons, 5 suppressed
    report = reconcile_orders(local_cloud.aws, stack, sent)
    assert report.ok, report.to_document()
    assert (report.written, report.dead_lettered, report.suppressed) == (40, 5, 5)
    assert report.sent[MessageKind.MALFORMED] == 5
    assert set(report.dead_letter_reasons) <= {"malformed_json", "not_an_object", "invalid_order", "empty_body"}


def test_a_message_that_always_fails_is_moved_to_the_dead_letter_queue_by_the_redrive_policy(
    probe_cloud: LocalCloud,
) -> None:
    # Given PoisonQueue (visibility 2 s, maxReceiveCount 2) whose consumer fails every batch
    stack = probe_cloud.stack
    body = "poison-for-redrive"

    # When a message is sent
    probe_cloud.aws.sqs.send_message(QueueUrl=stack.queues["PoisonQueue"].url, MessageBody=body)

    # Then after two failed receives SQS moves it to PoisonDeadLetterQueue, and the source queue is empty
    dead = wait_for(lambda: [m for m in peek_dead_letters(probe_cloud.aws, stack.queues["PoisonDeadLetterQueue"].url)
                             if m["Body"] == body], timeout_s=30, what="the poison message in the DLQ")
    assert int(dead[0]["Attributes"]["ApproximateReceiveCount"]) >= 2
    assert queue_depth(probe_cloud.aws, stack.queues["PoisonQueue"].url) == 0
    stats = probe_cloud.runtime_status()["pollers"]["PoisonConsumerFunctionPoisonQueueEvent"]
    assert stats["batches_failed"] >= 2
    assert stats["records_completed"] == 0


def test_the_stream_consumer_keeps_aggregates_equal_to_the_items(local_cloud: LocalCloud) -> None:
    require_resources("function", local_cloud.stack.functions, "StreamConsumerFunction")

    # Given orders written to ItemsTable through WorkQueue
    stack = local_cloud.stack
    sent = send_orders(local_cloud.aws.sqs, stack.queues["WorkQueue"].url, generate_orders(20, seed=23))
    wait_for(lambda: reconcile_orders(local_cloud.aws, stack, sent).written == 20, timeout_s=90,
             what="20 orders written")

    # When the stream poller feeds StreamConsumerFunction
    dynamodb = local_cloud.aws.resource("dynamodb")
    items, aggregates = (dynamodb.Table(stack.tables[name].name) for name in ("ItemsTable", "AggregatesTable"))

    # Then AggregatesTable catches up with what ItemsTable implies, customer by customer
    def reconciled() -> ReconcileReport | None:
        report = reconcile(items, aggregates)
        return report if report.ok else None

    report = wait_for(reconciled, timeout_s=90, what="aggregates equal to the items")
    assert report.orders_scanned >= 20
