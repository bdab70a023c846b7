"""One volume (or the dataset stream) of slice features -> decisions, as pandas (the body of
``applyInPandas`` / ``mapInPandas``). No Spark here.

Slices are ordered by numeric ``slice_index``, ties broken by ``id`` — never by a file name. Each
output row says whether the slice is kept, which kept slice stands for it (``reference_id``; a kept
slice references itself) and how far it is from it (``distance``: Hamming bits for hash, 1 − SSIM,
2 − NMI, 1 − cosine, or positions after the reference for every-n; 0 for kept slices).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import pandas as pd

from udfs.slice_reduce import Reduction, embedding_reduce, every_n_reduce, hash_reduce, nmi_reduce, ssim_reduce

DECISION_COLUMNS = ["id", "volume_id", "slice_index", "kept", "reference_id", "distance", "strategy"]


def order_slices(frame: pd.DataFrame) -> pd.DataFrame:
    """Sort by numeric slice index, then id (a stable, partition-independent order)."""
    return frame.sort_values(["slice_index", "id"], kind="mergesort").reset_index(drop=True)


def _grey_images(frame: pd.DataFrame) -> list[np.ndarray]:
    return [np.frombuffer(bytes(g), dtype=np.uint8).reshape(int(h), int(w))
            for g, h, w in zip(frame["grey"], frame["height"], frame["width"])]


def reduce_ordered(frame: pd.DataFrame, params) -> Reduction:
    """Run the strategy of ``params`` over slices already in order."""
    strategy = params.strategy
    if strategy == "hash":
        return hash_reduce(frame["hash"].to_numpy(dtype=np.int64), params.hamming_threshold)
    if strategy == "every-n":
        return every_n_reduce(len(frame), params.every_n)
    if strategy == "ssim":
        return ssim_reduce(_grey_images(frame), params.ssim_threshold)
    if strategy == "nmi":
        return nmi_reduce(_grey_images(frame), params.nmi_threshold, bins=params.nmi_bins)
    if strategy == "embedding":
        vectors = np.array([np.asarray(v, dtype=np.float32) for v in frame["embedding"]])
        return embedding_reduce(vectors, params.cosine_threshold)
    raise ValueError(f"unknown strategy {strategy!r}")


def decisions(frame: pd.DataFrame, reduction: Reduction, strategy: str, reference_ids=None) -> pd.DataFrame:
    """The decision rows for ``frame`` (in the order ``reduction`` was computed on)."""
    ids = frame["id"].to_numpy()
    refs = ids[reduction.reference] if reference_ids is None else reference_ids
    return pd.DataFrame({
        "id": ids, "volume_id": frame["volume_id"].to_numpy(), "slice_index": frame["slice_index"].to_numpy(),
        "kept": reduction.kept, "reference_id": refs, "distance": reduction.distance,
        "strategy": strategy,
    })[DECISION_COLUMNS]


def reduce_volume(frame: pd.DataFrame, params) -> pd.DataFrame:
    """All decisions of one volume (the ``applyInPandas`` function, params bound)."""
    ordered = order_slices(frame)
    return decisions(ordered, reduce_ordered(ordered, params), params.strategy)


def reduce_dataset_stream(batches: Iterator[pd.DataFrame], params) -> Iterator[pd.DataFrame]:
    """The across-volume pass: ``batches`` arrive in global (volume_id, slice_index, id) order."""
    from udfs.hash_index import DatasetHashReducer

    reducer = DatasetHashReducer(params.hamming_threshold, params.dataset_index)
    kept_ids: dict[int, object] = {}  # global position -> id, for kept slices only
    for batch in batches:
        if batch.empty:
            continue
        start = reducer.seen
        red = reducer.reduce_batch(batch["hash"].to_numpy(dtype=np.int64))
        ids = batch["id"].to_numpy()
        for offset in np.flatnonzero(red.kept):
            kept_ids[start + int(offset)] = ids[offset]
        refs = np.array([kept_ids[int(p)] for p in red.reference], dtype=object)
        yield decisions(batch.reset_index(drop=True), red, params.strategy, reference_ids=refs)
