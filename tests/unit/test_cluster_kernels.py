"""FAISS k-means kernels without Spark: exact clusters on separated blobs, distances, bad rows."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from pipelines.cluster.cluster import train
from pipelines.cluster.config import ClusterParams
from pipelines.core.errors import ConfigError, DataError
from udfs.faiss_kmeans import assign_batches, assign_to_centroids, kmeans_plus_plus, list_column_to_matrix, train_kmeans


def blobs(num_blobs: int = 4, per_blob: int = 30, dim: int = 16, seed: int = 0):
    """Well-separated Gaussian blobs: centres 10 apart along distinct axes, spread 0.1."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((num_blobs, dim))
    for b in range(num_blobs):
        centres[b, b] = 10.0
        centres[b, (b + 1) % dim] = 3.0
    x = np.concatenate([c + rng.normal(0, 0.1, (per_blob, dim)) for c in centres]).astype(np.float32)
    return x, np.repeat(np.arange(num_blobs), per_blob)


def same_partition(labels_a, labels_b) -> bool:
    """True when two labelings group the rows identically (cluster numbers may differ)."""
    pairs = set(zip(labels_a.tolist(), labels_b.tolist()))
    return len(pairs) == len(set(labels_a.tolist())) == len(set(labels_b.tolist()))


@pytest.mark.parametrize("spherical", [False, True])
def test_separated_blobs_are_clustered_exactly(spherical):
    x, truth = blobs()
    centroids = train_kmeans(x, num_clusters=4, niter=20, seed=1234, spherical=spherical, init="kmeans++")
    labels, distance = assign_to_centroids(x, centroids, spherical=spherical)
    assert same_partition(labels, truth)
    if spherical:
        unit = x / np.linalg.norm(x, axis=1, keepdims=True)
        expected = 1 - np.einsum("ij,ij->i", unit.astype(np.float64), centroids[labels].astype(np.float64))
        assert np.allclose(np.linalg.norm(centroids, axis=1), 1, atol=1e-5)
    else:
        expected = ((x.astype(np.float64) - centroids[labels]) ** 2).sum(axis=1)
    assert np.allclose(distance, expected, atol=1e-6) and (distance < (0.05 if spherical else 1.0)).all()
    again = train_kmeans(x, num_clusters=4, niter=20, seed=1234, spherical=spherical, init="kmeans++")
    assert np.array_equal(again, centroids)  # seeded: the same centroids every run


def test_kmeans_plus_plus_seeds_one_centre_per_separated_blob():
    x, truth = blobs(num_blobs=8, per_blob=5, dim=16)
    for seed in range(5):
        centres = kmeans_plus_plus(x, 8, seed)
        nearest_blob = [truth[np.argmin(((x - c) ** 2).sum(axis=1))] for c in centres]
        assert sorted(nearest_blob) == list(range(8))


def test_distance_does_not_depend_on_batching():
    x, _ = blobs(dim=8)
    centroids = train_kmeans(x, num_clusters=4, niter=10, seed=1, spherical=False)
    whole = assign_to_centroids(x, centroids, spherical=False)
    parts = [assign_to_centroids(x[i:i + 7], centroids, spherical=False) for i in range(0, len(x), 7)]
    assert np.array_equal(whole[0], np.concatenate([p[0] for p in parts]))
    assert np.array_equal(whole[1], np.concatenate([p[1] for p in parts]))


def test_assign_batches_gives_reasons_for_bad_rows():
    centroids = np.eye(3, dtype=np.float32)
    vectors = pa.array([[0.9, 0.1, 0.0], None, [0.0, float("nan"), 1.0], [1.0, 2.0], [0.0, 0.0, 0.0],
                        [0.0, None, 1.0], [0.0, 0.2, 0.9]], pa.list_(pa.float32()))
    batch = pa.RecordBatch.from_arrays([pa.array(list("abcdefg")), vectors], names=["id", "vector"])
    out = next(assign_batches(centroids, id_column="id", vector_column="vector", spherical=True, gpu=False)([batch]))
    got = out.to_pydict()
    assert got["id"] == list("abcdefg")
    assert got["reason"] == [None, "null_vector", "non_finite_vector", "dimension_mismatch: 2 != 3",
                             "zero_vector", "non_finite_vector", None]
    assert got["cluster"] == [0, None, None, None, None, None, 2]
    plain = next(assign_batches(centroids, id_column="id", vector_column="vector", spherical=False, gpu=False)([batch]))
    assert plain.to_pydict()["reason"][4] is None  # a zero vector is fine for plain k-means
    mat, ok = list_column_to_matrix(vectors, 3)
    assert ok.tolist() == [True, False, True, False, True, False, True] and mat.shape == (7, 3)
    # the ok rows carry their own values (gathered by one Arrow filter); the others are NaN
    np.testing.assert_array_equal(mat[[0, 4, 6]], np.array([[0.9, 0.1, 0.0], [0, 0, 0], [0.0, 0.2, 0.9]], np.float32))
    assert np.isnan(mat[2, 1]) and mat[2, 2] == 1.0
    assert np.isnan(mat[[1, 3, 5]]).all()


