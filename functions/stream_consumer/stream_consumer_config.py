"""StreamConsumerFunction's configuration: the environment variables template.yaml sets for it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from lambda_toolkit.config import FunctionConfig

# A tombstone (the marker of a removed order) must outlive every stream record older than it, or a
# stale INSERT replayed later would count the order again. Stream records live 24 hours and the replay
# tool only reads them from the stream, so two days is the floor; a week leaves room for slow TTL.
MIN_TOMBSTONE_TTL_SECONDS = 2 * 24 * 3600
DEFAULT_TOMBSTONE_TTL_SECONDS = 7 * 24 * 3600


class StreamConsumerConfig(FunctionConfig):
    AGGREGATES_TABLE_NAME: Annotated[str, Field(min_length=3)]
    # Stop this long before the timeout: the slowest record (a snapshot read, perhaps a query, and a
    # transaction, each bounded by the client timeouts in lambda_toolkit.aws_clients) must fit in it.
    DEADLINE_SAFETY_MARGIN_MS: Annotated[int, Field(ge=0, le=60_000)] = 5000
    TOMBSTONE_TTL_SECONDS: Annotated[int, Field(ge=MIN_TOMBSTONE_TTL_SECONDS)] = DEFAULT_TOMBSTONE_TTL_SECONDS
