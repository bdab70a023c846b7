"""Per-slice features for ct-reduce, one pandas batch at a time (the body of a ``mapInPandas``).

Each strategy compares slices through one feature, computed row by row on the executors before
any grouping, so the costly part (decoding, resizing, encoding) spreads over all cores whatever the
number of volumes:

- ``hash``: the 64-bit dHash (:mod:`udfs.dhash`), a signed ``long``;
- ``ssim`` / ``nmi``: the greyscale pixels (uint8 bytes, ``height``, ``width``);
- ``embedding``: an embedding vector (built-in pixel featuriser or an open_clip encoder);
- ``every-n``: nothing but a decode check (an undecodable slice is rejected, not counted).

A slice that cannot be decoded, or lacks its volume or index, gets a ``reason`` and no feature.
No Spark here: pandas in, pandas out.
"""
from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from udfs.dhash import dhash_image
from udfs.slice_decode import SliceDecodeError, describe_error, greyscale_array, load_image
from udfs.slice_similarity import pixel_embedding

PIXEL_EMBEDDING_SIZE = 16


def feature_columns(strategy: str) -> list[tuple[str, str]]:
    """(name, Spark DDL type) of the feature columns a strategy adds."""
    if strategy == "hash":
        return [("hash", "bigint")]
    if strategy in ("ssim", "nmi"):
        return [("grey", "binary"), ("height", "int"), ("width", "int")]
    if strategy == "embedding":
        return [("embedding", "array<float>")]
    return []


def _row_problem(slice_id: Any, volume_id: Any, slice_index: Any) -> str | None:
    if slice_id is None or (isinstance(slice_id, float) and np.isnan(slice_id)):
        return "null_id"
    if volume_id is None or (isinstance(volume_id, float) and np.isnan(volume_id)):
        return "null volume_id"
    if slice_index is None or pd.isna(slice_index):
        return "null slice_index"
    return None


def _png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def slice_features(batch: pd.DataFrame, *, strategy: str, source: str, window_low: float = 0.0,
                   window_high: float = 255.0, encoder: Any = None) -> pd.DataFrame:
    """``id, volume_id, slice_index, <feature columns>, reason`` for one batch of slices.

    ``encoder`` (embedding with a model only) is ``encode(list[bytes]) -> (vectors, reasons)``, the
    shape of ``udfs.encoders.encode_images`` with its spec bound.
    """
    n = len(batch)
    reasons: list[str | None] = [None] * n
    out = {"id": batch["id"].to_numpy(), "volume_id": batch["volume_id"].to_numpy(),
           "slice_index": batch["slice_index"].to_numpy()}
    hashes: list[int | None] = [None] * n
    greys: list[bytes | None] = [None] * n
    heights: list[int | None] = [None] * n
    widths: list[int | None] = [None] * n
    vectors: list[Any] = [None] * n
    to_encode: list[tuple[int, bytes]] = []
    values = batch[source].tolist()
    sids, vols, idxs = batch["id"].tolist(), batch["volume_id"].tolist(), batch["slice_index"].tolist()
    for i in range(n):
        problem = _row_problem(sids[i], vols[i], idxs[i])
        if problem is not None:
            reasons[i] = problem
            continue
        try:
            image = load_image(values[i], source, window_low, window_high)
            if strategy == "hash":
                hashes[i] = dhash_image(image)
            elif strategy in ("ssim", "nmi"):
                grey = greyscale_array(image)
                greys[i], heights[i], widths[i] = grey.tobytes(), grey.shape[0], grey.shape[1]
            elif strategy == "embedding":
                if encoder is None:
                    vectors[i] = pixel_embedding(greyscale_array(image), PIXEL_EMBEDDING_SIZE).tolist()
                else:
                    to_encode.append((i, values[i] if source == "image" else _png(image)))
        except SliceDecodeError as exc:
            reasons[i] = str(exc)
        except Exception as exc:  # a decoder bug on odd data must not fail the run: reject the row
            reasons[i] = f"undecodable image: {describe_error(exc)}"
    if to_encode:
        encoded, enc_reasons = encoder([data for _, data in to_encode])
        for (i, _), vec, why in zip(to_encode, encoded, enc_reasons):
            if why is not None:
                reasons[i] = why
            else:
                vectors[i] = np.asarray(vec, dtype=np.float32).tolist()
    if strategy == "hash":
        out["hash"] = pd.array(hashes, dtype="Int64")
    elif strategy in ("ssim", "nmi"):
        out["grey"], out["height"], out["width"] = greys, pd.array(heights, dtype="Int32"), pd.array(widths, dtype="Int32")
    elif strategy == "embedding":
        out["embedding"] = vectors
    out["reason"] = reasons
    return pd.DataFrame(out)
