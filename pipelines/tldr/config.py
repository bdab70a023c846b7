"""TL;DR stage parameters; defaults follow Wang et al. (ICCV 2023) and their released code."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.core.config import param
from pipelines.core.errors import ConfigError


@dataclass(frozen=True)
class TldrParams:
    """Per-cluster uniform sampling, with an optional image-text pre-filter and caption refinement."""

    sample_ratio: float = param(
        0.25, minimum=0.0, exclusive_minimum=True, maximum=1.0,
        doc="fraction of each cluster kept, ceil(sample_ratio * cluster size) rows; 0.25 is the paper's "
            "default (TL;DR §3; the released TL;DR CC3M keeps about a quarter, 2.82M -> 0.67M)")
    seed: int = param(0, minimum=0, doc="seed of the hash that orders each cluster's members (uniform sampling, §3)")
    prefilter: bool = param(
        False, doc="drop pairs whose image-text cosine similarity is below the top prefilter_keep_fraction "
                   "before sampling (the released code's ITM 'half' filter, codebook_cluster.py); needs the "
                   "image_embeddings and text_embeddings inputs")
    prefilter_keep_fraction: float = param(
        0.5, minimum=0.0, exclusive_minimum=True, maximum=1.0,
        doc="share of pairs kept by the pre-filter, highest similarity first (the released code keeps the "
            "top half: cc3m_training_success_half_itm.json); ties at the cut value are all kept")
    image_model: str | None = param(
        None, doc="keep only rows of image_embeddings whose `model` equals this (when one table holds several models)")
    text_model: str | None = param(
        None, doc="keep only rows of text_embeddings whose `model` equals this")
    refine_captions: bool = param(
        False, doc="replace each selected row's caption with 'original; generated' (TL;DR §3 text refinement); "
                   "needs the captions input and a captioner; off by default, as generation is costly")
    captioner: str | None = param(
        None, doc="'package.module:factory' returning an object with generate(images: list[bytes]) -> list[str] "
                  "(see pipelines.tldr.captions.Captioner); used only when refine_captions is true")
    captioner_options: dict[str, Any] = param(
        default_factory=dict, doc="keyword arguments for the captioner factory, e.g. {model_path: /models/blip}")
    caption_separator: str = param("; ", doc="text between the original and the generated caption (TL;DR §3)")

    def __post_init__(self) -> None:
        if self.refine_captions and not self.captioner:
            raise ConfigError("config key 'params.captioner' is required when 'params.refine_captions' is true "
                              "(a 'package.module:factory' path to a local image-to-text captioner)")
        if self.captioner is not None and ":" not in self.captioner:
            raise ConfigError(f"config key 'params.captioner': {self.captioner!r} must look like 'package.module:factory'")
