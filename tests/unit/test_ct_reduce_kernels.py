"""The greedy reference walk of "Less is More" and its strategies, on designed inputs (no Spark)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pipelines.ct_reduce.config import CtReduceParams
from pipelines.demo_data.volumes import MAX_WITHIN_RUN, MIN_BETWEEN_RUNS, generate, volume_runs
from udfs.dhash import hamming_matrix, to_signed
from udfs.hash_index import DatasetHashReducer, brute_force_dataset_reduce
from udfs.slice_reduce import embedding_reduce, every_n_reduce, greedy_reduce, hash_reduce, nmi_reduce, ssim_reduce
from udfs.volume_reduce import reduce_dataset_stream, reduce_volume


def test_walk_drops_later_similar_slices_not_only_adjacent_ones():
    # hashes: A, A+1bit, B (far), A+2bits, B+1bit  ->  keep A and B; the 4th slice goes back to A
    a, b = 0, to_signed(0xFFFFFFFF00000000)
    red = hash_reduce([a, a ^ 1, b, a ^ 0b110, b ^ (1 << 40)], hamming_threshold=6)
    assert red.kept.tolist() == [True, False, True, False, False]
    assert red.reference.tolist() == [0, 0, 2, 0, 2]
    assert red.distance.tolist() == [0, 1, 0, 2, 1]


def test_threshold_is_inclusive_at_six_bits():
    six, seven = 0b111111, 0b1111111
    assert hash_reduce([0, six], 6).kept.tolist() == [True, False]
    assert hash_reduce([0, seven], 6).kept.tolist() == [True, True]


def test_three_runs_of_near_identical_slices_keep_exactly_three():
    pixels, runs, hashes = volume_runs(seed=11, run_lengths=[5, 7, 4])
    red = hash_reduce(hashes, 6)
    assert red.kept.sum() == 3
    assert np.flatnonzero(red.kept).tolist() == [0, 5, 12]          # the first slice of each run
    assert red.reference.tolist() == [0] * 5 + [5] * 7 + [12] * 4
    # the generator's own guarantees, checked independently
    within = [hamming_matrix(hashes[np.array(runs) == r], hashes[np.array(runs) == r]).max() for r in range(3)]
    assert max(within) <= 2 * MAX_WITHIN_RUN
    across = hamming_matrix(hashes[np.array(runs) == 0], hashes[np.array(runs) == 1])
    assert across.min() > MIN_BETWEEN_RUNS


@pytest.mark.parametrize("count,every_n", [(12, 5), (10, 5), (1, 3), (7, 1), (13, 4)])
def test_every_n_keeps_ceil_count_over_n(count, every_n):
    red = every_n_reduce(count, every_n)
    assert red.kept.sum() == math.ceil(count / every_n)
    assert np.flatnonzero(red.kept).tolist() == list(range(0, count, every_n))
    assert all(red.reference[i] == i - i % every_n for i in range(count))


def test_ssim_nmi_and_embedding_keep_one_slice_per_run():
    pixels, runs, _ = volume_runs(seed=5, run_lengths=[4, 3, 5])
    firsts = [0, 4, 7]
    defaults = CtReduceParams()
    assert np.flatnonzero(ssim_reduce(pixels, defaults.ssim_threshold).kept).tolist() == firsts
    assert np.flatnonzero(nmi_reduce(pixels, defaults.nmi_threshold).kept).tolist() == firsts
    from udfs.slice_similarity import pixel_embedding

    vectors = np.array([pixel_embedding(p) for p in pixels])
    assert np.flatnonzero(embedding_reduce(vectors, defaults.cosine_threshold).kept).tolist() == firsts
    # a threshold no pair of distinct noisy slices reaches keeps every slice
    assert ssim_reduce(pixels, 0.99999).kept.sum() == len(pixels)


def test_ssim_never_matches_a_slice_of_another_shape():
    a = np.zeros((16, 16), np.uint8)
    b = np.zeros((16, 20), np.uint8)
    assert ssim_reduce([a, b, a], 0.5).kept.tolist() == [True, True, False]


def test_greedy_calls_compare_once_per_kept_slice():
    calls = []

    def compare(ref, cands):
        calls.append(ref)
        return np.zeros(len(cands), bool), np.zeros(len(cands))

    assert greedy_reduce(4, compare).kept.all() and calls == [0, 1, 2]


def test_volume_order_is_numeric_slice_index_not_name():
    # slices 1..12, given in lexicographic name order ("s1","s10","s11","s12","s2",...); the run
    # boundary is between slices 6 and 7 and every slice is near the one before it only.
    base = 0
    hashes_by_index = {i: base ^ ((1 << (i - 1)) - 1) for i in range(1, 13)}  # i-1 low bits set
    names = sorted((f"s{i}", i) for i in range(1, 13))
    frame = pd.DataFrame({"id": [n for n, _ in names], "volume_id": "v", "slice_index": [i for _, i in names],
                          "hash": [hashes_by_index[i] for _, i in names]})
    out = reduce_volume(frame, CtReduceParams(hamming_threshold=6))
    assert out["slice_index"].tolist() == list(range(1, 13))
    assert out.loc[out.kept, "id"].tolist() == ["s1", "s8"]       # s1..s7 within 6 bits of s1; s8.. of s8
    assert out["reference_id"].tolist() == ["s1"] * 7 + ["s8"] * 5
    # a file-name order walk would have kept s1 and then s10 (12 bits from s1 ... ) differently
    name_order = hash_reduce([hashes_by_index[i] for _, i in names], 6)
    assert np.array([n for n, _ in names])[name_order.kept].tolist() != ["s1", "s8"]


@pytest.mark.parametrize("index_kind", ["flat", "multihash"])
@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_dataset_index_equals_brute_force_in_any_batching(index_kind, batch):
    rng = np.random.default_rng(0)
    centres = rng.integers(-(2**63), 2**63 - 1, size=6, dtype=np.int64)
    flips = [np.int64(1) << np.int64(b) for b in range(64)]
    hashes = []
    for _ in range(300):
        h = centres[rng.integers(0, 6)]
        for b in rng.choice(64, size=int(rng.integers(0, 9)), replace=False):
            h ^= flips[b]
        hashes.append(h)
    hashes = np.array(hashes, dtype=np.int64)
    expected = brute_force_dataset_reduce(hashes, 6)
    reducer = DatasetHashReducer(6, index_kind)
    parts = [reducer.reduce_batch(hashes[s:s + batch]) for s in range(0, len(hashes), batch)]
    kept = np.concatenate([p.kept for p in parts])
    ref = np.concatenate([p.reference for p in parts])
    dist = np.concatenate([p.distance for p in parts])
    assert kept.tolist() == expected.kept.tolist()
    assert ref.tolist() == expected.reference.tolist()
    assert dist.tolist() == expected.distance.tolist()
    assert 6 <= kept.sum() <= len(hashes) - 100  # a mix of kept and dropped slices


def test_dataset_stream_maps_references_to_ids_across_batches():
    frame = pd.DataFrame({"id": ["a", "b", "c", "d"], "volume_id": ["v1", "v1", "v2", "v2"],
                          "slice_index": [1, 2, 1, 2], "hash": [0, 0xFFFF, 1, 0xFFFE]})
    out = pd.concat(reduce_dataset_stream(iter([frame.iloc[:1], frame.iloc[1:3], frame.iloc[3:]]),
                                          CtReduceParams(scope="dataset")))
    assert out["kept"].tolist() == [True, True, False, False]
    assert out["reference_id"].tolist() == ["a", "b", "a", "b"]
    assert out["distance"].tolist() == [0, 0, 1, 1]


def test_demo_volumes_ground_truth_and_determinism():
    slices, truth = (t.frame for t in generate(seed=0))
    again = generate(seed=0)[0].frame
    assert slices["image"].tolist() == again["image"].tolist()
    assert len(slices) == len(truth) and truth["id"].is_unique
    assert (truth["run"] == -1).sum() == 1
    # ids sort lexicographically in another order than slice_index (s10 before s2)
    v = truth[truth.volume_id == truth.volume_id.iloc[0]]
    assert sorted(v["id"]) != v.sort_values("slice_index")["id"].tolist()
    assert truth.groupby("volume_id")["run"].max().min() >= 1  # every volume has at least two runs
