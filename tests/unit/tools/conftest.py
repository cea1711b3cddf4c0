# The DLQ tools are exercised on what the real worker dead-letters.
from tests.unit.sqs_worker.conftest import sqs_worker

__all__ = ["sqs_worker"]
