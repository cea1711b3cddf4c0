"""The moto-process patches are tested on the same in-process moto server as the event source rules."""

from tests.localcloud.event_sources.conftest import aws, make_queue, make_stream_table, moto_endpoint

__all__ = ["aws", "make_queue", "make_stream_table", "moto_endpoint"]
