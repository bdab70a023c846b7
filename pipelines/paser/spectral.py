"""Spectral clustering of instruction embeddings on a bounded sample (PASER §3.1, corrected).

The paper's code builds a dense N×N Gaussian kernel, takes ``eigsh(which='SM')`` of the
*non-symmetric* random-walk Laplacian I − D⁻¹A (eigsh assumes a symmetric matrix) and clusters with
NMF. Here, following von Luxburg ("A Tutorial on Spectral Clustering", 2007, §4–§8) and Ng, Jordan &
Weiss (2002):

1. a symmetric kNN graph from FAISS (exact inner product on unit vectors; identical vectors are one
   node), Gaussian weights exp(−d²/2σ²) with σ² the median squared kNN distance (the paper's median
   heuristic, on kNN edges), its components linked by their nearest representatives (Borůvka);
2. the symmetric normalised Laplacian L = I − D^-½ W D^-½, whose smallest eigenpairs are the largest
   of D^-½ W D^-½ (``eigsh(which='LA')``, sparse, fast);
3. K from the user, or the eigengap: the K in [min, max] with the largest μ_{K+1} − μ_K, used only
   when that gap is decisive (at least ``eigengap_min_ratio`` times the next largest gap in the range);
   otherwise ``fallback_clusters`` (10, the ``--num_clusters`` default of the released ``main.py``).
   On real instruction text the largest gap is barely above the next (measured 1.38× on 1,850 Python
   docstrings in 10 known groups, 1.1–1.5× on the templated demo instructions, 1.24× on random vectors;
   bench/bench_paser_real.py) while separated groups give 26× and more, so an undecisive gap picks a K
   by noise (K = 3 on 1,500 varied real instructions);
4. k-means on the row-normalised spectral embedding (NJW).

Everything here runs on one machine on at most ``spectral_sample_size`` rows; the rest of the data is
assigned by :func:`assign_by_knn_vote` on the executors. Pure numpy / scipy / FAISS, no Spark.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from udfs.faiss_kmeans import normalize_rows


@dataclass(frozen=True)
class SpectralResult:
    labels: np.ndarray         # (n,) int64, clusters numbered by first occurrence in input order
    num_clusters: int
    eigenvalues: np.ndarray    # smallest Laplacian eigenvalues computed, ascending
    chosen_by: str             # "user", "eigengap" or "fallback" (no decisive eigengap)
    gap_ratio: float = float("nan")  # the largest eigengap over the next largest in [min, max]


def knn_search(reference: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k inner products (FAISS ``IndexFlatIP``; rows are expected to be unit vectors)."""
    import faiss

    index = faiss.IndexFlatIP(reference.shape[1])
    index.add(np.ascontiguousarray(reference, dtype=np.float32))
    sims, idx = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return sims, idx


def knn_affinity(unit_vectors: np.ndarray, k: int):
    """Symmetric sparse affinity W (scipy CSR): Gaussian weights on the kNN edges, W = max(W, Wᵀ)."""
    from scipy import sparse

    n = unit_vectors.shape[0]
    k_eff = min(k + 1, n)
    sims, idx = knn_search(unit_vectors, unit_vectors, k_eff)
    rows = np.repeat(np.arange(n), k_eff)
    cols = idx.reshape(-1)
    sq_dist = np.clip(2.0 - 2.0 * sims.reshape(-1).astype(np.float64), 0.0, None)
    keep = (cols >= 0) & (cols != rows)
    rows, cols, sq_dist = rows[keep], cols[keep], sq_dist[keep]
    sigma_sq = float(np.median(sq_dist)) if sq_dist.size else 1.0
    sigma_sq = sigma_sq if sigma_sq > 1e-12 else 1.0
    weights = np.exp(-sq_dist / (2.0 * sigma_sq))
    w = sparse.csr_matrix((weights, (rows, cols)), shape=(n, n))
    w = w.maximum(w.T).tocsr()
    return link_components(unit_vectors, w, sigma_sq)


