"""template.yaml as data: tests read names, key schemas and settings from it so they cannot drift."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"


@lru_cache(maxsize=1)
def template() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml_parse(TEMPLATE_PATH.read_text())
    return parsed


def resource(logical_id: str) -> dict[str, Any]:
    return template()["Resources"][logical_id]  # type: ignore[no-any-return]


def properties(logical_id: str) -> dict[str, Any]:
    return resource(logical_id)["Properties"]  # type: ignore[no-any-return]


def resources_of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template()["Resources"].items() if res["Type"] == resource_type}


def create_table(dynamodb: Any, logical_id: str, table_name: str | None = None) -> Any:
    """Create a DynamoDB table (moto or real) with the key schema, indexes and stream of template.yaml."""
    props = properties(logical_id)
    kwargs: dict[str, Any] = {
        "TableName": table_name or logical_id,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if "StreamSpecification" in props:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    if "GlobalSecondaryIndexes" in props:
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    table = dynamodb.create_table(**kwargs)
    table.wait_until_exists()
    return table