def test_assign_batches_on_a_batch_of_only_good_rows_matches_the_kernel():
    rng = np.random.default_rng(3)
    centroids = rng.normal(size=(5, 8)).astype(np.float32)
    x = rng.normal(size=(40, 8)).astype(np.float32)
    batch = pa.RecordBatch.from_arrays([pa.array(np.arange(40)), pa.array(list(x), pa.list_(pa.float32()))],
                                       names=["id", "vector"])
    for spherical in (True, False):
        unit = centroids / np.linalg.norm(centroids, axis=1, keepdims=True) if spherical else centroids
        out = next(assign_batches(unit, id_column="id", vector_column="vector", spherical=spherical, gpu=False)([batch]))
        labels, distance = assign_to_centroids(x, unit, spherical=spherical)
        got = out.to_pydict()
        assert got["cluster"] == labels.tolist() and got["reason"] == [None] * 40
        np.testing.assert_allclose(got["distance"], distance, rtol=0, atol=1e-12)
        # the nearest centroid by brute force, in float64
        if spherical:
            xn = x / np.linalg.norm(x, axis=1, keepdims=True)
            assert labels.tolist() == np.argmax(xn.astype(np.float64) @ unit.T.astype(np.float64), axis=1).tolist()
            np.testing.assert_allclose(distance, 1 - np.max(xn.astype(np.float64) @ unit.T.astype(np.float64), axis=1),
                                       atol=1e-6)
        else:
            d2 = ((x[:, None, :].astype(np.float64) - unit[None].astype(np.float64)) ** 2).sum(-1)
            assert labels.tolist() == np.argmin(d2, axis=1).tolist()
            np.testing.assert_allclose(distance, d2.min(axis=1), rtol=1e-6)


def test_row_sq_norms_classifies_rows():
    from udfs.faiss_kmeans import normalize_rows, row_sq_norms

    x = np.array([[3, 4], [0, 0], [np.nan, 1], [np.inf, 0], [3e38, 3e38], [1e-30, 0]], np.float32)
    sq = row_sq_norms(x)
    assert sq[0] == 25 and sq[1] == 0 and np.isnan(sq[2]) and np.isinf(sq[3])
    assert np.isfinite(sq[4]) and sq[5] > 0  # no float32 overflow or underflow: summed in float64
    unit = normalize_rows(x[[0, 1, 4, 5]])
    np.testing.assert_allclose(unit, [[0.6, 0.8], [0, 0], [2 ** -0.5, 2 ** -0.5], [1, 0]], rtol=1e-6)


def test_train_checks_name_the_config_key():
    with pytest.raises(ConfigError, match="params.num_clusters"):
        ClusterParams(num_clusters=10, max_train_samples=5)
    x, _ = blobs(num_blobs=2, per_blob=3)
    with pytest.raises(DataError, match=r"params.num_clusters \(7\).*usable rows \(6\)"):
        train(x, ClusterParams(num_clusters=7))
    with pytest.raises(DataError, match="no usable vectors"):
        train(np.zeros((5, 4), np.float32), ClusterParams(num_clusters=2, spherical=True))


def test_usable_mask_checks_every_element_on_the_flat_values():
    from pipelines.cluster.sample import usable_mask

    column = pa.array([[1.0, 2.0], None, [], [1.0, None], [float("nan"), 1.0], [1.0, float("-inf")], [3.0],
                       [0.0, 0.0]], pa.list_(pa.float32()))
    assert usable_mask(column).tolist() == [True, False, False, False, False, False, True, True]
    assert usable_mask(pa.array([], pa.list_(pa.float32()))).tolist() == []
    assert usable_mask(pa.array([None, None], pa.list_(pa.float32()))).tolist() == [False, False]
    # one length and no nulls: the fast path on the rows' norms
    same = pa.array([[1.0, 2.0], [float("nan"), 1.0], [0.0, 0.0], [1.0, float("inf")], [3e38, 3e38]],
                    pa.list_(pa.float32()))
    assert usable_mask(same).tolist() == [True, False, True, False, True]
