"""Counting the primes in a half-open range [start, stop) with a segmented, odd-only sieve.

Pure functions of plain integers, so that ``count_primes_in_range`` can be handed to
lambda_toolkit.parallel_map: under the forkserver and spawn start methods (the default from Python
3.14) what crosses to a worker process must be a module-level function and picklable data.

Why a segmented sieve: memory stays bounded by the segment (``SEGMENT_ODDS`` bytes) whatever the width
of the range, and each segment only needs the base primes up to sqrt(stop), which every call computes
itself (at most sqrt(2**53) ~ 9.5e7 numbers, in practice a few milliseconds) rather than receiving
them over a pipe.
"""

from __future__ import annotations

from math import isqrt

# Odd numbers per segment = bytes of the segment's flag array. 2**19 keeps a segment inside a typical
# L2 cache while the Python-level work per segment (one slice assignment per base prime) stays small
# next to the C-level work of marking.
SEGMENT_ODDS = 1 << 19


def odd_primes_up_to(limit: int) -> list[int]:
    """The odd primes p <= limit (a plain odd-only sieve of Eratosthenes)."""
    if limit < 3:
        return []
    # flags[i] stands for the odd number 2*i + 1.
    size = (limit - 1) // 2 + 1
    flags = bytearray(b"\x01") * size
    flags[0] = 0  # 1 is not prime
    for i in range(1, (isqrt(limit) - 1) // 2 + 1):
        if flags[i]:
            p = 2 * i + 1
            first = (p * p - 1) // 2
            flags[first::p] = bytes(len(range(first, size, p)))
    return [2 * i + 1 for i, flag in enumerate(flags) if flag]


def count_primes_in_range(bounds: tuple[int, int], segment_odds: int = SEGMENT_ODDS) -> int:
    """The number of primes p with start <= p < stop; an empty or reversed range has none."""
    start, stop = bounds
    if stop <= 2 or stop <= start:
        return 0
    count = 1 if start <= 2 < stop else 0
    low = max(start, 3)
    low += 1 - low % 2  # the first odd number >= low
    if low >= stop:
        return count
    base = odd_primes_up_to(isqrt(stop - 1))
    span = 2 * segment_odds
    for segment_low in range(low, stop, span):
        segment_stop = min(segment_low + span, stop)
        count += _count_segment(segment_low, segment_stop, base)
    return count


def _count_segment(low: int, stop: int, base: list[int]) -> int:
    """Primes among the odd numbers of [low, stop); ``low`` is odd, flags[i] stands for low + 2*i."""
    size = (stop - low + 1) // 2
    flags = bytearray(b"\x01") * size
    for p in base:
        square = p * p
        if square >= stop:
            break
        # The first odd multiple of p in the segment that is not p itself (p*p at the least, since
        # smaller multiples have a smaller prime factor that marks them).
        first = max(square, (low + p - 1) // p * p)
        if first % 2 == 0:
            first += p
        index = (first - low) // 2
        if index < size:
            flags[index::p] = bytes(len(range(index, size, p)))
    return flags.count(1)
