"""Published values of pi(N), the number of primes below N, to check computed counts against.

Shared by the CPU benchmark (its "primes" workload) and the fan-out's Aggregate step (the combined
count of a job). N is a power of ten, never prime, so "below N" and "up to N" give the same count.
"""

from __future__ import annotations

from typing import Final

KNOWN_PRIME_COUNTS: Final[dict[int, int]] = {
    10: 4,
    100: 25,
    1_000: 168,
    10_000: 1_229,
    100_000: 9_592,
    1_000_000: 78_498,
    10_000_000: 664_579,
    100_000_000: 5_761_455,
    1_000_000_000: 50_847_534,
    10_000_000_000: 455_052_511,
}
