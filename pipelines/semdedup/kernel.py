"""SemDeDup inside one cluster, in numpy (no Spark): run once per cluster on an executor.

Abbas et al., "SemDeDup: Data-efficient learning at web-scale through semantic deduplication"
(2023), §3: within a k-means cluster, order the members, compute pairwise cosine similarities and
remove a member whose similarity to an earlier member exceeds ``1 - epsilon``.

Which earlier members count? The paper's text says a member is removed if it is a near-duplicate
of another one; the released code (facebookresearch/SemDeDup, ``semdedup.py``) takes
``M = max(triu(S, 1), dim=0)`` -- for member j the max similarity to *every* earlier member,
whether that one is kept or not -- and removes ``M > 1 - eps``. ``compare_against='any_earlier'``
(the default) does exactly that; ``'earlier_kept'`` is the greedy variant that only compares with
members already kept, so a chain a~b~c with a !~ c keeps c. See docs/semdedup.md.

Order (``sort_clusters.py``): ``keep_hard=True`` sorts by distance to the centroid descending
(farthest first), so the hardest member of a group survives; 'easy' reverses it; 'random' shuffles
(here: a seeded hash of the id). Ties are broken by id so the result never depends on row order.

Clusters above ``max_dense_cluster_size`` use a FAISS flat inner-product index and a range search
(all pairs above the threshold) instead of the n x n matrix; the results are the same up to
floating-point rounding of the dot products.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from pipelines.core.errors import require

RANGE_QUERY_BATCH = 4096


@dataclass(frozen=True)
class ClusterResult:
    """Per member, in the *input* order: kept flag, most similar earlier member (index into the input,
    -1 if none above the threshold), that similarity (NaN if none) and the kept member that stands for it."""

    kept: np.ndarray            # bool
    duplicate_of: np.ndarray    # int64 input index, -1 for kept rows
    similarity: np.ndarray      # float64, NaN for kept rows
    representative: np.ndarray  # int64 input index of the kept member that stands for this one (itself if kept)


def _id_text(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    return str(value)


def order_members(ids: Sequence[Any], distances: np.ndarray, keep: str, seed: int = 0) -> np.ndarray:
    """Indices of the members in processing order; the first of a duplicate group is the one kept.

    'hard': distance to centroid descending; 'easy': ascending; 'random': by sha256('<seed>:<id>').
    Ties by the id's natural order (ints numerically, strings lexically).
    """
    n = len(ids)
    id_arr = np.asarray(ids)
    if id_arr.dtype == object:
        id_rank = np.argsort(np.argsort([_id_text(v) for v in ids], kind="stable"), kind="stable")
    else:
        id_rank = np.argsort(np.argsort(id_arr, kind="stable"), kind="stable")
    if keep == "random":
        keys = [hashlib.sha256(f"{seed}:{_id_text(v)}".encode()).hexdigest() for v in ids]
        key_rank = np.argsort(np.argsort(keys, kind="stable"), kind="stable")
        return np.lexsort((id_rank, key_rank))
    dist = np.asarray(distances, dtype=np.float64)
    if keep == "hard":
        primary = -dist
    elif keep == "easy":
        primary = dist
    else:
        raise ValueError(f"keep must be hard, easy or random, not {keep!r}")
    return np.lexsort((id_rank, primary)) if n else np.zeros(0, dtype=np.int64)


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32), so inner products are cosine similarities."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norms > 0, norms, 1.0)


def max_similarity_to_earlier_dense(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row j of ``ordered`` (unit vectors in processing order): the max cosine similarity to
    rows 0..j-1 and the first row attaining it (-inf and -1 for row 0). The released code's M (§3)."""
    n = ordered.shape[0]
    if n == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    sims = ordered @ ordered.T
    sims[np.tril_indices(n)] = -np.inf  # keep i < j only: earlier rows, no self-similarity
    best = np.argmax(sims, axis=0)
    return sims[best, np.arange(n)].astype(np.float64), np.where(np.arange(n) > 0, best, -1).astype(np.int64)


