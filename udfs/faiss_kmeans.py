"""FAISS k-means kernels: train on a sample, assign rows to the nearest centroid. No Spark here.

:func:`train_kmeans` runs ``faiss.Kmeans`` (Lloyd iterations, random seeded initialisation) on the
bounded training sample the ``cluster`` stage collects; :func:`assign_to_centroids` is what every
executor runs on each Arrow batch with the centroids shipped to it (a ``faiss.IndexFlatL2``, or
``IndexFlatIP`` for spherical k-means, cached per process for a given set of centroids).
Both use the GPU when ``faiss.get_num_gpus() > 0`` and the CPU otherwise.

Spherical k-means (SemDeDup, Abbas et al. 2023, §3: k-means on L2-normalised embeddings, cosine
distance) normalises the vectors and the centroids; its distance is ``1 - cosine``. Plain k-means'
distance is the squared L2 distance to the centroid. Distances are recomputed per row in float64
from the row and its centroid, so a row's distance does not depend on how rows were batched.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Iterator

import numpy as np

from pipelines.core.errors import require

# init "auto" seeds with k-means++ up to this many clusters, FAISS's random init above (k-means++ costs
# k passes over the sample on the driver)
KMEANS_PP_MAX_CLUSTERS = 100

REASON_NULL_VECTOR = "null_vector"
REASON_NON_FINITE = "non_finite_vector"
REASON_DIMENSION = "dimension_mismatch"
REASON_ZERO_VECTOR = "zero_vector"


def faiss_module():
    return require("faiss", "vision")


def gpu_count() -> int:
    faiss = faiss_module()
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get is not None else 0


def row_sq_norms(vectors: np.ndarray) -> np.ndarray:
    """Each row's squared L2 norm, summed in float64 without a float64 copy of the matrix.

    It also classifies the rows: NaN or inf for a row with a non-finite element (the square of a
    finite float32 cannot overflow float64), and 0 only for an all-zero row."""
    return np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64)


def normalize_rows(vectors: np.ndarray, sq_norms: np.ndarray | None = None) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32); an all-zero row stays zero. ``sq_norms``: the rows'
    :func:`row_sq_norms` when the caller has them."""
    sq = row_sq_norms(vectors) if sq_norms is None else sq_norms
    inv = (1.0 / np.sqrt(np.where(sq > 0, sq, 1.0))).astype(np.float32)
    return np.multiply(vectors, inv[:, None], dtype=np.float32)


