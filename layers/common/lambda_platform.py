"""Facts of the AWS Lambda platform that code on both sides of the boundary relies on.

One module for the numbers AWS documents, imported by the functions (through the layer, as
/opt/python/lambda_platform.py), by the benchmarks and by the local cloud's sandbox and pollers. It
holds only AWS's facts, nothing of lambda-suite, so the local cloud engine may import it (import-linter
allows this module and forbids the rest of the layer).

Sources (docs.aws.amazon.com):
- lambda/latest/dg/configuration-memory.html: memory 128-10,240 MB; "at 1,769 MB, a function has the
  equivalent of one vCPU (one vCPU-second of credits per second)".
- The visible cores per memory size: measured on Lambda (x86_64) and recorded in
  ../shared/AWS_SEMANTICS.md: 2 cores up to 3,008 MB, 3 up to 5,307, 4 up to 7,076, 5 up to 8,845,
  6 up to 10,240.
- lambda/latest/dg/gettingstarted-limits.html: invocation payload 6 MB (synchronous, request and
  response) and 256 KB (asynchronous); an event source mapping's batch 6 MB.
- Step Functions and every JSON consumer in between carry numbers as IEEE doubles: integers are exact
  only up to 2**53 - 1 (RFC 8259 section 6).
"""

from __future__ import annotations

MIN_MEMORY_MB = 128
MAX_MEMORY_MB = 10_240
MB_PER_VCPU = 1_769
# (largest memory size in MB, cores the function sees at or below it)
VISIBLE_CORES_UP_TO_MB: tuple[tuple[int, int], ...] = ((3_008, 2), (5_307, 3), (7_076, 4), (8_845, 5), (10_240, 6))

SYNC_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024
ASYNC_PAYLOAD_LIMIT_BYTES = 256 * 1024
BATCH_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024

MAX_SAFE_INTEGER = 2**53 - 1


def credited_vcpus(memory_mb: int) -> float:
    """The CPU share Lambda credits a function of this memory: memory / 1,769 MB vCPU."""
    return memory_mb / MB_PER_VCPU


def visible_cores(memory_mb: int) -> int:
    """How many cores a function of this memory sees (os.cpu_count() inside Lambda)."""
    return next((cores for limit, cores in VISIBLE_CORES_UP_TO_MB if memory_mb <= limit), VISIBLE_CORES_UP_TO_MB[-1][1])


def effective_vcpus(memory_mb: int) -> float:
    """The CPU a function of this memory can keep busy: min(cores it sees, its credited share)."""
    return min(float(visible_cores(memory_mb)), credited_vcpus(memory_mb))
