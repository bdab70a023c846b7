"""The greedy reference walk of "Less is More" over one ordered sequence of slices (numpy only).

Wolf et al. (2024), §2 and their ``Hash_LIDC_Volume.py``: take the first remaining slice as the
reference and keep it, drop every later remaining slice that is "too similar" to it (not only the
adjacent ones), and repeat with the next remaining slice. Equivalently: a slice is kept iff no
earlier *kept* slice is too similar to it, and a dropped slice's reference is the earliest kept
slice that is too similar to it. :func:`greedy_reduce` implements that walk for any similarity test;
the ``*_reduce`` functions bind it to one strategy. ``every_n_reduce`` is the paper's EveryN baseline.

Positions are 0-based positions in the *given* order; callers sort by numeric slice index first
(their code sorts file names, so ``_10`` comes before ``_2``: we never do).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from udfs.dhash import as_hash_array, hamming_to_many
from udfs.slice_similarity import SsimReference, cosine_to_many, normalized_mutual_information

# compare(reference_position, candidate_positions) -> (too_similar mask, distance per candidate)
Compare = Callable[[int, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Reduction:
    """Per position: kept?, the position of the kept slice standing for it, the distance to that slice."""

    kept: np.ndarray        # bool
    reference: np.ndarray   # int64 positions; a kept slice references itself
    distance: np.ndarray    # float64; 0 for kept slices, NaN where not defined


def greedy_reduce(count: int, compare: Compare) -> Reduction:
    """The reference walk over ``count`` ordered slices with the similarity test ``compare``."""
    kept = np.zeros(count, dtype=bool)
    reference = np.arange(count, dtype=np.int64)
    distance = np.zeros(count, dtype=np.float64)
    remaining = np.arange(count, dtype=np.int64)
    while remaining.size:
        ref, rest = int(remaining[0]), remaining[1:]
        kept[ref] = True
        if rest.size == 0:
            break
        similar, dist = compare(ref, rest)
        similar = np.asarray(similar, dtype=bool)
        dropped = rest[similar]
        reference[dropped] = ref
        distance[dropped] = np.asarray(dist, dtype=np.float64)[similar]
        remaining = rest[~similar]
    return Reduction(kept, reference, distance)


def hash_reduce(hashes: Sequence[int] | np.ndarray, hamming_threshold: int) -> Reduction:
    """Drop a slice whose dHash is within ``hamming_threshold`` bits of the reference's ("Hash-6")."""
    arr = as_hash_array(hashes)

    def compare(ref: int, cands: np.ndarray):
        dist = hamming_to_many(arr[ref], arr[cands])
        return dist <= hamming_threshold, dist

    return greedy_reduce(len(arr), compare)


def every_n_reduce(count: int, every_n: int) -> Reduction:
    """Keep positions 0, n, 2n, …: exactly ⌈count / n⌉ slices. A dropped slice references the kept
    slice before it; its distance is how many positions it lies after that slice."""
    pos = np.arange(count, dtype=np.int64)
    offset = pos % every_n
    return Reduction(offset == 0, pos - offset, offset.astype(np.float64))


def ssim_reduce(images: Sequence[np.ndarray], ssim_threshold: float, data_range: float = 255.0) -> Reduction:
    """Drop a slice whose SSIM with the reference is at least ``ssim_threshold``; distance = 1 − SSIM.
    Slices of another shape than the reference are never similar to it."""

    def compare(ref: int, cands: np.ndarray):
        reference = SsimReference(images[ref], data_range=data_range)
        sims = np.array([reference.similarity(images[c]) if images[c].shape == reference.shape else np.nan
                         for c in cands])
        return np.nan_to_num(sims, nan=-np.inf) >= ssim_threshold, 1.0 - sims

    return greedy_reduce(len(images), compare)


def nmi_reduce(images: Sequence[np.ndarray], nmi_threshold: float, bins: int = 100) -> Reduction:
    """Drop a slice whose normalised mutual information with the reference is at least
    ``nmi_threshold`` (scale 1..2); distance = 2 − NMI (0 identical, 1 independent)."""

    def compare(ref: int, cands: np.ndarray):
        sims = np.array([normalized_mutual_information(images[ref], images[c], bins=bins)
                         if images[c].shape == images[ref].shape else np.nan for c in cands])
        return np.nan_to_num(sims, nan=-np.inf) >= nmi_threshold, 2.0 - sims

    return greedy_reduce(len(images), compare)


def embedding_reduce(vectors: np.ndarray, cosine_threshold: float) -> Reduction:
    """Drop a slice whose embedding has cosine similarity at least ``cosine_threshold`` with the
    reference's; distance = 1 − cosine."""
    mat = np.asarray(vectors, dtype=np.float64)

    def compare(ref: int, cands: np.ndarray):
        sims = cosine_to_many(mat[ref], mat[cands])
        return sims >= cosine_threshold, 1.0 - sims

    return greedy_reduce(len(mat), compare)