def earlier_neighbours_faiss(ordered: np.ndarray, threshold: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each row j: (indices i < j, similarities) of earlier rows with similarity > ``threshold``,
    from a FAISS inner-product range search (no n x n matrix)."""
    faiss = require("faiss", "vision")
    n, dim = ordered.shape
    index = faiss.IndexFlatIP(dim)
    index.add(np.ascontiguousarray(ordered, dtype=np.float32))
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for start in range(0, n, RANGE_QUERY_BATCH):
        queries = np.ascontiguousarray(ordered[start:start + RANGE_QUERY_BATCH], dtype=np.float32)
        lims, sims, idx = index.range_search(queries, float(threshold))
        for q in range(queries.shape[0]):
            j = start + q
            i_s, s_s = idx[lims[q]:lims[q + 1]], sims[lims[q]:lims[q + 1]]
            earlier = (i_s < j) & (s_s > threshold)
            out.append((i_s[earlier].astype(np.int64), s_s[earlier].astype(np.float64)))
    return out


def max_similarity_to_earlier_sparse(neighbours: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """M and its argmax from neighbour lists (rows without neighbours: -inf, -1); ties -> smallest index."""
    n = len(neighbours)
    best_sim = np.full(n, -np.inf)
    best_idx = np.full(n, -1, dtype=np.int64)
    for j, (idx, sims) in enumerate(neighbours):
        if idx.size:
            top = sims.max()
            best_sim[j] = top
            best_idx[j] = idx[sims == top].min()
    return best_sim, best_idx


def similarity_bin(similarity: np.ndarray, resolution: float) -> np.ndarray:
    """``ceil(similarity / resolution)``: the grid bin of a similarity (bin b holds ((b-1)r, b r]).
    Pass 1 (histogram) and pass 2 (decision) of the target-fraction mode both use this one function."""
    with np.errstate(invalid="ignore"):
        return np.ceil(np.asarray(similarity, dtype=np.float64) / resolution)


def dedup_cluster(ids: Sequence[Any], distances: np.ndarray, vectors: np.ndarray, *, threshold: float,
                  keep: str = "hard", compare_against: str = "any_earlier", seed: int = 0,
                  max_dense_cluster_size: int = 8192, threshold_bin: int | None = None,
                  resolution: float | None = None) -> ClusterResult:
    """SemDeDup on one cluster: a member is a duplicate when its similarity exceeds ``threshold``
    (= 1 - epsilon) to an earlier member (any, or kept only). Results are in the input order.

    With ``threshold_bin`` and ``resolution`` (target-fraction mode, any_earlier only) the test is
    ``similarity_bin(M) > threshold_bin`` instead, the exact rule the histogram was counted with;
    pass ``threshold = (threshold_bin - 1) * resolution`` as the range-search radius."""
    n = len(ids)
    order = order_members(ids, distances, keep, seed)
    ordered = normalise(np.asarray(vectors, dtype=np.float32)[order]) if n else np.zeros((0, 1), np.float32)
    kept_o = np.ones(n, dtype=bool)
    dup_o = np.full(n, -1, dtype=np.int64)
    sim_o = np.full(n, np.nan)
    rep_o = np.arange(n, dtype=np.int64)
    dense = n <= max_dense_cluster_size
    if compare_against == "any_earlier":
        if dense:
            best_sim, best_idx = max_similarity_to_earlier_dense(ordered)
        else:
            best_sim, best_idx = max_similarity_to_earlier_sparse(earlier_neighbours_faiss(ordered, threshold))
        if threshold_bin is not None:
            is_dup = np.isfinite(best_sim) & (similarity_bin(best_sim, resolution) > threshold_bin)
        else:
            is_dup = best_sim > threshold
        kept_o = ~is_dup
        dup_o = np.where(is_dup, best_idx, -1)
        sim_o = np.where(is_dup, best_sim, np.nan)
        for j in range(n):  # follow the chain to a kept member: best_idx[j] < j, so it is already resolved
            if is_dup[j]:
                rep_o[j] = rep_o[best_idx[j]]
    elif compare_against == "earlier_kept":
        if threshold_bin is not None:
            raise ValueError("threshold_bin works with compare_against='any_earlier' only")
        if dense:
            sims = ordered @ ordered.T
            for j in range(1, n):
                kept_before = np.flatnonzero(kept_o[:j])
                cand = sims[kept_before, j]
                k = int(np.argmax(cand))
                if cand[k] > threshold:
                    kept_o[j], dup_o[j], sim_o[j] = False, kept_before[k], float(cand[k])
        else:
            for j, (idx, s) in enumerate(earlier_neighbours_faiss(ordered, threshold)):
                ok = kept_o[idx]
                if ok.any():
                    idx, s = idx[ok], s[ok]
                    top = s.max()
                    kept_o[j], dup_o[j], sim_o[j] = False, idx[s == top].min(), float(top)
        rep_o = np.where(kept_o, rep_o, dup_o)
    else:
        raise ValueError(f"compare_against must be any_earlier or earlier_kept, not {compare_against!r}")
    # back to the input order; indices refer to input rows
    kept = np.empty(n, dtype=bool)
    dup = np.empty(n, dtype=np.int64)
    sim = np.empty(n)
    rep = np.empty(n, dtype=np.int64)
    kept[order] = kept_o
    dup[order] = np.where(dup_o >= 0, order[np.maximum(dup_o, 0)], -1)
    sim[order] = sim_o
    rep[order] = order[rep_o]
    return ClusterResult(kept, dup, sim, rep)


def max_similarities(ids: Sequence[Any], distances: np.ndarray, vectors: np.ndarray, *, keep: str = "hard",
                     seed: int = 0, similarity_floor: float = -1.0, max_dense_cluster_size: int = 8192) -> np.ndarray:
    """Each member's max similarity to any earlier member (input order); NaN when none exceeds
    ``similarity_floor``. The distribution :func:`pipelines.semdedup.epsilon.epsilon_for_target` reads."""
    n = len(ids)
    out = np.full(n, np.nan)
    if n == 0:
        return out
    order = order_members(ids, distances, keep, seed)
    ordered = normalise(np.asarray(vectors, dtype=np.float32)[order])
    if n <= max_dense_cluster_size:
        best, _ = max_similarity_to_earlier_dense(ordered)
    else:
        best, _ = max_similarity_to_earlier_sparse(earlier_neighbours_faiss(ordered, similarity_floor))
    best = np.where(best > similarity_floor, best, np.nan)
    out[order] = best
    return out
