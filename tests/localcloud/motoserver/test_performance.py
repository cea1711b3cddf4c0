"""The moto server's speed-ups (localcloud/motoserver/performance.py) give moto's own results.

Each test sets the fast path beside moto 5.2.5's own code, in this process and without patching moto,
and compares what both produce: the serializer's JSON for every DynamoDB attribute type, what the
send path reads of a queue's attributes, and the per-class method list of the action dispatch.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest
from moto.core import serialize as moto_serialize
from moto.core.utils import get_service_model, method_names_from_class
from moto.dynamodb.responses import DynamoHandler
from moto.sqs.models import Queue
from moto.sqs.responses import SQSResponse

from localcloud.motoserver.performance import (
    _attributes_while_sending,
    _DeduplicationAttribute,
    _method_names_per_class,
    _sending,
    _serializing_attribute_values,
    attribute_value_json,
)

pytestmark = pytest.mark.localcloud

MOTO_STRUCTURE = moto_serialize.BaseJSONSerializer._serialize_type_structure


class MotoSerializer(moto_serialize.JSONSerializer):
    _serialize_type_structure = MOTO_STRUCTURE  # type: ignore[assignment]


class FastSerializer(moto_serialize.JSONSerializer):
    _serialize_type_structure = _serializing_attribute_values(MOTO_STRUCTURE)  # type: ignore[assignment]


def every_type_item() -> dict[str, Any]:
    """An item in the wire form moto's backends hand the serializer: every AttributeValue member,
    nested maps and lists, empty and odd values."""
    blob = base64.b64encode(b"\x00\x01binary").decode()
    return {
        "pk": {"S": "customer-1"},
        "empty_string": {"S": ""},
        "number": {"N": "12.340"},
        "negative": {"N": "-0.5"},
        "blob": {"B": blob},
        "strings": {"SS": ["a", "b", "é"]},
        "numbers": {"NS": ["1", "2.5"]},
        "blobs": {"BS": [blob, base64.b64encode(b"more").decode()]},
        "null": {"NULL": True},
        "true": {"BOOL": True},
        "false": {"BOOL": False},
        "empty_map": {"M": {}},
        "empty_list": {"L": []},
        "nested": {"M": {"lines": {"L": [{"M": {"sku": {"S": "SKU-1"}, "qty": {"N": "2"},
                                                "tags": {"SS": ["x"]}, "gift": {"BOOL": False}}},
                                         {"L": [{"N": "1"}, {"NULL": True}]}]},
                         "currency": {"S": "EUR"}}},
    }


def serialize(serializer_class: type[moto_serialize.ResponseSerializer], service: str, operation: str,
              result: dict[str, Any]) -> Any:
    model = get_service_model(service).operation_model(operation)  # moto's own model classes
    serializer = serializer_class(operation_model=model, value_picker=moto_serialize.XFormedAttributePicker())
    response = serializer.serialize(result)
    return json.loads(response["body"])


@pytest.mark.parametrize(("service", "operation", "result"), [
    ("dynamodb", "GetItem", {"Item": every_type_item()}),
    ("dynamodb", "Scan", {"Items": [every_type_item(), {"pk": {"S": "customer-2"}}], "Count": 2, "ScannedCount": 2,
                          "LastEvaluatedKey": {"pk": {"S": "customer-2"}}}),
    ("dynamodb", "BatchGetItem", {"Responses": {"AggregatesTable": [every_type_item()]}, "UnprocessedKeys": {}}),
    ("dynamodb", "TransactGetItems", {"Responses": [{"Item": every_type_item()}, {}]}),
    ("dynamodb", "UpdateItem", {"Attributes": every_type_item(),
                                "ConsumedCapacity": {"TableName": "T", "CapacityUnits": 1.0}}),
    ("dynamodbstreams", "GetRecords", {"Records": [{
        "eventID": "1", "eventName": "MODIFY", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1", "dynamodb": {
            "Keys": {"pk": {"S": "customer-1"}}, "NewImage": every_type_item(), "OldImage": {"pk": {"S": "customer-1"}},
            "SequenceNumber": "4421584500000000017450439091", "SizeBytes": 26, "StreamViewType": "NEW_AND_OLD_IMAGES",
            "ApproximateCreationDateTime": 1764700000}}], "NextShardIterator": "next"}),
])
def test_attribute_values_serialize_as_moto_serializes_them(
    service: str, operation: str, result: dict[str, Any],
) -> None:
    # Given a response holding every attribute type, When both serializers write it,
    # Then the JSON is the same.
    fast = serialize(FastSerializer, service, operation, result)
    assert fast == serialize(MotoSerializer, service, operation, result)


def test_a_value_not_in_wire_form_takes_motos_path() -> None:
    # Given an attribute value that is not a dict of AttributeValue members (moto would look it up
    # under its aliases), When both serializers write it, Then the result is moto's.
    result = {"Item": {"pk": {"S": "a"}, "odd": {"s": "lower-case key"}, "deep": {"M": {"x": {"s": "y"}}}}}
    assert serialize(FastSerializer, "dynamodb", "GetItem", result) == serialize(MotoSerializer, "dynamodb", "GetItem",
                                                                                  result)


def test_the_fast_path_drops_members_that_are_none_as_moto_does() -> None:
    # Given a value with a None member and a map with a None entry, When written directly,
    # Then both are left out, as moto's structure rule leaves them out.
    written = attribute_value_json({"S": None, "M": {"a": None, "b": {"N": Decimal("1")}}}, lambda v: v)
    assert written == {"M": {"b": {"N": "1"}}}


@pytest.mark.parametrize("queue_settings", [
    {"name": "standard"},
    {"name": "plain.fifo", "FifoQueue": "true"},
    {"name": "dedup.fifo", "FifoQueue": "true", "ContentBasedDeduplication": "true"},
    {"name": "nodedup.fifo", "FifoQueue": "true", "ContentBasedDeduplication": "false"},
])
def test_the_send_path_reads_content_based_deduplication_as_the_full_attributes_give_it(
    queue_settings: dict[str, str],
) -> None:
    # Given a queue of each kind, When the send path reads ContentBasedDeduplication,
    # Then it reads what moto's full attribute property holds (and other names come from it too).
    settings = dict(queue_settings)
    queue = Queue(settings.pop("name"), region="us-east-1", account_id="123456789012", **settings)  # type: ignore[abstract]
    full = Queue.attributes.fget(queue)  # type: ignore[attr-defined]
    lazy = _DeduplicationAttribute(queue, Queue.attributes.fget)  # type: ignore[attr-defined]
    assert lazy.get("ContentBasedDeduplication") == full.get("ContentBasedDeduplication")
    assert lazy.get("VisibilityTimeout") == full.get("VisibilityTimeout")
    assert lazy.get("NoSuchAttribute", "default") == "default"


def test_only_the_send_path_gets_the_single_attribute() -> None:
    # Given the property wrapped, When it is read inside and outside a send,
    # Then inside it is the single-attribute reader and outside the full dict, also after an error.
    queue = Queue("q", region="us-east-1", account_id="123456789012")  # type: ignore[abstract]
    attributes = _attributes_while_sending(Queue.attributes.fget)  # type: ignore[attr-defined]
    seen: list[Any] = []

    def send() -> None:
        seen.append(attributes(queue))
        raise ValueError("invalid message")

    with pytest.raises(ValueError, match="invalid message"):
        _sending(send)()
    assert isinstance(seen[0], _DeduplicationAttribute)
    assert isinstance(attributes(queue), dict)


@pytest.mark.parametrize("response_class", [DynamoHandler, SQSResponse])
def test_the_method_list_is_motos_and_cannot_be_changed_by_a_caller(response_class: type) -> None:
    # Given the per-class method list, When read twice and changed by the first caller,
    # Then each read is moto's list.
    method_names = _method_names_per_class(method_names_from_class)
    first = method_names(response_class)
    first.append("not_a_method")
    assert method_names(response_class) == method_names_from_class(response_class)
