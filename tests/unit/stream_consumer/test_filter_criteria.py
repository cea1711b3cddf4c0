"""The FilterCriteria of StreamConsumerFunction's mapping, read from template.yaml, on the sample events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localcloud.event_sources.filter_criteria import FilterCriteria
from tests.support.events import event_files, load_event
from tests.support.template import properties

EXCLUDED = {"filtered_out_non_order_key.json"}


def stream_filter() -> FilterCriteria:
    mapping = properties("StreamConsumerFunction")["Events"]["ItemsStream"]["Properties"]
    return FilterCriteria([entry["Pattern"] for entry in mapping["FilterCriteria"]["Filters"]])


def test_the_template_filter_is_valid_json_that_names_order_keys() -> None:
    # Given the mapping's filter patterns
    mapping = properties("StreamConsumerFunction")["Events"]["ItemsStream"]["Properties"]
    (pattern,) = [json.loads(entry["Pattern"]) for entry in mapping["FilterCriteria"]["Filters"]]

    # Then it keeps order changes by eventName and the order's keys
    assert pattern["eventName"] == ["INSERT", "MODIFY", "REMOVE"]
    assert set(pattern["dynamodb"]["Keys"]) == {"customer_id", "order_id"}


@pytest.mark.parametrize("path", event_files("stream_consumer"), ids=lambda path: path.name)
def test_order_changes_pass_the_filter_and_other_records_never_invoke_the_function(path: Path) -> None:
    # Given the filter as the template declares it, and the records of a sample event
    criteria = stream_filter()
    records = load_event("stream_consumer", path.name)["Records"]

    # When each record is matched
    passed = [criteria.matches(record) for record in records]

    # Then order changes pass (bad ones included: they must fail loudly, not vanish) and others do not
    assert passed == [path.name not in EXCLUDED] * len(records)
