from __future__ import annotations

import itertools

import pytest
from fanout_prime_sieve import SEGMENT_ODDS
from lambda_platform import effective_vcpus
from prime_ranges import SEGMENT_SPAN, CostCurve, balanced_ranges, cost_density_ns


@pytest.mark.parametrize(
    ("n", "k"), [(2, 1), (10, 10), (17, 3), (10**6, 4), (10**7, 100), (10**12, 7), (2**53 - 1, 1000)]
)
def test_ranges_cover_zero_to_n_contiguously_with_k_non_empty_ranges(n: int, k: int) -> None:
    # When [0, n) is cut into k ranges
    ranges = balanced_ranges(n, k)

    # Then they are k, indexed in order, non-empty and gapless from 0 to n
    assert [r.index for r in ranges] == list(range(k))
    assert ranges[0].start == 0
    assert ranges[-1].stop == n
    assert all(r.stop > r.start for r in ranges)
    assert all(a.stop == b.start for a, b in itertools.pairwise(ranges))


@pytest.mark.parametrize(("n", "k"), [(10**6, 4), (10**9, 16), (10**12, 4), (10**13, 50)])
def test_ranges_are_balanced_by_estimated_cost_not_by_width(n: int, k: int) -> None:
    # When a job is cut into k ranges
    ranges = balanced_ranges(n, k)

    # Then every range has the same estimated cost (within 1%) ...
    costs = [r.cost_ns for r in ranges]
    assert max(costs) / min(costs) < 1.01
    # ... and since a number costs more the larger it is, the ranges get narrower
    widths = [r.stop - r.start for r in ranges]
    assert widths == sorted(widths, reverse=True)
    assert widths[0] > widths[-1]


def test_near_ten_to_the_twelve_equal_widths_would_leave_a_large_straggler() -> None:
    # Given the cost curve up to 10^12
    curve = CostCurve.up_to(10**12)

    # When the first and last quarters are compared by cost
    first = curve.cost_ns(0, 250 * 10**9)
    last = curve.cost_ns(750 * 10**9, 10**12)

    # Then equal widths would differ in cost by far more than the balanced ranges do
    assert last / first > 1.5
    ranges = balanced_ranges(10**12, 4)
    assert ranges[0].stop - ranges[0].start > 1.5 * (ranges[-1].stop - ranges[-1].start)


def test_the_cost_density_grows_with_the_base_primes_the_sieve_loops_over() -> None:
    # Then the modelled time per number grows steadily from small to large numbers
    densities = [cost_density_ns(10**e) for e in range(2, 16)]
    assert densities == sorted(densities)
    assert densities[-1] / densities[0] > 10


def test_the_cost_model_segment_is_the_workers_segment() -> None:
    # The cost model's per-segment overhead is only right if both sides sieve the same segment
    assert SEGMENT_SPAN == 2 * SEGMENT_ODDS


@pytest.mark.parametrize(
    ("memory_mb", "vcpus"),
    [(128, 128 / 1769), (1769, 1.0), (3538, 2.0), (3008, 3008 / 1769), (5307, 3.0), (10240, 10240 / 1769)],
)
def test_effective_vcpus_follow_the_memory_credit_capped_by_visible_cores(memory_mb: int, vcpus: float) -> None:
    assert effective_vcpus(memory_mb) == pytest.approx(vcpus)


def test_more_ranges_than_numbers_is_refused() -> None:
    with pytest.raises(ValueError, match="1 <= k <= n"):
        balanced_ranges(3, 4)
