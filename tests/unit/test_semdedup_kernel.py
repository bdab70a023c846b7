"""SemDeDup's per-cluster kernel, epsilon choice and config on designed vectors (no Spark)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.core.config import build_config
from pipelines.core.errors import ConfigError
from pipelines.semdedup.config import SemDedupParams
from pipelines.semdedup.epsilon import epsilon_for_target, kept_at, required_kept, threshold_bin_for_target
from pipelines.semdedup.kernel import dedup_cluster, max_similarities, order_members

DIM = 16


def unit(*terms):
    """sum of coefficient * basis vector e_k, for (k, coefficient) pairs."""
    v = np.zeros(DIM, dtype=np.float32)
    for k, c in terms:
        v[k] += c
    return v


def near(base: int, extra: int, similarity: float):
    """A unit vector with cosine ``similarity`` to e_base, leaning into its own direction e_extra."""
    return unit((base, similarity), (extra, math.sqrt(1 - similarity ** 2)))


# One designed cluster: three originals, three copies (sim > 0.95 to their original), one
# near-but-not copy (0.90005). Distances fix the 'hard' order: o1, c2a, o3, n3, c1a, c1b, o2.
CLUSTER = {
    "o1": (0.9, unit((0, 1.0))),
    "c2a": (0.8, near(1, 10, 0.98005)),
    "o3": (0.7, unit((2, 1.0))),
    "n3": (0.6, near(2, 7, 0.90005)),
    "c1a": (0.5, near(0, 8, 0.99505)),
    "c1b": (0.4, near(0, 9, 0.99005)),
    "o2": (0.3, unit((1, 1.0))),
}
THETA = math.acos(0.97005)
CHAIN = {  # a ~ b ~ c at 0.97005 each, a !~ c (cos 2 theta = 0.882)
    "a": (0.9, unit((5, 1.0))),
    "b": (0.8, unit((5, math.cos(THETA)), (6, math.sin(THETA)))),
    "c": (0.7, unit((5, math.cos(2 * THETA)), (6, math.sin(2 * THETA)))),
}


def run(cluster, **kw):
    ids = list(cluster)
    dist = np.array([cluster[i][0] for i in ids])
    vecs = np.stack([cluster[i][1] for i in ids])
    res = dedup_cluster(ids, dist, vecs, **kw)
    kept = {ids[i] for i in range(len(ids)) if res.kept[i]}
    dups = {ids[i]: (ids[res.duplicate_of[i]], round(float(res.similarity[i]), 4), ids[res.representative[i]])
            for i in range(len(ids)) if not res.kept[i]}
    return kept, dups


@pytest.mark.parametrize("dense_max", [8192, 2])  # dense matrix, then FAISS range search
def test_keep_hard_removes_exactly_the_designed_copies(dense_max):
    kept, dups = run(CLUSTER, threshold=0.95, max_dense_cluster_size=dense_max)
    assert kept == {"o1", "c2a", "o3", "n3"}
    assert dups == {"c1a": ("o1", 0.9951, "o1"), "c1b": ("o1", 0.9901, "o1"), "o2": ("c2a", 0.9801, "c2a")}


def test_keep_easy_reverses_which_member_survives():
    kept, dups = run(CLUSTER, threshold=0.95, keep="easy")
    # easy order: o2, c1b, c1a, n3, o3, c2a, o1
    assert kept == {"o2", "c1b", "n3", "o3"}
    assert dups["c2a"][0] == "o2" and dups["c1a"][0] == "c1b"
    assert dups["o1"] == ("c1a", 0.9951, "c1b")  # most similar earlier member is c1a; its kept stand-in is c1b


def test_keep_random_is_seeded_and_order_free():
    a = run(CLUSTER, threshold=0.95, keep="random", seed=3)
    shuffled = dict(reversed(list(CLUSTER.items())))
    assert run(shuffled, threshold=0.95, keep="random", seed=3) == a
    assert len(a[0]) == 4  # one survivor per duplicate group whatever the seed
    seen = {frozenset(run(CLUSTER, threshold=0.95, keep="random", seed=s)[0]) for s in range(12)}
    assert len(seen) > 1


@pytest.mark.parametrize("dense_max", [8192, 2])
def test_chain_any_earlier_vs_earlier_kept(dense_max):
    kept, dups = run(CHAIN, threshold=0.95, max_dense_cluster_size=dense_max)
    assert kept == {"a"} and dups == {"b": ("a", 0.9701, "a"), "c": ("b", 0.9701, "a")}
    kept, dups = run(CHAIN, threshold=0.95, compare_against="earlier_kept", max_dense_cluster_size=dense_max)
    assert kept == {"a", "c"} and dups == {"b": ("a", 0.9701, "a")}


def test_threshold_is_strict_and_below_threshold_pairs_stay():
    kept, _ = run(CLUSTER, threshold=0.99505 + 1e-4)
    assert kept == set(CLUSTER)  # nothing above 0.99515
    kept, dups = run(CLUSTER, threshold=0.9)
    assert "n3" in dups and dups["n3"][0] == "o3"


def test_order_members_breaks_distance_ties_by_id():
    assert list(order_members([5, 3, 9], np.array([1.0, 1.0, 2.0]), "hard")) == [2, 1, 0]
    assert list(order_members(["b", "a"], np.array([1.0, 1.0]), "easy")) == [1, 0]


def test_dense_and_faiss_agree_on_random_data_with_copies():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(300, 32)).astype(np.float32)
    copies = base[:60] + 0.05 * rng.normal(size=(60, 32)).astype(np.float32)
    vecs = np.vstack([base, copies])
    ids = list(range(len(vecs)))
    dist = rng.random(len(vecs))
    for mode in ("any_earlier", "earlier_kept"):
        dense = dedup_cluster(ids, dist, vecs, threshold=0.95, compare_against=mode)
        sparse = dedup_cluster(ids, dist, vecs, threshold=0.95, compare_against=mode, max_dense_cluster_size=10)
        assert np.array_equal(dense.kept, sparse.kept) and np.array_equal(dense.duplicate_of, sparse.duplicate_of)
        assert (~dense.kept).sum() == 60  # each injected copy (or its original) goes, nothing else
        pairs = {(min(i, j), max(i, j)) for i, j in zip(np.flatnonzero(~dense.kept), dense.duplicate_of[~dense.kept])}
        assert pairs == {(i, 300 + i) for i in range(60)}


def test_epsilon_for_target_reads_the_max_similarity_distribution():
    ids = list(CLUSTER) + list(CHAIN) + ["s"]
    table = {**CLUSTER, **CHAIN, "s": (0.1, unit((15, 1.0)))}
    m = np.concatenate([
        max_similarities(list(CLUSTER), np.array([v[0] for v in CLUSTER.values()]), np.stack([v[1] for v in CLUSTER.values()]), similarity_floor=0.5),
        max_similarities(list(CHAIN), np.array([v[0] for v in CHAIN.values()]), np.stack([v[1] for v in CHAIN.values()]), similarity_floor=0.5),
        [np.nan]])
    assert len(m) == len(ids) == len(table)
    assert int(np.isnan(m).sum()) == 5  # o1, c2a, o3, a, s: nothing earlier above the floor
    eps, b = epsilon_for_target(m, 0.5, resolution=1e-4, similarity_floor=0.5)
    assert b == 9001 and eps == pytest.approx(0.0999)  # keeps 5 + n3 = 6 = ceil(0.5 * 11)
    assert int(kept_at(m, b, 1e-4).sum()) == 6
    eps, b = epsilon_for_target(m, 0.6, resolution=1e-4, similarity_floor=0.5)
    assert b == 9701 and int(kept_at(m, b, 1e-4).sum()) == 8  # b and c tie at 0.97005: both kept (>= 7)
    eps, b = epsilon_for_target(m, 1.0, resolution=1e-4, similarity_floor=0.5)
    assert int(kept_at(m, b, 1e-4).sum()) == 11


def test_threshold_bin_respects_the_floor_and_counts():
    assert required_kept(11, 0.5) == 6 and required_kept(30, 0.1) == 3
    assert threshold_bin_for_target({9000: 1, 9500: 4}, 5, 0.6, 5000) == 9000  # 10 rows: need 6
    assert threshold_bin_for_target({9000: 1, 9500: 4}, 5, 0.7, 5000) == 9500
    assert threshold_bin_for_target({9000: 1, 9500: 4}, 5, 0.1, 5000) == 5000  # floor already keeps 5 >= 1


def test_config_defaults_and_errors():
    p = build_config(SemDedupParams, {})
    assert (p.keep, p.compare_against, p.epsilon) == ("hard", "any_earlier", 0.01)
    with pytest.raises(ConfigError, match="params.keep"):
        build_config(SemDedupParams, {"keep": "hardest"})
    with pytest.raises(ConfigError, match="params.epsilon"):
        build_config(SemDedupParams, {"epsilon": 1.5})
    with pytest.raises(ConfigError, match="target_kept_fraction.*any_earlier"):
        build_config(SemDedupParams, {"target_kept_fraction": 0.5, "compare_against": "earlier_kept"})
    with pytest.raises(ConfigError, match="params.target_kept_fraction"):
        build_config(SemDedupParams, {"target_kept_fraction": 0})