def kmeans_plus_plus(x: np.ndarray, num_clusters: int, seed: int) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii, SODA 2007, §2.2): each next centre is a row drawn
    with probability proportional to its squared distance to the nearest centre chosen so far.

    Cost O(n·k·d) on the driver: worth it for small k, where FAISS's random initialisation can leave
    two centroids in one well-separated group and none in another.
    """
    rng = np.random.default_rng(seed)
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = x.shape[0]
    sq_norms = np.einsum("ij,ij->i", x, x, dtype=np.float64)
    centres = np.empty((num_clusters, x.shape[1]), np.float32)

    def dist2(idx: int) -> np.ndarray:  # squared L2 of every row to row idx (one mat-vec)
        return np.maximum(sq_norms - 2.0 * (x @ x[idx]).astype(np.float64) + sq_norms[idx], 0.0)

    idx = int(rng.integers(n))
    centres[0] = x[idx]
    d2 = dist2(idx)
    for j in range(1, num_clusters):
        total = float(d2.sum())
        idx = int(rng.integers(n)) if total <= 0 else int(min(np.searchsorted(np.cumsum(d2), rng.random() * total), n - 1))
        centres[j] = x[idx]
        d2 = np.minimum(d2, dist2(idx))
    return centres


def train_kmeans(sample: np.ndarray, *, num_clusters: int, niter: int, seed: int, spherical: bool,
                 gpu: bool = False, max_points_per_centroid: int = 256, init: str = "auto") -> np.ndarray:
    """Centroids ``(num_clusters, d)`` float32 from ``faiss.Kmeans`` on ``sample`` (n, d).

    ``init``: ``random`` (FAISS's own: k distinct sample rows), ``kmeans++`` (:func:`kmeans_plus_plus`)
    or ``auto`` (k-means++ up to :data:`KMEANS_PP_MAX_CLUSTERS` clusters, random above).
    ``sample`` must be finite with ``n >= num_clusters`` (the stage checks both and says which key).
    """
    faiss = faiss_module()
    x = np.ascontiguousarray(sample, dtype=np.float32)
    if spherical:
        x = normalize_rows(x)
    km = faiss.Kmeans(x.shape[1], int(num_clusters), niter=int(niter), seed=int(seed), spherical=bool(spherical),
                      gpu=bool(gpu), max_points_per_centroid=int(max_points_per_centroid), verbose=False)
    if init == "auto":
        init = "kmeans++" if num_clusters <= KMEANS_PP_MAX_CLUSTERS else "random"
    if init == "kmeans++":
        km.train(x, init_centroids=kmeans_plus_plus(x, int(num_clusters), int(seed)))
    else:
        km.train(x)
    return np.ascontiguousarray(km.centroids, dtype=np.float32)


_INDEX_CACHE: dict[tuple, Any] = {}
_INDEX_LOCK = threading.Lock()


def _index_for(centroids: np.ndarray, spherical: bool, gpu: bool):
    """A flat index over the centroids, built once per process per centroid set."""
    key = (centroids.shape, spherical, gpu, hash(centroids.tobytes()))
    idx = _INDEX_CACHE.get(key)
    if idx is None:
        with _INDEX_LOCK:
            idx = _INDEX_CACHE.get(key)
            if idx is None:
                faiss = faiss_module()
                d = centroids.shape[1]
                idx = faiss.IndexFlatIP(d) if spherical else faiss.IndexFlatL2(d)
                if gpu:
                    idx = faiss.index_cpu_to_all_gpus(idx)
                idx.add(np.ascontiguousarray(centroids, dtype=np.float32))
                _INDEX_CACHE.clear()  # one centroid set per stage run; do not grow without bound
                _INDEX_CACHE[key] = idx
    return idx


def assign_to_centroids(vectors: np.ndarray, centroids: np.ndarray, *, spherical: bool,
                        gpu: bool = False, sq_norms: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(cluster int32 (n,), distance float64 (n,))`` for finite ``vectors`` (n, d).

    Distance: squared L2 to the centroid, or ``1 - cosine`` when ``spherical`` (vectors normalised;
    ``sq_norms``, the rows' :func:`row_sq_norms`, saves recomputing them).
    """
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.shape[0] == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.float64)
    # spherical: the rows are searched as they are (a row's nearest centroid by inner product is its unit
    # vector's; normalising 1 M x 256 rows first was a copy of 1 GB), the cosine divides by the row's norm
    _, labels = _index_for(centroids, spherical, gpu).search(x, 1)
    labels = labels[:, 0].astype(np.int32)
    c = centroids[labels]
    if spherical:
        sq = row_sq_norms(x) if sq_norms is None else np.asarray(sq_norms, dtype=np.float64)
        distance = 1.0 - np.einsum("ij,ij->i", x, c, dtype=np.float64) / np.sqrt(np.where(sq > 0, sq, 1.0))
    else:
        diff = x.astype(np.float64) - c
        distance = np.einsum("ij,ij->i", diff, diff)
    return labels, distance


