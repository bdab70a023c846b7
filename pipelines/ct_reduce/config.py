"""Parameters of ct-reduce, with defaults from "Less is More" (Wolf et al., 2024) where it has them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipelines.core.config import param
from pipelines.core.errors import ConfigError

STRATEGIES = ("hash", "every-n", "ssim", "nmi", "embedding")


@dataclass(frozen=True)
class CtReduceParams:
    """How to reduce the slices of each volume (or of the whole dataset)."""

    strategy: Literal["hash", "every-n", "ssim", "nmi", "embedding"] = param(
        "hash", doc="similarity test of the greedy reference walk; 'hash' (dHash, Hamming <= hamming_threshold) "
                    "is the paper's best strategy, 'Hash-6' (Wolf et al. 2024, results)")
    scope: Literal["volume", "dataset"] = param(
        "volume", doc="'volume': reduce within each volume (the paper); 'dataset': compare each slice with all "
                      "kept slices of the dataset in (volume_id, slice_index, id) order (their unfinished "
                      "Hash_AllData.py; hash strategy only; one sequential pass over 8-byte hashes)")
    hamming_threshold: int = param(
        6, doc="hash: drop a slice within this many bits of the reference's 64-bit dHash; 6 = 'Hash-6', the "
               "paper's best (their Hash_LIDC_Volume.py --boarder 6)", minimum=0, maximum=64)
    every_n: int = param(
        5, doc="every-n: keep slice positions 0, n, 2n, ... (the paper's EveryN baseline; 5 is this "
               "project's default, the paper varies n)", minimum=1)
    ssim_threshold: float = param(
        0.8, doc="ssim: drop a slice whose SSIM with the reference is >= this (engineering default; the paper "
                 "tunes one threshold per strategy)", minimum=-1.0, maximum=1.0)
    nmi_threshold: float = param(
        1.35, doc="nmi: drop a slice whose normalised mutual information (H(A)+H(B))/H(A,B), 1..2, with the "
                 "reference is >= this (engineering default)", minimum=1.0, maximum=2.0)
    nmi_bins: int = param(100, doc="nmi: bins per axis of the joint histogram (scikit-image's default)", minimum=2)
    cosine_threshold: float = param(
        0.95, doc="embedding: drop a slice whose embedding cosine similarity with the reference is >= this "
                  "(engineering default)", minimum=-1.0, maximum=1.0)
    embedding_model: str = param(
        "pixels", doc="embedding: 'pixels' = the built-in model-free featuriser (16x16 block means, centred, "
                      "L2-normalised); else an open_clip architecture or JSON config for udfs.encoders")
    embedding_weights: str | None = param(
        None, doc="embedding: local open_clip checkpoint for embedding_model (no downloads)")
    embedding_random_seed: int | None = param(
        None, doc="embedding: random weights with this seed instead of a checkpoint (tests and demo only)")
    source: Literal["image", "path", "pixels"] = param(
        "image", doc="which column holds the slice: 'image' (encoded bytes: PNG, JPEG, 16-bit PNG...), 'path' "
                     "(file path readable by the executors) or 'pixels' (array<array<double>>)")
    window_low: float = param(0.0, doc="pixels: intensity mapped to 0 (e.g. -1000 HU)")
    window_high: float = param(255.0, doc="pixels: intensity mapped to 255 (e.g. 400 HU)")
    dataset_index: Literal["flat", "multihash"] = param(
        "flat", doc="scope=dataset: FAISS IndexBinaryFlat (exact, O(kept) per slice) or IndexBinaryMultiHash "
                    "(7x9-bit tables: exact for hamming_threshold <= 6, sub-linear)")

    def __post_init__(self) -> None:
        if self.scope == "dataset" and self.strategy != "hash":
            raise ConfigError(f"config key 'params.scope': 'dataset' needs strategy 'hash' (a Hamming index), "
                              f"not '{self.strategy}'")
        if self.scope == "dataset" and self.dataset_index == "multihash" and self.hamming_threshold > 6:
            raise ConfigError("config key 'params.dataset_index': 'multihash' is exact only for "
                              f"hamming_threshold <= 6, got {self.hamming_threshold}")
        if not self.window_high > self.window_low:
            raise ConfigError(f"config key 'params.window_high' ({self.window_high}) must be > "
                              f"params.window_low ({self.window_low})")
        if (self.strategy == "embedding" and self.embedding_model != "pixels"
                and self.embedding_weights is None and self.embedding_random_seed is None):
            raise ConfigError("config key 'params.embedding_weights' is required for embedding_model "
                              f"'{self.embedding_model}' (a local checkpoint; or embedding_random_seed for tests)")

    @property
    def source_column(self) -> str:
        return self.source
