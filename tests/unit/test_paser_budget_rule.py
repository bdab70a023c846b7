"""PASER's budget rule (§3.3) checked from a written clusters table alone (the quality check
``clusters.budget_rule_violations``): designed breaches are caught, and every allocation the
allocator makes passes, on many random lakes of clusters."""
from __future__ import annotations

import random

from pipelines.paser.budget import allocate_budget
from pipelines.paser.stage import budget_fill_violations, budget_rule_violations


def _rows(sizes, cds, budgets):
    return [{"cluster": k, "size": sizes[k], "cds": cds[k], "budget": budgets[k]} for k in sizes]


def test_a_proportional_allocation_passes():
    # B = 10 over CDS 0.5 / 0.3 / 0.2, no cluster capped: 5, 3, 2
    assert budget_rule_violations(_rows({0: 100, 1: 100, 2: 100}, {0: 0.5, 1: 0.3, 2: 0.2}, {0: 5, 1: 3, 2: 2}), 10) == []


def test_designed_breaches_are_named():
    sizes, cds = {0: 100, 1: 100, 2: 4}, {0: 0.5, 1: 0.3, 2: 0.2}
    # the total is not min(B, N)
    assert [v[1] for v in budget_rule_violations(_rows(sizes, cds, {0: 5, 1: 3, 2: 1}), 10)] == ["total"]
    # swapped budgets: cluster 1 got cluster 0's share
    got = budget_rule_violations(_rows(sizes, cds, {0: 3, 1: 5, 2: 2}), 10)
    assert sorted((v[0], v[1]) for v in got) == [(0, "proportional"), (1, "proportional")]
    # more than the cluster holds
    assert (2, "bounds") in {(v[0], v[1]) for v in budget_rule_violations(_rows(sizes, cds, {0: 5, 1: 0, 2: 5}), 10)}
    # a cluster filled to its size although its CDS share is far below it
    filled = budget_rule_violations(_rows({0: 100, 1: 100, 2: 4}, {0: 0.6, 1: 0.39, 2: 0.01}, {0: 3, 1: 3, 2: 4}), 10)
    assert (2, "filled") in {(v[0], v[1]) for v in filled}


def test_every_allocation_of_the_allocator_passes():
    rng = random.Random(7)
    for _ in range(2000):
        k = rng.randint(1, 8)
        sizes = {c: rng.choice([0, 1, 2, 3, 5, 8, 20, 100]) for c in range(k)}
        cds = {c: rng.choice([0.0, rng.random(), rng.random() * 1e-3]) for c in range(k)}
        total = rng.randint(0, sum(sizes.values()) + 5)
        alloc = allocate_budget(cds, sizes, total)
        assert budget_rule_violations(_rows(sizes, cds, alloc), total) == [], (sizes, cds, total, alloc)


def _filled(selected, untried, budget=(5, 5), reallocated=(0, 0)):
    return [{"cluster": k, "size": 10, "budget": budget[k], "reallocated": reallocated[k], "selected": selected[k],
             "untried": untried[k]} for k in (0, 1)]


def test_the_refill_rule_names_a_budget_left_unfilled_while_candidates_remain():
    assert budget_fill_violations(_filled((5, 5), (5, 5)), 10) == []
    assert budget_fill_violations(_filled((3, 4), (0, 0)), 10) == []            # data ran out: short is fine
    assert budget_fill_violations(_filled((3, 5), (0, 5)), 10) == [
        (-1, "filled", "8 of a budget of 10 selected while 5 candidates were never tried")]
    assert budget_fill_violations(_filled((6, 4), (0, 0), reallocated=(0, 0)), 10) == [
        (0, "filled", "selected 6 > budget 5 + reallocated 0")]