def list_column_to_matrix(column, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """An Arrow list<float> column as ``(matrix (n, dim) with NaN rows for bad ones, ok mask)``.

    A row is ok when it is non-null, has ``dim`` elements and no null element; finiteness is checked
    by the caller. Vectorised on the flat values: a column of only ok rows is a zero-copy reshape;
    otherwise the ok rows are gathered with one Arrow filter.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    n = len(column)
    ok = pc.list_value_length(column).fill_null(-1).to_numpy(zero_copy_only=False) == dim
    if ok.all() and column.null_count == 0:
        flat = column.flatten()
        if flat.null_count == 0 and len(flat) == n * dim:
            return flat.to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(n, dim), ok
    mat = np.full((n, dim), np.nan, np.float32)
    rows = np.nonzero(ok)[0]
    if rows.size == 0:
        return mat, ok
    flat = column.filter(pa.array(ok)).flatten()
    mat[rows] = flat.fill_null(float("nan")).to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, dim)
    if flat.null_count:
        with_null = rows[np.unique(np.nonzero(flat.is_null().to_numpy(zero_copy_only=False))[0] // dim)]
        ok[with_null] = False
        mat[with_null] = np.nan
    return mat, ok


def _reasons(col, ok: np.ndarray, sq: np.ndarray, good: np.ndarray, dim: int) -> np.ndarray:
    """Why each row that is not ``good`` cannot be assigned (None for the good ones)."""
    import pyarrow.compute as pc

    reasons = np.full(len(good), None, dtype=object)
    lengths = pc.list_value_length(col).fill_null(-1).to_numpy(zero_copy_only=False)
    reasons[lengths == -1] = REASON_NULL_VECTOR
    for i in np.nonzero((lengths != -1) & (lengths != dim))[0]:
        reasons[i] = f"{REASON_DIMENSION}: {int(lengths[i])} != {dim}"
    reasons[(lengths == dim) & ~ok] = REASON_NON_FINITE  # a null element
    reasons[ok & ~np.isfinite(sq)] = REASON_NON_FINITE
    reasons[ok & np.isfinite(sq) & ~good] = REASON_ZERO_VECTOR  # only spherical drops finite rows
    return reasons


def assign_batches(centroids: np.ndarray, *, id_column: str, vector_column: str, spherical: bool,
                   gpu: bool, task_cpus: Callable[[], int | None] = lambda: None):
    """A ``mapInArrow`` function: (id, vector) batches -> (id, cluster, distance, reason).

    ``task_cpus`` gives the CPUs the running task may use (FAISS's OpenMP pool defaults to every core
    of the machine; with one Python worker per core that oversubscribes them); the Spark side passes it."""
    centroids = np.ascontiguousarray(centroids, dtype=np.float32)
    dim = centroids.shape[1]

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        cpus = task_cpus()
        if cpus and not gpu:
            faiss_module().omp_set_num_threads(cpus)

        for rb in batches:
            n = rb.num_rows
            col = rb.column(rb.schema.get_field_index(vector_column))
            mat, ok = list_column_to_matrix(col, dim)
            sq = row_sq_norms(mat)  # NaN for the rows list_column_to_matrix could not use
            good = ok & np.isfinite(sq)
            if spherical:
                good &= sq > 0
            if good.all():
                labels, dist = assign_to_centroids(mat, centroids, spherical=spherical, gpu=gpu, sq_norms=sq)
                cluster, distance, reason = pa.array(labels), pa.array(dist), pa.nulls(n, pa.string())
            else:
                labels, dist = assign_to_centroids(mat[good], centroids, spherical=spherical, gpu=gpu,
                                                   sq_norms=sq[good])
                full_labels, full_dist = np.zeros(n, np.int32), np.zeros(n, np.float64)
                full_labels[good], full_dist[good] = labels, dist
                cluster = pa.array(full_labels, pa.int32(), mask=~good)
                distance = pa.array(full_dist, pa.float64(), mask=~good)
                reason = pa.array(_reasons(col, ok, sq, good, dim).tolist(), pa.string())
            yield pa.RecordBatch.from_arrays([rb.column(rb.schema.get_field_index(id_column)), cluster, distance, reason],
                                             names=[id_column, "cluster", "distance", "reason"])

    return run
