"""Contract: FilterCriteria match as Lambda's event filtering does (the EventBridge pattern subset).

AWS pages: lambda/latest/dg/invocation-eventfiltering.html, with-sqs-filtering.html ("Amazon SQS event
source mappings only support filtering on the body key") and with-ddb-filtering.html ("Using the Exists
operator": it works on leaf nodes only).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from localcloud.event_sources.filter_criteria import FilterCriteria, sqs_filter_document
from localcloud.event_sources.settings import MappingConfigurationError, from_event_source_mapping


def sqs_record(body: str) -> dict[str, Any]:
    return sqs_filter_document({"messageId": "m-1", "body": body, "attributes": {"ApproximateReceiveCount": "1"}})


def matches(pattern: dict[str, Any], body: str) -> bool:
    return FilterCriteria([json.dumps(pattern)]).matches(sqs_record(body))


ORDER = json.dumps({"kind": "order", "amount": 25, "customer": {"tier": "gold", "id": "c-1"},
                    "tags": ["new", "eu"], "note": None, "express": True})


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"body": {"kind": ["order"]}}, True),
        ({"body": {"kind": ["refund", "order"]}}, True),  # values of one field are OR-ed
        ({"body": {"kind": ["refund"]}}, False),
        ({"body": {"kind": ["order"], "amount": [30]}}, False),  # fields are AND-ed
        ({"body": {"amount": [25.0]}}, True),  # numbers compare numerically
        ({"body": {"amount": ["25"]}}, False),  # a string never equals a number
        ({"body": {"express": [True]}}, True),
        ({"body": {"note": [None]}}, True),
        ({"body": {"customer": {"tier": ["gold"]}}}, True),  # nested fields
        ({"body": {"tags": ["eu"]}}, True),  # an array matches when one element does
        ({"body": {"kind": [{"prefix": "ord"}]}}, True),
        ({"body": {"kind": [{"suffix": "der"}]}}, True),
        ({"body": {"kind": [{"equals-ignore-case": "ORDER"}]}}, True),
        ({"body": {"amount": [{"numeric": [">", 10, "<=", 25]}]}}, True),
        ({"body": {"amount": [{"numeric": [">", 25]}]}}, False),
        ({"body": {"amount": [{"numeric": ["=", 25]}]}}, True),
        ({"body": {"kind": [{"anything-but": "refund"}]}}, True),
        ({"body": {"kind": [{"anything-but": ["order", "refund"]}]}}, False),
        ({"body": {"kind": [{"anything-but": {"prefix": "ord"}}]}}, False),
        ({"body": {"coupon": [{"exists": False}]}}, True),
        ({"body": {"coupon": [{"exists": True}]}}, False),
        ({"body": {"kind": [{"exists": True}]}}, True),
        ({"body": {"kind": [{"exists": False}]}}, False),
        ({"body": {"coupon": [{"anything-but": "x"}]}}, False),  # anything-but needs the field
        ({"body": {"missing": {"inner": [{"exists": False}]}}}, True),
        ({"body": {"customer": ["gold"]}}, False),  # an object is no leaf value
        ({"body": [{"prefix": "{"}]}, False),  # a JSON body never matches a plain-string pattern
    ],
)
def test_json_body_patterns(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, ORDER) is expected


@pytest.mark.parametrize(
    ("pattern", "body", "expected"),
    [
        ({"body": ["hello"]}, "hello", True),
        ({"body": [{"prefix": "URGENT"}]}, "URGENT: call", True),
        ({"body": [{"prefix": "URGENT"}]}, "later", False),
        ({"body": {"kind": ["order"]}}, "kind=order", False),  # a plain body never matches field patterns
        ({"body": [""]}, "", True),
    ],
)
def test_plain_string_body_patterns(pattern: dict[str, Any], body: str, expected: bool) -> None:
    assert matches(pattern, body) is expected


def test_a_record_passes_when_any_filter_matches_and_every_record_passes_without_filters() -> None:
    # Given two filters / When records match one, both or neither / Then filters are OR-ed
    criteria = FilterCriteria([json.dumps({"body": {"kind": ["order"]}}), json.dumps({"body": [{"prefix": "U"}]})])
    assert criteria.matches(sqs_record(ORDER))
    assert criteria.matches(sqs_record("URGENT"))
    assert not criteria.matches(sqs_record("later"))
    assert FilterCriteria([]).matches(sqs_record("anything"))


def test_dynamodb_record_patterns_match_event_name_and_images() -> None:
    record = {"eventName": "MODIFY", "dynamodb": {"Keys": {"pk": {"S": "k1"}},
                                                 "NewImage": {"pk": {"S": "k1"}, "status": {"S": "shipped"}}}}
    assert FilterCriteria([json.dumps({"eventName": ["MODIFY"], "dynamodb": {
        "NewImage": {"status": {"S": ["shipped"]}}}})]).matches(record)
    assert not FilterCriteria([json.dumps({"eventName": ["INSERT"]})]).matches(record)
    assert FilterCriteria([json.dumps({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "k"}]}}}})]).matches(record)
    assert FilterCriteria([json.dumps({"dynamodb": {"OldImage": [{"exists": False}]}})]).matches(record)


@pytest.mark.parametrize(
    ("patterns", "problem"),
    [
        (["not json"], "not JSON"),
        (["[]"], "non-empty JSON object"),
        ([json.dumps({"body": "order"})], "lists of matchers"),
        ([json.dumps({"body": []})], "empty matcher list"),
        ([json.dumps({"body": [{"wildcard": "a*"}]})], "not supported"),
        ([json.dumps({"$or": [{"body": ["a"]}]})], "not supported"),
        ([json.dumps({"body": [{"numeric": [">", "10"]}]})], "numeric takes"),
        ([json.dumps({"body": [{"exists": "yes"}]})], "exists takes"),
        ([json.dumps({"body": [{"prefix": "a", "suffix": "b"}]})], "exactly one operator"),
        ([json.dumps({"body": ["a"]})] * 6, "at most 5"),
    ],
    ids=["not-json", "not-an-object", "bare-value", "empty-list", "wildcard", "or", "numeric-string", "exists-string",
         "two-operators", "six-filters"],
)
def test_patterns_lambda_refuses_are_refused(patterns: list[str], problem: str) -> None:
    with pytest.raises(MappingConfigurationError, match=problem):
        FilterCriteria(patterns)


NOTE_RECORD = {"eventName": "INSERT", "dynamodb": {
    "Keys": {"pk": {"S": "k1"}},
    "NewImage": {"pk": {"S": "k1"}, "note": {"S": "fragile"}, "qty": {"N": "3"},
                 "tags": {"L": [{"S": "a"}]}},
}}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        # The object {"S": "fragile"} is the node here: not a leaf, so no operator holds on it.
        ({"dynamodb": {"NewImage": {"note": [{"exists": True}]}}}, False),
        ({"dynamodb": {"NewImage": {"note": [{"exists": False}]}}}, False),
        ({"dynamodb": {"NewImage": {"note": [{"prefix": "{"}]}}}, False),
        ({"dynamodb": {"NewImage": {"note": [{"anything-but": "x"}]}}}, False),
        ({"dynamodb": {"NewImage": [{"exists": True}]}}, False),
        ({"dynamodb": {"NewImage": {"tags": {"L": [{"exists": True}]}}}}, False),  # objects in an array
        # Naming the type reaches the leaf, where the operators work.
        ({"dynamodb": {"NewImage": {"note": {"S": [{"exists": True}]}}}}, True),
        ({"dynamodb": {"NewImage": {"note": {"S": [{"prefix": "frag"}]}}}}, True),
        ({"dynamodb": {"NewImage": {"tags": {"L": {"S": ["a"]}}}}}, True),
        ({"dynamodb": {"NewImage": {"gone": {"S": [{"exists": False}]}}}}, True),
    ],
)
def test_comparison_operators_on_a_node_that_is_not_a_leaf_never_match(pattern: dict[str, Any],
                                                                       expected: bool) -> None:
    # Given a stream record whose NewImage holds DynamoDB attribute objects
    # When a pattern applies an operator to an attribute object instead of its typed value
    # Then it never matches (AWS never invokes); on the typed leaf the same operator works
    assert FilterCriteria([json.dumps(pattern)]).matches(NOTE_RECORD) is expected


@pytest.mark.parametrize("key", ["attributes", "messageAttributes", "eventSource", "messageId"])
def test_sqs_mappings_filter_on_the_body_key_only(key: str) -> None:
    # Given an SQS mapping whose filter pattern names a record key other than body
    pattern = json.dumps({key: {"anything": ["x"]}} if key.endswith("ttributes") else {key: ["x"]})
    queue_arn = "arn:aws:sqs:us-east-1:123456789012:WorkQueue"
    configuration = {"EventSourceArn": queue_arn, "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f",
                     "FilterCriteria": {"Filters": [{"Pattern": pattern}]}}

    # When the mapping is read (deploy) / Then it is refused, naming the key; a body pattern is accepted
    with pytest.raises(MappingConfigurationError, match=f"filters on {key}: SQS mappings filter on the 'body' key"):
        from_event_source_mapping(configuration)
    with pytest.raises(MappingConfigurationError, match=key):
        FilterCriteria([pattern], sqs=True)
    body_only = {**configuration, "FilterCriteria": {"Filters": [{"Pattern": json.dumps({"body": ["x"]})}]}}
    assert from_event_source_mapping(body_only).filter_patterns == (json.dumps({"body": ["x"]}),)
