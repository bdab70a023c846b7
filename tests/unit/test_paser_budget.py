"""PASER budget allocation (§3.2) on hand-computed values: proportions, remainders, caps."""
from __future__ import annotations

import pytest

from pipelines.paser.budget import allocate_budget, largest_remainder, resolve_total_budget

BIG = {0: 1000, 1: 1000, 2: 1000}


def test_exact_proportions():
    # 10·0.5 = 5, 10·0.3 = 3, 10·0.2 = 2
    assert allocate_budget({0: 0.5, 1: 0.3, 2: 0.2}, BIG, 10) == {0: 5, 1: 3, 2: 2}


def test_cds_need_not_sum_to_one():
    # CDS 0.02, 0.06, 0.12 -> shares 10%, 30%, 60% of 20 = 2, 6, 12
    assert allocate_budget({0: 0.02, 1: 0.06, 2: 0.12}, BIG, 20) == {0: 2, 1: 6, 2: 12}


def test_remainder_goes_to_largest_fractional_part():
    # 7·0.6 = 4.2, 7·0.3 = 2.1, 7·0.1 = 0.7 -> floors 4, 2, 0 (6); the 1 left goes to cluster 2 (.7)
    assert allocate_budget({0: 0.6, 1: 0.3, 2: 0.1}, BIG, 7) == {0: 4, 1: 2, 2: 1}


def test_remainder_ties_go_to_lowest_cluster_id():
    # 10/3 = 3.33 each: floors 3, 3, 3 and the 1 left to cluster 0
    assert allocate_budget({0: 1.0, 1: 1.0, 2: 1.0}, BIG, 10) == {0: 4, 1: 3, 2: 3}
    assert allocate_budget({5: 1.0, 2: 1.0, 9: 1.0}, {5: 9, 2: 9, 9: 9}, 11) == {2: 4, 5: 4, 9: 3}


def test_cap_and_redistribution():
    # 10·0.7 = 7 > size 3: cluster 0 gets 3; 7 left for CDS 0.2 : 0.1 -> 4.67, 2.33 -> 4 + 1, 2
    assert allocate_budget({0: 0.7, 1: 0.2, 2: 0.1}, {0: 3, 1: 100, 2: 100}, 10) == {0: 3, 1: 5, 2: 2}


def test_cascading_caps():
    # round 1: 12·(.5,.3,.2) = 6, 3.6, 2.4 -> 6, 4, 2 (remainder to .6): cluster 0 capped at 2
    # round 2: 10 for (.3,.2) = 6, 4 -> cluster 1 capped at 3; round 3: 7 to cluster 2 (size 50)
    assert allocate_budget({0: 0.5, 1: 0.3, 2: 0.2}, {0: 2, 1: 3, 2: 50}, 12) == {0: 2, 1: 3, 2: 7}


def test_budget_larger_than_data_takes_everything():
    assert allocate_budget({0: 0.9, 1: 0.1}, {0: 4, 1: 6}, 100) == {0: 4, 1: 6}


def test_zero_cds_clusters_get_nothing_unless_needed():
    assert allocate_budget({0: 0.0, 1: 0.4}, {0: 50, 1: 50}, 10) == {0: 0, 1: 10}
    # cluster 1 is capped at 4; only zero-CDS clusters remain -> the 6 left go by size (1:2 -> 2, 4)
    assert allocate_budget({0: 0.0, 1: 0.4, 2: 0.0}, {0: 10, 1: 4, 2: 20}, 10) == {0: 2, 1: 4, 2: 4}


def test_total_is_exact_on_many_shapes():
    import random

    rng = random.Random(0)
    for _ in range(200):
        k = rng.randint(1, 8)
        cds = {c: rng.random() for c in range(k)}
        sizes = {c: rng.randint(0, 30) for c in range(k)}
        budget = rng.randint(0, 120)
        alloc = allocate_budget(cds, sizes, budget)
        assert sum(alloc.values()) == min(budget, sum(sizes.values()))
        assert all(0 <= alloc[c] <= sizes[c] for c in range(k))


def test_largest_remainder_and_total_budget():
    assert largest_remainder({"a": 1, "b": 1}, 3) == {"a": 2, "b": 1}
    assert resolve_total_budget(None, 0.2, 503) == 100
    assert resolve_total_budget(None, 0.2, 500) == 100
    assert resolve_total_budget(50, 0.2, 30) == 30
    with pytest.raises(ValueError, match="cluster 1"):
        allocate_budget({0: 0.1, 1: float("nan")}, {0: 1, 1: 1}, 1)
