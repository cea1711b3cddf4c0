"""Fan-out fixtures: configuration from template.yaml's own values, and a moto bucket for the S3 parts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from fanout_aggregate_config import FanOutAggregateConfig
from fanout_split_config import FanOutSplitConfig

from lambda_toolkit.config import load_config
from tests.support.handlers import load_handler_module
from tests.support.template import template
from tests.unit.conftest import MotoAccount

BUCKET = "fanout-bucket"
AGGREGATE_S3_FIXTURES = Path(__file__).resolve().parents[3] / "events" / "fanout_aggregate" / "distributed_s3"


def parameter_default(name: str) -> str:
    return str(template()["Parameters"][name]["Default"])


def split_environment(**overrides: str) -> dict[str, str]:
    """FanOutSplitFunction's variables as template.yaml sets them with its parameter defaults (dev stage)."""
    return {
        "FANOUT_BUCKET_NAME": BUCKET,
        "FANOUT_WORKER_MEMORY_MB": parameter_default("FanOutWorkerMemorySize"),
        "FANOUT_WORKER_TIMEOUT_S": parameter_default("FanOutWorkerTimeout"),
        "FANOUT_ALLOW_TEST_FAILURES": "true",
        **overrides,
    }


def aggregate_environment(**overrides: str) -> dict[str, str]:
    return {
        "FANOUT_BUCKET_NAME": BUCKET,
        "FANOUT_MAX_CONCURRENCY": parameter_default("FanOutMaxConcurrency"),
        "FANOUT_WORKER_MEMORY_MB": parameter_default("FanOutWorkerMemorySize"),
        **overrides,
    }


def split_config(**overrides: str) -> FanOutSplitConfig:
    return load_config(FanOutSplitConfig, split_environment(**overrides))


def aggregate_config(**overrides: str) -> FanOutAggregateConfig:
    return load_config(FanOutAggregateConfig, aggregate_environment(**overrides))


@dataclass
class FanOutBucket:
    s3: Any
    name: str = BUCKET

    def keys(self) -> list[str]:
        return [obj["Key"] for obj in self.s3.list_objects_v2(Bucket=self.name).get("Contents", [])]

    def read(self, key: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=self.name, Key=key)["Body"].read()
        return body

    def upload_aggregate_fixture(self, prefix: str, manifest_file: str = "manifest.json") -> None:
        """Put events/fanout_aggregate/distributed_s3/ where a ResultWriter would have written it."""
        for path in AGGREGATE_S3_FIXTURES.glob("*.json"):
            if path.name.startswith("manifest") and path.name != manifest_file:
                continue
            name = "manifest.json" if path.name == manifest_file else path.name
            self.s3.put_object(Bucket=self.name, Key=f"{prefix}/{name}", Body=path.read_bytes())


@pytest.fixture
def fanout_bucket(moto_account: MotoAccount) -> FanOutBucket:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    return FanOutBucket(s3)


@pytest.fixture
def fanout_app(fanout_bucket: FanOutBucket, monkeypatch: pytest.MonkeyPatch) -> Callable[..., ModuleType]:
    """Load a fan-out function's app.py with the environment template.yaml gives it."""
    environments: dict[str, Callable[..., dict[str, str]]] = {
        "fanout_split": split_environment,
        "fanout_aggregate": aggregate_environment,
        "fanout_worker": lambda **overrides: {"FANOUT_WORKER_SAFETY_MARGIN_MS": "1000", **overrides},
    }

    def load(function_folder: str, **overrides: str) -> ModuleType:
        for name, value in environments[function_folder](**overrides).items():
            monkeypatch.setenv(name, value)
        return load_handler_module(function_folder)

    return load
