"""Logger, Tracer and Metrics: created once here, imported by every function.

Service name and metrics namespace come from POWERTOOLS_SERVICE_NAME and POWERTOOLS_METRICS_NAMESPACE,
which template.yaml sets in Globals; the log level from POWERTOOLS_LOG_LEVEL (the LogLevel parameter),
or from AWS_LAMBDA_LOG_LEVEL, which Lambda sets from the function's LoggingConfig and which Powertools
then prefers. Logger writes one JSON object per line.

Tracing without the X-Ray SDK. The layer does not ship aws-xray-sdk (the `tracer` extra of Powertools):
it pulls in a botocore of its own, 32 of the layer's 56 MB, which sits before the runtime's on
sys.path and leaves the runtime's boto3 running on a botocore it does not support; and its import
adds to every cold start (issue #15). Tracing: Active in template.yaml still has Lambda record every
invocation in X-Ray (its Initialization, Invocation and Overhead segments). What
the SDK would add is in-process detail: a `## lambda_handler` subsegment, one subsegment per boto3
call, and ColdStart/Service annotations (the cold start is in every Logger line as `cold_start`).

Powertools' Tracer imports aws_xray_sdk.core as soon as it is created, whatever POWERTOOLS_TRACE_DISABLED
says (disabling it calls into the SDK too), so without the SDK a plain Tracer() fails every cold start.
It is given a provider that records nothing instead; handlers keep @tracer.capture_lambda_handler. To
bring the SDK back: aws-xray-sdk plus boto3 and botocore as a matched pair in
layers/common/requirements.txt (tests/template/test_layer_build.py checks both), and Tracer() here.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment


class UnrecordedSegment(BaseSegment):
    """A subsegment nobody records: annotations, metadata and exceptions go nowhere."""

    def close(self, end_time: int | None = None) -> None:
        return None

    def add_subsegment(self, subsegment: Any) -> None:
        return None

    def remove_subsegment(self, subsegment: Any) -> None:
        return None

    def put_annotation(self, key: str, value: Any) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        return None


class LambdaSegmentsOnly(BaseProvider):
    """Tracing left to Lambda's own segments (Tracing: Active): nothing is recorded in process."""

    @contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Generator[BaseSegment, None, None]:
        yield UnrecordedSegment()

    @asynccontextmanager
    async def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> AsyncGenerator[BaseSegment, None]:
        yield UnrecordedSegment()

    def put_annotation(self, key: str, value: Any) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def patch(self, modules: Sequence[str]) -> None:
        return None

    def patch_all(self) -> None:
        return None


logger = Logger()
# disabled=False: Tracer's own disabling (the env var, or running outside Lambda) calls the SDK.
tracer = Tracer(provider=LambdaSegmentsOnly(), disabled=False, auto_patch=False)
metrics = Metrics()

__all__ = ["MetricUnit", "logger", "metrics", "tracer"]
