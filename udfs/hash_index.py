"""The across-volume hash reduction: each slice against *all* kept slices of the dataset.

"Less is More" reduces within each volume; their ``Hash_AllData.py`` (not used in the paper, left
unfinished) compares every slice with every other of the whole dataset in file-name order. Here the
same greedy rule — a slice is kept iff no earlier kept slice is within ``hamming_threshold`` bits,
and a dropped slice's reference is the earliest such kept slice — runs over a deterministic global
order, ``(volume_id, slice_index, id)``, streamed in batches through a FAISS binary index of the kept
hashes (8 bytes per kept slice):

- ``flat``: ``faiss.IndexBinaryFlat``, exact, cost O(kept) popcounts per slice;
- ``multihash``: ``faiss.IndexBinaryMultiHash`` with 7 tables of 9 bits, exact for thresholds ≤ 6
  (pigeonhole: 7 disjoint 9-bit blocks cover 63 of the 64 bits, so a pair within 6 bits agrees on at
  least one whole block), with cost about proportional to the candidates that share a block.

The greedy is order-dependent, so this pass is sequential by nature; only 8-byte hashes travel to it.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from udfs.dhash import HASH_BITS, hamming_matrix, hash_to_bytes
from udfs.slice_reduce import Reduction, hash_reduce

MULTIHASH_TABLES = 7
MULTIHASH_BITS = 9


class DatasetHashReducer:
    """Feed hashes in global order with :meth:`reduce_batch`; references are global positions."""

    def __init__(self, hamming_threshold: int, index_kind: str = "flat"):
        from pipelines.core.errors import require

        faiss = require("faiss", "all")
        if index_kind == "multihash" and hamming_threshold >= MULTIHASH_TABLES:
            raise ValueError(f"the multihash index is exact only for hamming_threshold < {MULTIHASH_TABLES}")
        if index_kind == "flat":
            self.index = faiss.IndexBinaryFlat(HASH_BITS)
        elif index_kind == "multihash":
            self.index = faiss.IndexBinaryMultiHash(HASH_BITS, MULTIHASH_TABLES, MULTIHASH_BITS)
        else:
            raise ValueError(f"unknown index kind {index_kind!r}")
        self.hamming_threshold = hamming_threshold
        self.kept_positions: list[int] = []   # global position of the i-th indexed (kept) slice
        self.seen = 0

    def _earliest_kept_within(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each hash: the global position of the earliest kept slice within the threshold (-1 if
        none) and its distance."""
        ref = np.full(len(hashes), -1, dtype=np.int64)
        dist = np.zeros(len(hashes), dtype=np.float64)
        if self.index.ntotal == 0 or len(hashes) == 0:
            return ref, dist
        # FAISS range_search returns distances strictly below the radius
        lims, distances, labels = self.index.range_search(hash_to_bytes(hashes), self.hamming_threshold + 1)
        for i in range(len(hashes)):
            lo, hi = int(lims[i]), int(lims[i + 1])
            if hi > lo:
                j = lo + int(np.argmin(labels[lo:hi]))  # index labels grow with global order
                ref[i] = self.kept_positions[int(labels[j])]
                dist[i] = float(distances[j])
        return ref, dist

    def reduce_batch(self, hashes: Sequence[int] | np.ndarray) -> Reduction:
        """Decide the next ``len(hashes)`` slices of the global order."""
        hashes = np.asarray(hashes)
        count = len(hashes)
        start = self.seen
        ref, dist = self._earliest_kept_within(hashes)
        kept = np.zeros(count, dtype=bool)
        # slices no earlier batch's kept slice covers: the same walk among themselves
        fresh = np.flatnonzero(ref < 0)
        if fresh.size:
            inner = hash_reduce(hashes[fresh], self.hamming_threshold)
            kept[fresh] = inner.kept
            ref[fresh] = start + fresh[inner.reference]
            dist[fresh] = inner.distance
            new = fresh[inner.kept]
            self.index.add(hash_to_bytes(hashes[new]))
            self.kept_positions.extend((start + new).tolist())
        self.seen += count
        return Reduction(kept, ref, dist)


def brute_force_dataset_reduce(hashes: Sequence[int] | np.ndarray, hamming_threshold: int) -> Reduction:
    """The same rule with a full distance matrix (for tests and small inputs): O(n²) memory."""
    hashes = np.asarray(hashes)
    matrix = hamming_matrix(hashes, hashes)
    count = len(hashes)
    kept = np.zeros(count, dtype=bool)
    ref = np.arange(count, dtype=np.int64)
    dist = np.zeros(count, dtype=np.float64)
    for i in range(count):
        earlier_kept = np.flatnonzero(kept[:i] & (matrix[i, :i] <= hamming_threshold))
        if earlier_kept.size:
            ref[i], dist[i] = earlier_kept[0], matrix[i, earlier_kept[0]]
        else:
            kept[i] = True
    return Reduction(kept, ref, dist)
