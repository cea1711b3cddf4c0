"""A cost model of counting primes with FanOutWorkerFunction's sieve, and ranges balanced by it.

Why not equal widths: the worker's segmented sieve (functions/fanout_worker/fanout_prime_sieve.py)
does, for every segment of SEGMENT_SPAN numbers, one Python-level slice assignment per base prime
p <= sqrt(x). Near 10^12 that is ~78,000 assignments per segment and the time per number is ~35x what
it is below 10^6, so equal-width ranges would leave the last item many times slower than the first
and the whole Map waiting for it.

The model, in nanoseconds per number near x on one vCPU:

    f(x) = MARK_NS + LOGLOG_NS * ln(ln x) + BASE_PRIME_NS * pi(sqrt x) / SEGMENT_SPAN

(marking and counting the segment's flags; the slowly growing number of marks per number, which is
about sum(1/p) ~ ln ln x; the per-base-prime Python overhead spread over a segment). pi(y) is taken
as y / (ln y - 1). The constants were fitted on x86-64 with CPython 3.11 (least squares on relative
error, segments from 10^4 to 10^13: within ~10% up to 10^12, ~25% optimistic at 10^13). A range's
cost is the integral of f over it, computed on a geometric grid and inverted to place boundaries
where the cumulative cost crosses i/K of the total.

Only relative costs matter for balancing; absolute seconds matter for refusing a job whose largest
item could not finish within the worker's timeout, which is why fanout_job applies a budget
fraction (default one half) on top of this estimate.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from itertools import pairwise

# Must equal 2 * fanout_prime_sieve.SEGMENT_ODDS (numbers covered by one segment); a unit test checks.
SEGMENT_SPAN = 1 << 20
MARK_NS = 1.2
LOGLOG_NS = 0.2
BASE_PRIME_NS = 900.0
# Per item, independent of its width: starting the worker processes, the pipe round trips, each
# sub-range's base-prime sieve and the Lambda invoke itself.
ITEM_OVERHEAD_S = 0.5

# Below this, ln(ln x) is small or undefined; the density there is flat anyway.
_FLAT_BELOW = 16
_GRID_INTERVALS = 2048
_SMALL_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29)



def approx_prime_pi(y: float) -> float:
    if y < 31:
        return float(sum(1 for p in _SMALL_PRIMES if p <= y))
    return y / (math.log(y) - 1)


def cost_density_ns(x: float) -> float:
    """Estimated nanoseconds per number near x (the f(x) of the module docstring)."""
    x = max(x, _FLAT_BELOW)
    base_primes = approx_prime_pi(math.sqrt(x))
    return MARK_NS + LOGLOG_NS * math.log(math.log(x)) + BASE_PRIME_NS * base_primes / SEGMENT_SPAN


@dataclass(frozen=True)
class CostCurve:
    """The cumulative cost C(x) = integral of f from 0 to x, tabulated on [0, n]."""

    xs: tuple[int, ...]
    cumulative_ns: tuple[float, ...]

    @classmethod
    def up_to(cls, n: int) -> CostCurve:
        points = {0, n}
        if n > _FLAT_BELOW:
            ratio = n / _FLAT_BELOW
            points.update(
                round(_FLAT_BELOW * ratio ** (i / _GRID_INTERVALS)) for i in range(_GRID_INTERVALS + 1)
            )
        xs = sorted(point for point in points if 0 <= point <= n)
        cumulative = [0.0]
        for low, high in pairwise(xs):
            # Simpson's rule: f is smooth and, on a geometric grid, nearly constant within an interval.
            middle = (low + high) / 2
            samples = cost_density_ns(low) + 4 * cost_density_ns(middle) + cost_density_ns(high)
            area = (high - low) / 6 * samples
            cumulative.append(cumulative[-1] + area)
        return cls(tuple(xs), tuple(cumulative))

    @property
    def total_ns(self) -> float:
        return self.cumulative_ns[-1]

    def at(self, x: int) -> float:
        """C(x), linear between grid points."""
        j = bisect_left(self.xs, x)
        if j < len(self.xs) and self.xs[j] == x:
            return self.cumulative_ns[j]
        low, high = self.xs[j - 1], self.xs[j]
        share = (x - low) / (high - low)
        return self.cumulative_ns[j - 1] + share * (self.cumulative_ns[j] - self.cumulative_ns[j - 1])

    def inverse(self, cost_ns: float) -> float:
        """The x where C(x) = cost_ns."""
        j = bisect_left(self.cumulative_ns, cost_ns)
        if j == 0:
            return float(self.xs[0])
        if j >= len(self.xs):
            return float(self.xs[-1])
        low, high = self.cumulative_ns[j - 1], self.cumulative_ns[j]
        share = 0.0 if high == low else (cost_ns - low) / (high - low)
        return self.xs[j - 1] + share * (self.xs[j] - self.xs[j - 1])

    def cost_ns(self, start: int, stop: int) -> float:
        return self.at(stop) - self.at(start)


@dataclass(frozen=True)
class PrimeRange:
    index: int
    start: int
    stop: int
    cost_ns: float

    def estimated_seconds(self, vcpus: float) -> float:
        return self.cost_ns / 1e9 / vcpus + ITEM_OVERHEAD_S

    def as_item(self) -> dict[str, int]:
        """The item as the Map hands it to the worker."""
        return {"index": self.index, "start": self.start, "stop": self.stop}


def balanced_ranges(n: int, k: int, curve: CostCurve | None = None) -> list[PrimeRange]:
    """[0, n) cut into k contiguous, non-empty ranges of (nearly) equal estimated cost; needs 1 <= k <= n."""
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    curve = curve or CostCurve.up_to(n)
    bounds = [0]
    for i in range(1, k):
        boundary = round(curve.inverse(curve.total_ns * i / k))
        # Every range keeps at least one number, and enough are left for the ranges after it.
        bounds.append(min(max(boundary, bounds[-1] + 1), n - (k - i)))
    bounds.append(n)
    return [
        PrimeRange(index, start, stop, curve.cost_ns(start, stop))
        for index, (start, stop) in enumerate(pairwise(bounds))
    ]
