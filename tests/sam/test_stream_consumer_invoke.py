"""`sam local invoke StreamConsumerFunction` on every event file, in Docker, against moto."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from localcloud.aws.endpoint import MotoEndpoint
from tests.support import sam_cli
from tests.support.events import event_files, load_event
from tests.support.template import create_table
from tests.unit.stream_consumer.test_handler import EXPECTED_FAILURES


@pytest.mark.parametrize("path", event_files("stream_consumer"), ids=lambda path: path.name)
def test_sam_local_invoke_reports_the_first_failure_and_everything_after_it(
    path: Path, sam_build: Path, moto_endpoint: MotoEndpoint, dynamodb: Any, tmp_path: Path
) -> None:
    # Given AggregatesTable as the template defines it
    aggregates = create_table(dynamodb, "AggregatesTable")
    env = {"StreamConsumerFunction": {"AGGREGATES_TABLE_NAME": "AggregatesTable"}}

    # When the built function runs in Docker on the event file
    result = sam_cli.local_invoke("StreamConsumerFunction", path, moto_endpoint.url, env, tmp_path)

    # Then it reports exactly the expected sequence numbers ...
    reported = [item["itemIdentifier"] for item in result.payload["batchItemFailures"]]
    assert reported == EXPECTED_FAILURES[path.name], result.logs
    # ... and applied every record before the first failure: each left its order's marker
    records = load_event("stream_consumer", path.name)["Records"]
    applied = records[: len(records) - len(reported)]
    expected_markers = {
        (r["dynamodb"]["Keys"]["customer_id"]["S"], f"ORDER#{r['dynamodb']['Keys']['order_id']['S']}") for r in applied
    }
    markers = {(item["pk"], item["sk"]) for item in aggregates.scan()["Items"] if item["sk"].startswith("ORDER#")}
    assert markers == expected_markers
