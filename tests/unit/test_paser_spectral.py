"""Spectral clustering on a kNN graph, eigengap K and kNN-vote assignment (PASER §3.1, corrected)."""
from __future__ import annotations

import numpy as np
import pytest

from pipelines.paser.spectral import assign_by_knn_vote, eigengap_choice, eigengap_k, spectral_cluster


def _blobs(n_per=40, k=4, dim=16, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.eye(dim)[:k] * 3.0
    labels = np.repeat(np.arange(k), n_per)
    return centers[labels] + noise * rng.normal(size=(len(labels), dim)), labels


def test_eigengap_picks_the_largest_gap():
    mu = np.array([0.0, 0.0, 0.01, 0.02, 0.5, 0.55, 0.6])
    assert eigengap_k(mu, 1, 6) == 4
    assert eigengap_k(mu, 1, 3) == 2  # within [1, 3] the gaps are 0, .01, .01: ties go to the smaller K
    assert eigengap_k(mu, 5, 6) == 5


def test_an_eigengap_that_is_not_decisive_falls_back_to_the_code_default():
    mu = np.array([0.0, 0.10, 0.20, 0.32, 0.42, 0.52, 0.62, 0.72])  # gaps .1 .1 .12 .1 ...: 1.2x the next
    k, how, ratio = eigengap_choice(mu, 2, 6, 2.0, 10)
    assert (k, how) == (6, "fallback") and ratio == pytest.approx(1.2)   # 10 clipped to max_clusters
    assert eigengap_choice(mu, 2, 6, 1.1, 4)[:2] == (3, "eigengap")
    assert eigengap_choice(np.array([0.0, 0.0, 0.01, 0.5]), 2, 2, 2.0, 10)[:2] == (2, "eigengap")  # one K


def _groups(sizes, dim=384, spread=0.6, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(len(sizes), dim))
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return centers[labels] + spread * rng.normal(size=(len(labels), dim)), labels


def test_k_is_the_number_of_known_groups_when_they_are_apart():
    from sklearn.metrics import adjusted_rand_score

    x, truth = _groups([300, 200, 150, 120, 80, 50])          # six capability groups of unequal size
    result = spectral_cluster(x, num_clusters=None, min_clusters=2, max_clusters=30)
    assert (result.num_clusters, result.chosen_by) == (6, "eigengap") and result.gap_ratio > 20
    assert adjusted_rand_score(truth, result.labels) == 1.0
    # groups within groups (3 domains of 4 tasks each): the finer level, the one budgets need
    rng = np.random.default_rng(1)
    tops = rng.normal(size=(3, 384))
    tasks = np.concatenate([t + 0.5 * rng.normal(size=(4, 384)) for t in tops])
    y = np.repeat(tasks, 120, axis=0) + 0.35 * rng.normal(size=(1440, 384))
    nested = spectral_cluster(y, num_clusters=None, min_clusters=2, max_clusters=30)
    assert (nested.num_clusters, nested.chosen_by) == (12, "eigengap")
    assert adjusted_rand_score(np.repeat(np.arange(12), 120), nested.labels) == 1.0


def test_no_group_structure_gives_the_code_default_k_not_a_noisy_eigengap():
    # the plain eigengap picks K = 3 here, by noise (its gap is ~1.1x the next)
    x = np.random.default_rng(0).normal(size=(1500, 384))
    result = spectral_cluster(x, num_clusters=None, min_clusters=2, max_clusters=30)
    assert (result.num_clusters, result.chosen_by) == (10, "fallback") and result.gap_ratio < 2.0
    assert eigengap_k(result.eigenvalues, 2, 30) == 3


def test_four_separated_blobs_are_recovered_with_k_from_the_eigengap():
    x, truth = _blobs()
    result = spectral_cluster(x, num_clusters=None, min_clusters=2, max_clusters=8, knn_neighbors=8)
    assert result.num_clusters == 4 and result.chosen_by == "eigengap"
    # same partition as the truth (labels numbered by first occurrence)
    pairs = set(zip(truth, result.labels))
    assert len(pairs) == 4 and len({p[1] for p in pairs}) == 4
    assert result.labels[0] == 0
    # the user's K wins over the eigengap
    assert spectral_cluster(x, num_clusters=2, knn_neighbors=8).num_clusters == 2


def test_result_does_not_depend_on_row_order_up_to_label_names():
    x, _ = _blobs(seed=1)
    perm = np.random.default_rng(3).permutation(len(x))
    a = spectral_cluster(x, num_clusters=4, knn_neighbors=8).labels
    b = spectral_cluster(x[perm], num_clusters=4, knn_neighbors=8).labels
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    b_back = b[inv]
    assert len(set(zip(a, b_back))) == 4


def test_knn_vote_assigns_to_the_majority_cluster():
    ref = np.array([[1, 0], [1, 0.1], [0.9, 0], [0, 1], [0.1, 1]], dtype=np.float32)
    labels = np.array([0, 0, 0, 1, 1])
    queries = np.array([[1, 0.05], [0.05, 1]], dtype=np.float32)
    assert list(assign_by_knn_vote(ref, labels, queries, 3)) == [0, 1]
    # 2 neighbours, one vote each: the larger similarity wins
    assert list(assign_by_knn_vote(ref[[0, 3]], np.array([0, 1]), np.array([[0.2, 1.0]], dtype=np.float32), 2)) == [1]


def test_bounded_sample_then_knn_vote_recovers_every_blob():
    # the stage's bounded path: spectral on a sample, the rest assigned by a vote over that sample
    x, truth = _blobs(n_per=30, k=3, noise=0.05, seed=4)
    picked = np.sort(np.random.default_rng(0).choice(len(x), size=45, replace=False))
    assert min(np.bincount(truth[picked])) >= 5
    result = spectral_cluster(x[picked], num_clusters=3, knn_neighbors=5)
    labels = np.empty(len(x), dtype=np.int64)
    labels[picked] = result.labels
    rest = np.setdiff1d(np.arange(len(x)), picked)
    labels[rest] = assign_by_knn_vote(x[picked], result.labels, x[rest], 5)
    assert len(set(zip(truth, labels))) == 3 and len(set(labels)) == 3
