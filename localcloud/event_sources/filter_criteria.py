"""Lambda event filtering (FilterCriteria): the EventBridge pattern subset Lambda accepts.

A mapping has up to 5 filters; a record passes when ANY filter matches (OR). Within one pattern every
field must match (AND); a field's list of matchers matches when ANY matcher does. Supported matchers,
as Lambda documents them: exact values (string, number compared numerically, true/false, null, ""),
{"prefix"}, {"suffix"}, {"equals-ignore-case"}, {"anything-but": value | [values] | {"prefix"} |
{"suffix"}}, {"numeric": [op, n(, op, n)]} and {"exists": true|false}. Anything else (wildcard, cidr,
$or) is refused when the mapping starts, as Lambda refuses a mapping it cannot parse.

What the pattern sees: for SQS, the Lambda record with `body` parsed when it is a JSON object, so
{"body": {"field": [...]}} matches JSON bodies and {"body": [...]} matches plain-string bodies (a JSON
body never matches a plain-string pattern and vice versa, as in AWS); for DynamoDB Streams, the Lambda
record itself (eventName, dynamodb.Keys / NewImage / OldImage in DynamoDB JSON).

Two rules the pages state and a naive matcher bends (lambda/latest/dg/invocation-eventfiltering.html,
with-ddb-filtering.html "Using the Exists operator", with-sqs-filtering.html):
- Matchers, comparison operators included ({"exists": true} too), test LEAF values only: on a node that
  is an object (a DynamoDB attribute such as {"S": "..."}, a nested JSON object) nothing matches, so
  {"dynamodb": {"NewImage": {"note": [{"exists": true}]}}} never invokes: the pattern must name the
  type, {"note": {"S": [{"exists": true}]}}. Objects inside an array are not leaves either.
- SQS mappings filter on the `body` key only: a pattern on any other key of the record
  (attributes, messageAttributes, ...) is refused when the mapping is created (FilterCriteria(...,
  sqs=True)), rather than accepted and applied as no AWS mapping would.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from localcloud.event_sources.errors import MappingConfigurationError

MISSING: Final = object()
MAX_FILTERS = 5

NUMERIC_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
STRING_MATCHERS = ("prefix", "suffix", "equals-ignore-case")
SQS_FILTER_KEY = "body"


class FilterCriteria:
    """Compiled FilterCriteria: ``matches(document)`` says whether a record is delivered."""

    def __init__(self, patterns: Sequence[str], *, sqs: bool = False) -> None:
        if len(patterns) > MAX_FILTERS:
            raise MappingConfigurationError(f"FilterCriteria holds {len(patterns)} filters; at most {MAX_FILTERS}")
        self._patterns: list[dict[str, Any]] = []
        for text in patterns:
            try:
                pattern = json.loads(text)
            except json.JSONDecodeError as error:
                raise MappingConfigurationError(f"filter pattern is not JSON: {text!r}") from error
            if not isinstance(pattern, dict) or not pattern:
                raise MappingConfigurationError(f"filter pattern must be a non-empty JSON object: {text!r}")
            _validate_object(pattern, path="")
            if sqs and (other := sorted(set(pattern) - {SQS_FILTER_KEY})):
                raise MappingConfigurationError(
                    f"filter pattern {text!r} filters on {', '.join(other)}: SQS mappings filter on the "
                    f"{SQS_FILTER_KEY!r} key only")
            self._patterns.append(pattern)

    @property
    def is_empty(self) -> bool:
        return not self._patterns

    def matches(self, document: Mapping[str, Any]) -> bool:
        if not self._patterns:
            return True
        return any(_match_object(pattern, document) for pattern in self._patterns)


def sqs_filter_document(record: Mapping[str, Any]) -> dict[str, Any]:
    """The SQS Lambda record as filters see it: a JSON-object body is matched by its fields."""
    document = dict(record)
    body = record.get("body")
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except json.JSONDecodeError:
            return document
        if isinstance(parsed, dict):
            document["body"] = parsed
    return document


def _validate_object(pattern: Mapping[str, Any], path: str) -> None:
    for key, value in pattern.items():
        where = f"{path}.{key}" if path else key
        if key.startswith("$"):
            raise MappingConfigurationError(f"filter operator {key!r} at {where!r} is not supported")
        if isinstance(value, dict):
            if not value:
                raise MappingConfigurationError(f"empty object in filter pattern at {where!r}")
            _validate_object(value, where)
        elif isinstance(value, list):
            if not value:
                raise MappingConfigurationError(f"empty matcher list in filter pattern at {where!r}")
            for matcher in value:
                _validate_matcher(matcher, where)
        else:
            raise MappingConfigurationError(
                f"filter pattern values must be lists of matchers or objects; {where!r} is {value!r}"
            )


def _validate_matcher(matcher: Any, where: str) -> None:
    if not isinstance(matcher, dict):
        return  # exact value: string, number, bool or null
    if len(matcher) != 1:
        raise MappingConfigurationError(f"a matcher holds exactly one operator; {matcher!r} at {where!r}")
    ((name, argument),) = matcher.items()
    if name in STRING_MATCHERS:
        if not isinstance(argument, str):
            raise MappingConfigurationError(f"{name} takes a string; {argument!r} at {where!r}")
    elif name == "exists":
        if not isinstance(argument, bool):
            raise MappingConfigurationError(f"exists takes true or false; {argument!r} at {where!r}")
    elif name == "numeric":
        _validate_numeric(argument, where)
    elif name == "anything-but":
        _validate_anything_but(argument, where)
    else:
        raise MappingConfigurationError(f"filter matcher {name!r} at {where!r} is not supported")


def _validate_numeric(argument: Any, where: str) -> None:
    pairs_ok = isinstance(argument, list) and len(argument) in (2, 4)
    if pairs_ok:
        for op, bound in zip(argument[::2], argument[1::2], strict=True):
            pairs_ok = pairs_ok and op in NUMERIC_OPERATORS and _is_number(bound)
    if not pairs_ok:
        raise MappingConfigurationError(f"numeric takes [op, number(, op, number)]; {argument!r} at {where!r}")


def _validate_anything_but(argument: Any, where: str) -> None:
    if isinstance(argument, dict):
        if len(argument) != 1 or next(iter(argument)) not in STRING_MATCHERS:
            raise MappingConfigurationError(f"anything-but takes prefix/suffix/equals-ignore-case; at {where!r}")
        if not isinstance(next(iter(argument.values())), str):
            raise MappingConfigurationError(f"anything-but {argument!r} takes a string at {where!r}")
    elif isinstance(argument, list) and (not argument or any(isinstance(i, dict | list) for i in argument)):
        raise MappingConfigurationError(f"anything-but takes a non-empty list of values at {where!r}")


def _match_object(pattern: Mapping[str, Any], value: Any) -> bool:
    for key, sub_pattern in pattern.items():
        field = value.get(key, MISSING) if isinstance(value, Mapping) else MISSING
        if isinstance(sub_pattern, dict):
            if not _match_nested(sub_pattern, field):
                return False
        elif not _match_leaf(sub_pattern, field):
            return False
    return True


def _match_nested(pattern: Mapping[str, Any], field: Any) -> bool:
    if field is MISSING:
        # Only {"exists": false} matchers can hold for fields below a missing object.
        return _match_object(pattern, {})
    if isinstance(field, list):  # an array of objects matches when one element does
        return any(isinstance(item, Mapping) and _match_object(pattern, item) for item in field)
    return isinstance(field, Mapping) and _match_object(pattern, field)


def _match_leaf(matchers: Sequence[Any], field: Any) -> bool:
    if field is MISSING:
        return any(isinstance(m, dict) and m.get("exists") is False for m in matchers)
    if isinstance(field, Mapping):
        # An object is no leaf: no matcher holds on it, {"exists": true} or false included.
        return False
    values = field if isinstance(field, list) else [field]
    # Objects inside an array are no leaves either; the array's scalar elements are.
    leaves = [value for value in values if not isinstance(value, Mapping | list)]
    return any(_match_value(matcher, value) for matcher in matchers for value in leaves)


def _match_value(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, dict):
        return _equals(matcher, value)
    ((name, argument),) = matcher.items()
    if name == "exists":
        return bool(argument)
    if name == "numeric":
        return _is_number(value) and all(
            NUMERIC_OPERATORS[op](value, bound) for op, bound in zip(argument[::2], argument[1::2], strict=True)
        )
    if name == "anything-but":
        return not _anything_but_excludes(argument, value)
    return _string_match(name, argument, value)


def _anything_but_excludes(argument: Any, value: Any) -> bool:
    if isinstance(argument, dict):
        ((name, text),) = argument.items()
        return _string_match(name, text, value)
    excluded = argument if isinstance(argument, list) else [argument]
    return any(_equals(item, value) for item in excluded)


def _string_match(name: str, argument: str, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if name == "prefix":
        return value.startswith(argument)
    if name == "suffix":
        return value.endswith(argument)
    return value.casefold() == argument.casefold()  # equals-ignore-case


def _equals(expected: Any, value: Any) -> bool:
    if _is_number(expected):
        return _is_number(value) and float(expected) == float(value)
    if isinstance(expected, bool) or expected is None:
        return value is expected
    return isinstance(value, str) and value == expected


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
