"""Every body of the bad-input corpus gets its clear reason and ends in the DLQ; none blocks a neighbour."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from order_model import parse_order

from lambda_toolkit.errors import PermanentError
from tests.support.lambda_context import FakeLambdaContext
from tests.unit.sqs_worker.conftest import SqsWorkerWorld

CORPUS_PATH = Path(__file__).parents[2] / "data" / "bad_inputs" / "order_bodies.json"
CORPUS: list[dict[str, Any]] = json.loads(CORPUS_PATH.read_text())["cases"]


@pytest.mark.parametrize("case", CORPUS, ids=[case["name"] for case in CORPUS])
def test_each_bad_body_is_refused_with_its_reason(case: dict[str, Any]) -> None:
    with pytest.raises(PermanentError) as raised:
        parse_order(case["body"])
    assert raised.value.reason == case["reason"]
    assert len(raised.value.message) < 2000, "the message stays readable even for a 256 KiB body"


def sqs_record(message_id: str, body: str) -> dict[str, Any]:
    return {
        "messageId": message_id, "receiptHandle": f"rh-{message_id}", "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1763884800000",
                       "SenderId": "123456789012", "ApproximateFirstReceiveTimestamp": "1763884800001"},
        "messageAttributes": {}, "md5OfBody": hashlib.md5(body.encode("utf-8", "surrogatepass")).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:WorkQueue",
        "awsRegion": "us-east-1",
    }


def test_the_whole_corpus_in_batches_dead_letters_every_body_and_still_writes_the_valid_orders(
    sqs_worker: SqsWorkerWorld,
) -> None:
    # Given the corpus in batches of ten, each batch also carrying one valid order
    valid = {"customer_id": "cust-corpus", "currency": "EUR",
             "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "3.50"}]}
    responses = []
    for start in range(0, len(CORPUS), 9):
        chunk = CORPUS[start:start + 9]
        records = [sqs_record(f"bad-{start + i}", case["body"]) for i, case in enumerate(chunk)]
        records.append(sqs_record(f"good-{start}", json.dumps({**valid, "order_id": f"ord-{start}"})))

        # When the worker handles each batch
        responses.append(sqs_worker.app.lambda_handler({"Records": records}, FakeLambdaContext()))

    # Then no message needed a retry, every bad body is in the DLQ with its reason, valid ones written
    assert all(response == {"batchItemFailures": []} for response in responses)
    attributes = [m["MessageAttributes"] for m in sqs_worker.dead_letters()]
    dead = {a["source_message_id"]["StringValue"]: a["failure_reason"]["StringValue"] for a in attributes}
    assert dead == {f"bad-{i}": case["reason"] for i, case in enumerate(CORPUS)}
    assert len(sqs_worker.stored_orders()) == len(responses)
