"""Embed kernels without Spark: image decoding reasons, the tiny open_clip and the shipped MiniLM."""
from __future__ import annotations

import numpy as np
import pytest

from pipelines.core.errors import ConfigError, ModelLoadError
from pipelines.embed.config import EmbedParams
from udfs import encoders
from udfs.encoders import EncoderSpec, encode_images, encode_texts, get_encoder, l2_normalize
from udfs.images import decode_image, encode_png, read_image_path

TINY = EncoderSpec("open_clip", "tiny-clip-32", random_weights_seed=0)
MINILM = EncoderSpec("sentence_transformers", "all-MiniLM-L6-v2")


def _patterns() -> list[np.ndarray]:
    """Four very different 32x32 images: a vertical bar, a horizontal bar, a ring, a checkerboard."""
    yy, xx = np.mgrid[0:32, 0:32]
    vertical = np.where(abs(xx - 16) < 3, 230, 10)
    horizontal = np.where(abs(yy - 16) < 3, 230, 10)
    ring = np.where(abs(np.hypot(yy - 16, xx - 16) - 10) < 2, 230, 10)
    checker = np.where(((yy // 4) + (xx // 4)) % 2 == 0, 230, 10)
    return [p.astype(np.uint8) for p in (vertical, horizontal, ring, checker)]


def _noisy(pixels: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(pixels + rng.normal(0, 4, pixels.shape), 0, 255).astype(np.uint8)


def test_decode_image_returns_reasons_instead_of_raising(tmp_path):
    png = encode_png(np.zeros((4, 4), np.uint8))
    img, reason = decode_image(png)
    assert reason is None and img.mode == "RGB" and img.size == (4, 4)
    assert decode_image(None) == (None, "null_image")
    assert decode_image(b"") == (None, "empty_image")
    assert decode_image(b"not an image")[1] == "undecodable_image: UnidentifiedImageError"
    assert decode_image(png[: len(png) // 2])[1].startswith("undecodable_image")
    assert decode_image(encode_png(np.zeros((20, 20), np.uint8)), max_pixels=100)[1] == \
        "image_too_large: 20x20 > 100 pixels"
    path = tmp_path / "a.png"
    path.write_bytes(png)
    assert read_image_path(str(path)) == (png, None)
    assert read_image_path(str(tmp_path / "missing.png"))[1] == "unreadable_path: FileNotFoundError"
    assert read_image_path(None) == (None, "null_image")


def test_tiny_open_clip_images_near_copies_are_nearest_and_rejects_keep_their_row():
    originals = _patterns()
    batch = [encode_png(p) for p in originals] + [encode_png(_noisy(p, i)) for i, p in enumerate(originals)]
    batch += [b"", None, b"garbage"]
    vectors, reasons = encode_images(batch, TINY, batch_size=3)
    assert vectors.shape == (11, 64) and vectors.dtype == np.float32
    assert reasons[:8] == [None] * 8
    assert reasons[8:] == ["empty_image", "null_image", "undecodable_image: UnidentifiedImageError"]
    assert not vectors[8:].any()
    unit, norms = l2_normalize(vectors[:8])
    assert np.allclose(np.linalg.norm(unit, axis=1), 1, atol=1e-5) and (norms > 0).all()
    sims = unit[4:] @ unit[:4].T  # each noisy copy against the four originals
    assert list(sims.argmax(axis=1)) == [0, 1, 2, 3]
    # batch composition does not change a row's vector (beyond float tolerance)
    alone, _ = encode_images([batch[2]], TINY)
    assert np.allclose(alone[0], vectors[2], atol=1e-4)


def test_encoder_is_loaded_once_per_process_and_seeded():
    first = get_encoder(TINY)
    assert get_encoder(EncoderSpec("open_clip", "tiny-clip-32", random_weights_seed=0)) is first
    assert encoders.loaded_specs().count(TINY) == 1
    image = [encode_png(_patterns()[2])]
    other, _ = encode_images(image, EncoderSpec("open_clip", "tiny-clip-32", random_weights_seed=1))
    same, _ = encode_images(image, TINY)
    assert not np.allclose(other, same)
    texts = encode_texts(["a handwritten digit seven", "a ring"], TINY)
    assert texts.shape == (2, 64) and np.isfinite(texts).all()


def test_open_clip_checkpoint_round_trip_and_bad_paths(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    model = encoders._load_open_clip(TINY, "cpu")  # noqa: SLF001 - the weights of the seed-0 model
    # rebuild the same random model to get its state dict
    import open_clip

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        clip = open_clip.CLIP(**encoders._open_clip_config("tiny-clip-32"))  # noqa: SLF001
    ckpt = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in clip.state_dict().items()}, str(ckpt))
    loaded = EncoderSpec("open_clip", "tiny-clip-32", pretrained=str(ckpt))
    image = [encode_png(_patterns()[0])]
    assert np.allclose(encode_images(image, loaded)[0], model.images([decode_image(image[0])[0]]), atol=1e-5)
    assert loaded.model_id == "open_clip:tiny-clip-32@tiny.safetensors"

    with pytest.raises(ModelLoadError, match="nowhere/model.safetensors"):
        get_encoder(EncoderSpec("open_clip", "tiny-clip-32", pretrained=str(tmp_path / "nowhere/model.safetensors")))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ModelLoadError, match="junk.pt"):
        get_encoder(EncoderSpec("open_clip", "tiny-clip-32", pretrained=str(junk)))
    with pytest.raises(ModelLoadError, match="missing.json"):
        get_encoder(EncoderSpec("open_clip", str(tmp_path / "missing.json"), random_weights_seed=0))
    with pytest.raises(ModelLoadError, match="no-such-folder"):
        get_encoder(EncoderSpec("sentence_transformers", str(tmp_path / "no-such-folder")))


def test_shipped_minilm_encodes_offline_with_meaningful_similarity():
    texts = ["a handwritten digit seven", "a hand-written number seven", "quarterly revenue rose sharply"]
    vectors = encode_texts(texts, MINILM, batch_size=2)
    assert vectors.shape == (3, 384)
    unit, _ = l2_normalize(vectors)
    sims = unit @ unit.T
    assert sims[0, 1] > 0.6 > 0.3 > sims[0, 2]
    with pytest.raises(ValueError, match="None"):
        encode_texts(["ok", None], MINILM)
    assert get_encoder(MINILM).dim == 384 and get_encoder(MINILM).device in ("cpu", "cuda")


def test_embed_params_cross_field_rules_name_the_key():
    with pytest.raises(ConfigError, match="params.pretrained"):
        EmbedParams()
    with pytest.raises(ConfigError, match="params.modality"):
        EmbedParams(encoder="sentence_transformers", model="all-MiniLM-L6-v2", modality="image")
    with pytest.raises(ConfigError, match="params.encoder"):
        EmbedParams(model="all-MiniLM-L6-v2", modality="text", random_weights=True)
    spec = EmbedParams(model="tiny-clip-32", random_weights=True, seed=3).encoder_spec()
    assert spec == EncoderSpec("open_clip", "tiny-clip-32", None, 3, "auto")
    assert EmbedParams(encoder="sentence_transformers", model="all-MiniLM-L6-v2", modality="text").encoder_spec().family \
        == "sentence_transformers"
