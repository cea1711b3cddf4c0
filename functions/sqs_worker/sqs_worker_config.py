"""SqsWorkerFunction's configuration: the environment variables template.yaml sets for it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from lambda_toolkit.config import FunctionConfig


class SqsWorkerConfig(FunctionConfig):
    ITEMS_TABLE_NAME: Annotated[str, Field(min_length=3)]
    DEAD_LETTER_QUEUE_URL: Annotated[str, Field(pattern=r"^https?://")]
    # Stop this long before the timeout: the slowest record (bounded by the client timeouts in
    # lambda_toolkit.aws_clients) must still finish inside it.
    DEADLINE_SAFETY_MARGIN_MS: Annotated[int, Field(ge=0, le=60_000)] = 5000
