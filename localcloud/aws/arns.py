"""ARNs the pollers read: which service, region and account a resource lives in, and a queue's URL.

Event source mappings name their source and OnFailure destination by ARN, while the SQS API wants a
queue URL; the URL comes from GetQueueUrl (never built by hand), so it is right for whatever endpoint
the client points at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

ARN_PARTS = 6


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account_id: str
    resource: str

    @classmethod
    def parse(cls, arn: str) -> Arn:
        parts = arn.split(":", ARN_PARTS - 1)
        if len(parts) != ARN_PARTS or parts[0] != "arn" or not parts[2] or not parts[5]:
            raise ValueError(f"not an ARN: {arn!r}")
        return cls(partition=parts[1], service=parts[2], region=parts[3], account_id=parts[4],
                   resource=parts[5])


def queue_url_for_arn(sqs: SQSClient, queue_arn: str) -> str:
    arn = Arn.parse(queue_arn)
    if arn.service != "sqs":
        raise ValueError(f"not an SQS queue ARN: {queue_arn!r}")
    return sqs.get_queue_url(QueueName=arn.resource, QueueOwnerAWSAccountId=arn.account_id)["QueueUrl"]


def function_arn_for(function_name: str, region: str, account_id: str, partition: str = "aws") -> str:
    """The unqualified ARN of a function known only by name (OnFailure records carry an ARN)."""
    if function_name.startswith("arn:"):
        return function_name
    return f"arn:{partition}:lambda:{region}:{account_id}:function:{function_name}"


def function_name_of(function_name_or_arn: str) -> str:
    """`arn:aws:lambda:r:a:function:name[:qualifier]` or `name` -> `name`."""
    if not function_name_or_arn.startswith("arn:"):
        return function_name_or_arn
    resource = Arn.parse(function_name_or_arn).resource  # function:name[:qualifier]
    return resource.split(":")[1]
