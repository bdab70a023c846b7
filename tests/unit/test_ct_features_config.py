"""ct-reduce per-slice features (pandas, no Spark) and config validation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.core.config import build_config
from pipelines.core.errors import ConfigError
from pipelines.ct_reduce.config import CtReduceParams
from pipelines.demo_data.volumes import encode_png, volume_runs
from udfs.dhash import dhash_bytes
from udfs.slice_features import slice_features
from udfs.slice_similarity import pixel_embedding
from udfs.volume_reduce import reduce_volume


@pytest.fixture(scope="module")
def volume():
    pixels, _, _ = volume_runs(seed=21, run_lengths=[3, 2])
    frame = pd.DataFrame({"id": [f"x{i}" for i in range(5)] + ["bad", "noidx"], "volume_id": "v",
                          "slice_index": [1, 2, 3, 4, 5, 6, None],
                          "image": [encode_png(p) for p in pixels] + [b"not an image", encode_png(pixels[0])]})
    return pixels, frame


def test_hash_features_and_reasons(volume):
    pixels, frame = volume
    out = slice_features(frame, strategy="hash", source="image")
    assert out["hash"].tolist()[:5] == [dhash_bytes(b) for b in frame["image"][:5]]
    assert out["reason"][:5].isna().all()
    assert out["reason"][5].startswith("undecodable image: UnidentifiedImageError")
    assert out["reason"][6] == "null slice_index"
    assert pd.isna(out["hash"][5]) and pd.isna(out["hash"][6])
    nulls = pd.DataFrame({"id": [None, "y"], "volume_id": ["v", None], "slice_index": [1, 2],
                          "image": [frame["image"][0]] * 2})
    assert slice_features(nulls, strategy="hash", source="image")["reason"].tolist() == ["null_id", "null volume_id"]


def test_grey_features_round_trip(volume):
    pixels, frame = volume
    out = slice_features(frame.iloc[:2], strategy="ssim", source="image")
    grey = np.frombuffer(out["grey"][0], np.uint8).reshape(out["height"][0], out["width"][0])
    assert np.array_equal(grey, pixels[0])


def test_embedding_through_an_encoder_callable(volume):
    """The embedding strategy talks to an encoder through ``encode(list[bytes]) -> (vectors, reasons)``
    (udfs.encoders.encode_images with its spec bound); here a deterministic featuriser plays it."""
    pixels, frame = volume
    seen = []

    def encode(blobs):
        seen.append(len(blobs))
        import io

        from PIL import Image

        vecs = np.array([pixel_embedding(np.asarray(Image.open(io.BytesIO(b)).convert("L"))) for b in blobs])
        return vecs, [None] * len(blobs)

    out = slice_features(frame.iloc[:5], strategy="embedding", source="image", encoder=encode)
    assert seen == [5]  # one batched call, not one per slice
    decisions = reduce_volume(out.drop(columns="reason"), CtReduceParams(strategy="embedding"))
    assert decisions.loc[decisions.kept, "id"].tolist() == ["x0", "x3"]
    # the built-in featuriser (no encoder) gives the same vectors
    builtin = slice_features(frame.iloc[:5], strategy="embedding", source="image")
    assert np.allclose(np.array(builtin["embedding"].tolist()), np.array(out["embedding"].tolist()))


def test_config_defaults_and_errors_name_the_key():
    params = CtReduceParams()
    assert (params.strategy, params.hamming_threshold, params.scope) == ("hash", 6, "volume")
    with pytest.raises(ConfigError, match="params.strategy"):
        build_config(CtReduceParams, {"strategy": "median"})
    with pytest.raises(ConfigError, match="params.hamming_threshold.*<= 64"):
        build_config(CtReduceParams, {"hamming_threshold": 65})
    with pytest.raises(ConfigError, match="params.every_n.*>= 1"):
        build_config(CtReduceParams, {"every_n": 0})
    with pytest.raises(ConfigError, match="params.scope"):
        build_config(CtReduceParams, {"scope": "dataset", "strategy": "nmi"})
    with pytest.raises(ConfigError, match="params.dataset_index"):
        build_config(CtReduceParams, {"scope": "dataset", "dataset_index": "multihash", "hamming_threshold": 7})
    with pytest.raises(ConfigError, match="params.window_high"):
        build_config(CtReduceParams, {"window_low": 10, "window_high": 10})
    with pytest.raises(ConfigError, match="params.embedding_weights"):
        build_config(CtReduceParams, {"strategy": "embedding", "embedding_model": "ViT-B-32"})


@pytest.mark.slow
def test_embedding_with_the_open_clip_encoder_module(volume):
    """The real encoder path: udfs.encoders (the embed stage's module) with a tiny open_clip model
    built from its bundled config and seeded random weights (no checkpoint, no download)."""
    pytest.importorskip("open_clip")
    pytest.importorskip("udfs.encoders")
    from pipelines.ct_reduce.transform import _encoder

    pixels, frame = volume
    params = CtReduceParams(strategy="embedding", embedding_model="tiny-clip-32", embedding_random_seed=0)
    copies = pd.DataFrame({"id": ["a", "a-copy", "bad"], "volume_id": "v", "slice_index": [1, 2, 3],
                           "image": [frame["image"][0], frame["image"][0], b"junk"]})
    out = slice_features(copies, strategy="embedding", source="image", encoder=_encoder(params))
    assert out["reason"][:2].isna().all() and out["reason"][2].startswith("undecodable image")
    assert np.allclose(out["embedding"][0], out["embedding"][1])
    decisions = reduce_volume(out.iloc[:2].drop(columns="reason"), params)
    assert decisions["kept"].tolist() == [True, False] and decisions["reference_id"].tolist() == ["a", "a"]
    assert decisions["distance"].iloc[1] == pytest.approx(0.0, abs=1e-6)