def link_components(unit_vectors: np.ndarray, affinity, sigma_sq: float, max_rounds: int = 64):
    """Make the kNN graph connected (Borůvka rounds): each component's representative (the member
    closest to its mean) is linked to the nearest representative of another component, with the same
    Gaussian weight. Without this, a graph of C > K components has a C-dimensional null space and K
    eigenvectors pick K arbitrary components; with it, far components are joined by weak edges and the
    eigengap still sees them apart."""
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    w = affinity.tolil()
    for _ in range(max_rounds):
        count, comp = connected_components(w.tocsr(), directed=False)
        if count <= 1:
            break
        reps = np.empty(count, dtype=np.int64)
        for c in range(count):
            members = np.flatnonzero(comp == c)
            centre = unit_vectors[members].mean(axis=0)
            reps[c] = members[int(np.argmax(unit_vectors[members] @ centre))]
        sims, idx = knn_search(unit_vectors[reps], unit_vectors[reps], min(2, count))
        for c in range(count):
            other = int(idx[c, 1]) if idx[c, 0] == c else int(idx[c, 0])
            weight = float(np.exp(-max(0.0, 2.0 - 2.0 * float(unit_vectors[reps[c]] @ unit_vectors[reps[other]]))
                                  / (2.0 * sigma_sq)))
            weight = max(weight, 1e-12)
            a, b = int(reps[c]), int(reps[other])
            w[a, b] = max(w[a, b], weight)
            w[b, a] = w[a, b]
    return sparse.csr_matrix(w)


def weight_by_multiplicity(affinity, multiplicity: np.ndarray):
    """The graph of the collapsed duplicates: W'_ij = m_i·m_j·W_ij, plus a self-loop of m_i(m_i − 1)
    (the clique of m_i identical rows at weight 1), so a node stands for all of its copies."""
    from scipy import sparse

    m = np.asarray(multiplicity, dtype=np.float64)
    if np.all(m == 1):
        return affinity
    scale = sparse.diags(m)
    return (scale @ affinity @ scale + sparse.diags(m * (m - 1.0))).tocsr()


def normalized_adjacency(affinity):
    """D^-½ W D^-½ (so L_sym = I − this); degree-0 rows stay 0."""
    from scipy import sparse

    degree = np.asarray(affinity.sum(axis=1)).reshape(-1)
    inv_sqrt = np.where(degree > 0, 1.0 / np.sqrt(np.maximum(degree, 1e-300)), 0.0)
    scale = sparse.diags(inv_sqrt)
    return (scale @ affinity @ scale).tocsr()


def component_null_space(affinity) -> np.ndarray:
    """Orthonormal eigenvectors of L_sym for eigenvalue 0: D^½·1_C per connected component C (n × c)."""
    from scipy.sparse.csgraph import connected_components

    count, comp = connected_components(affinity, directed=False)
    degree = np.asarray(affinity.sum(axis=1)).reshape(-1)
    basis = np.zeros((affinity.shape[0], count))
    basis[np.arange(len(comp)), comp] = np.sqrt(np.maximum(degree, 0.0))
    norms = np.linalg.norm(basis, axis=0)
    return basis / np.where(norms > 0, norms, 1.0)


