"""Switch off moto's own event source triggers so the local cloud's pollers are the only consumers.

moto 5.2.5 attaches every event source mapping it creates (e.g. from the stack's
AWS::Lambda::EventSourceMapping resources) to its queue or table, and then acts on it by itself:
- SQS (moto/sqs/models.py Queue.add_message): every SendMessage receives up to BatchSize messages for
  the mapping and invokes the function through Docker. Without a runnable image the invoke fails and
  the messages are made visible again, but each of those receives counted: ApproximateReceiveCount
  climbs with every send, and the redrive policy dead-letters messages that no function ever saw.
- DynamoDB (moto/dynamodb/models/table.py StreamShard.add): every write invokes the function with
  the shard's records and, when the invoke returns anything, EMPTIES the shard. The stream then
  loses its records and restarts its sequence numbers, which breaks any GetRecords consumer.
Disabling the mapping through the API does not help for tables (moto ignores Enabled there), and
deleting it leaves it attached. So the attachment itself is removed, which needs moto in-process
(moto.server.ThreadedMotoServer); with moto in another process, leave the mappings out of the
template moto deploys instead, and give the pollers their settings from the translated template.
"""

from __future__ import annotations

from typing import Any

from moto.dynamodb.models import dynamodb_backends
from moto.sqs.models import sqs_backends


def detach_moto_event_source_triggers() -> int:
    """Detach every moto event source mapping from its SQS queue or DynamoDB table; return how many.

    Idempotent; call it after each stack create/update (new mappings attach again). The mappings
    stay listed by ListEventSourceMappings, which is where the pollers read their settings.
    """
    detached = 0
    for backend in _existing_backends(sqs_backends):
        for queue in backend.queues.values():
            detached += len(queue.lambda_event_source_mappings)
            queue.lambda_event_source_mappings.clear()
    for backend in _existing_backends(dynamodb_backends):
        for table in backend.tables.values():
            detached += len(table.lambda_event_source_mappings)
            table.lambda_event_source_mappings.clear()
    return detached


def _existing_backends(backend_dict: Any) -> list[Any]:
    # dict.values, not the BackendDict's own lookups: those would create backends for every region.
    return [backend for account in dict.values(backend_dict) for backend in dict.values(account)]