def laplacian_spectrum(affinity, num_eigen: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The ``num_eigen`` smallest eigenpairs of L_sym, ascending (via the largest of D^-½WD^-½).

    Lanczos (ARPACK) can miss copies of a repeated eigenvalue, and a kNN graph of templated data is
    often disconnected (eigenvalue 0 once per component). The null space is therefore taken exactly
    from the connected components and deflated; ``eigsh`` computes only the rest.
    """
    from scipy.sparse.linalg import LinearOperator, eigsh

    s = normalized_adjacency(affinity)
    n = s.shape[0]
    null = component_null_space(affinity)
    c = null.shape[1]
    if c >= num_eigen:
        return np.zeros(num_eigen), null[:, :num_eigen]
    extra = num_eigen - c
    if n <= 2000 or extra >= n - c - 1:  # small inputs: the dense solver is exact and quick
        dense = s.toarray() - null @ null.T
        vals, vecs = np.linalg.eigh(dense)
        order = np.argsort(-vals)[:extra]
        vals, vecs = vals[order], vecs[:, order]
    else:
        def matvec(x):
            x = np.asarray(x).reshape(n, -1)
            return s @ x - null @ (null.T @ x)

        op = LinearOperator((n, n), matvec=matvec, matmat=matvec, dtype=np.float64)
        v0 = np.random.default_rng(seed).uniform(0.5, 1.5, size=n)
        v0 -= null @ (null.T @ v0)
        vals, vecs = eigsh(op, k=extra, which="LA", v0=v0, tol=1e-6, maxiter=max(1000, 20 * n))
        order = np.argsort(-vals)
        vals, vecs = vals[order], vecs[:, order]
    mu = np.concatenate([np.zeros(c), 1.0 - vals])
    return mu, np.concatenate([null, vecs], axis=1)


def eigengap_k(laplacian_eigenvalues: np.ndarray, min_clusters: int, max_clusters: int) -> int:
    """K in [min, max] maximising μ_{K+1} − μ_K (μ ascending, 1-based; von Luxburg 2007 §8.3)."""
    mu = np.asarray(laplacian_eigenvalues, dtype=np.float64)
    hi = min(max_clusters, len(mu) - 1)
    lo = min(max(1, min_clusters), hi)
    gaps = [(mu[k] - mu[k - 1], -k) for k in range(lo, hi + 1)]  # gap after the k-th smallest
    best = max(gaps)
    return -best[1]


def eigengap_choice(laplacian_eigenvalues: np.ndarray, min_clusters: int, max_clusters: int,
                    min_ratio: float, fallback: int) -> tuple[int, str, float]:
    """(K, how, ratio): the eigengap K when its gap is at least ``min_ratio`` times the next largest gap in
    [min, max] (a lone candidate K always is), else ``fallback`` clipped to the range. ratio = largest gap
    / next largest (inf when only one K is possible or the next gap is 0)."""
    mu = np.asarray(laplacian_eigenvalues, dtype=np.float64)
    hi = min(max_clusters, len(mu) - 1)
    lo = min(max(1, min_clusters), hi)
    k = eigengap_k(mu, lo, hi)
    gaps = np.sort([mu[j] - mu[j - 1] for j in range(lo, hi + 1)])[::-1]
    ratio = float("inf") if len(gaps) < 2 or gaps[1] <= 1e-12 else float(gaps[0] / gaps[1])
    if ratio >= min_ratio:
        return k, "eigengap", ratio
    return int(min(max(fallback, lo), hi)), "fallback", ratio


def _first_occurrence_labels(labels: np.ndarray) -> np.ndarray:
    mapping: dict[int, int] = {}
    out = np.empty(len(labels), dtype=np.int64)
    for i, lab in enumerate(labels):
        out[i] = mapping.setdefault(int(lab), len(mapping))
    return out


def spectral_cluster(embeddings: np.ndarray, *, num_clusters: int | None, min_clusters: int = 2,
                     max_clusters: int = 30, knn_neighbors: int = 20, kmeans_restarts: int = 10,
                     seed: int = 0, eigengap_min_ratio: float = 2.0, fallback_clusters: int = 10) -> SpectralResult:
    """Cluster ``embeddings`` (n × d) as the module docstring says. n must be bounded by the caller."""
    from sklearn.cluster import KMeans

    if embeddings.shape[0] < 2:
        return SpectralResult(np.zeros(embeddings.shape[0], dtype=np.int64), 1, np.zeros(0), "user")
    # identical vectors (templated or repeated instructions) are one node: a clique of duplicates
    # larger than k would otherwise be a component of its own
    unit_all = normalize_rows(embeddings)
    unit, inverse, multiplicity = np.unique(unit_all, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    n = unit.shape[0]
    if n < 2:
        return SpectralResult(np.zeros(len(unit_all), dtype=np.int64), 1, np.zeros(0), "user")
    affinity = weight_by_multiplicity(knn_affinity(unit, knn_neighbors), multiplicity)
    wanted = num_clusters if num_clusters is not None else max_clusters + 1
    num_eigen = max(1, min(wanted, n - 1))
    mu, vecs = laplacian_spectrum(affinity, num_eigen, seed)
    ratio = float("nan")
    if num_clusters is None:
        k, chosen_by, ratio = eigengap_choice(mu, min_clusters, max_clusters, eigengap_min_ratio, fallback_clusters)
    else:
        k = min(num_clusters, n)
        chosen_by = "user"
    k = max(1, min(k, vecs.shape[1]))
    spectral = vecs[:, :k]
    spectral = spectral / np.maximum(np.linalg.norm(spectral, axis=1, keepdims=True), 1e-12)
    km = KMeans(n_clusters=k, n_init=kmeans_restarts, random_state=seed).fit(spectral)
    return SpectralResult(_first_occurrence_labels(km.labels_[inverse]), k, mu, chosen_by, ratio)


def assign_by_knn_vote(reference: np.ndarray, reference_labels: np.ndarray, queries: np.ndarray,
                       k: int) -> np.ndarray:
    """Label each query by a vote of its k nearest reference rows (cosine): most votes, then the
    largest similarity sum, then the lowest label."""
    if len(queries) == 0:
        return np.zeros(0, dtype=np.int64)
    k_eff = min(k, len(reference))
    sims, idx = knn_search(normalize_rows(reference), normalize_rows(queries), k_eff)
    num_labels = int(reference_labels.max()) + 1
    counts = np.zeros((len(queries), num_labels))
    sim_sum = np.zeros((len(queries), num_labels))
    rows = np.repeat(np.arange(len(queries)), k_eff)
    labs = np.asarray(reference_labels)[idx.reshape(-1)]
    np.add.at(counts, (rows, labs), 1.0)
    np.add.at(sim_sum, (rows, labs), sims.reshape(-1).astype(np.float64))
    score = counts * (2 * k_eff + 2) + (sim_sum + k_eff) * (counts > 0)
    return np.argmax(score, axis=1).astype(np.int64)
