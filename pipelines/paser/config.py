"""Configs of the ``paser-score`` and ``paser`` stages.

Defaults follow He et al., "PASER: Post-Training Data Selection for Efficient Pruned Large Language
Model Recovery" (2025), with the corrections listed in docs/paser.md; each field's ``doc`` says where
its default comes from (§ numbers refer to the paper).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipelines.core.config import param
from pipelines.core.errors import ConfigError


@dataclass(frozen=True)
class PaserScoreParams:
    """How ``paser-score`` gets the pruned model and scores each sample (§3.2, Eq. 3)."""

    prune_method: Literal["magnitude", "wanda"] = param(
        "wanda", doc="in-process pruning when no pruned_model input is given: unstructured magnitude "
                     "(|W| per layer) or Wanda (|W|·||X||₂ per output row, Sun et al. 2023); the paper "
                     "recovers Wanda/SparseGPT/LLM-Pruner models (§4.1), Wanda is the cheap one")
    prune_ratio: float = param(0.5, doc="fraction of weights zeroed in every transformer linear layer; "
                                        "50% unstructured is the paper's setting (§4.1)", minimum=0.0, maximum=0.99)
    calibration_samples: int = param(128, doc="samples (lowest seeded hash of id) whose activations "
                                              "calibrate Wanda; 128 as in Wanda's recipe", minimum=1, maximum=4096)
    max_length: int = param(512, doc="tokens per sample scored (longer samples are truncated for the JSD; "
                                     "`tokens` still counts them all)", minimum=2, maximum=8192)
    batch_size: int = param(8, doc="samples per forward pass on an executor", minimum=1, maximum=1024)
    device: Literal["auto", "cpu", "cuda"] = param("auto", doc="auto: the GPU when present, else the CPU")
    prompt_template: str = param(
        "{instruction}\n{input}\n", doc="how instruction and input form the prompt whose tokens, with "
                                        "the output's, are scored; Alpaca-style plain concatenation")
    seed: int = param(0, doc="seed of the calibration sample's hash", minimum=0)
    build_demo_model_if_missing: bool = param(
        False, doc="demo only: build the tiny GPT-2 at the original_model path when it is missing")

    def __post_init__(self) -> None:
        if "{instruction}" not in self.prompt_template:
            raise ConfigError("config key 'params.prompt_template' must contain '{instruction}'")


@dataclass(frozen=True)
class PaserParams:
    """Clustering, budget and selection of the ``paser`` stage (§3.1–§3.4)."""

    budget_count: int | None = param(None, doc="total samples to select (B); set this or budget_fraction",
                                     minimum=1)
    budget_fraction: float | None = param(
        0.2, doc="B as a fraction of the scored samples (floor); the paper's budgets are 4-20% of the "
                 "data (§4.1); ignored when budget_count is set", minimum=0.0, maximum=1.0, exclusive_minimum=True)
    num_clusters: int | None = param(None, doc="K; None: the eigengap of the normalised Laplacian picks K in "
                                               "[min_clusters, max_clusters] when it is decisive, else "
                                               "fallback_clusters (the released code takes K as --num_clusters)",
                                     minimum=1, maximum=1000)
    eigengap_min_ratio: float = param(
        2.0, doc="the eigengap's K is used only when its gap is at least this many times the next largest gap "
                 "in the range (von Luxburg 2007 §8.3: the heuristic fails on noisy, overlapping groups; measured "
                 "1.1-1.5x on real and templated instruction text, 63x on separated groups: "
                 "bench/bench_paser_real.py)",
        minimum=1.0)
    fallback_clusters: int = param(10, doc="K when the eigengap is not decisive: 10, the --num_clusters default "
                                           "of the released code (BokwaiHo/PASER main.py); clipped to "
                                           "[min_clusters, max_clusters]", minimum=1, maximum=1000)
    min_clusters: int = param(2, doc="smallest K the eigengap may choose", minimum=1, maximum=1000)
    max_clusters: int = param(30, doc="largest K the eigengap may choose", minimum=1, maximum=1000)
    knn_neighbors: int = param(20, doc="k of the symmetric kNN graph (FAISS) that replaces the paper's "
                                       "dense diffusion kernel (§3.1); von Luxburg (2007 §8.1) puts the floor "
                                       "at ~log n, 20 gave the best ARI on the demo instructions (bench)",
                               minimum=2, maximum=200)
    spectral_sample_size: int = param(
        10000, doc="bound on the samples spectral-clustered on one machine (the driver); the rest are "
                   "assigned on the executors by a kNN vote over this sample", minimum=10, maximum=200000)
    assign_neighbors: int = param(10, doc="neighbours (from the clustered sample) in the assignment vote",
                                  minimum=1, maximum=200)
    kmeans_restarts: int = param(10, doc="k-means restarts on the spectral embedding (sklearn n_init)",
                                 minimum=1, maximum=100)
    min_cost_tokens: int = param(2, doc="cost floor in tokens so log(cost) > 0 in the efficiency JSD/log(cost) (§3.3)",
                                 minimum=2)
    max_concepts: int = param(20, doc="key phrases per sample kept for the concept graph (RAKE's top-scored; §3.4)",
                              minimum=1, maximum=1000)
    concept_scope: Literal["global", "cluster"] = param(
        "global", doc="one concept graph for the whole selection (global: the released code's select_samples, "
                      "one nx.Graph walked cluster by cluster in id order; every candidate passes through one "
                      "Python worker) or one per cluster (cluster: clusters are walked in parallel on the "
                      "executors; conflicts between clusters are not checked) (§3.4)")
    concept_max_words: int = param(4, doc="longest RAKE phrase, in words (longer candidates are dropped)",
                                   minimum=1, maximum=20)
    seed: int = param(0, doc="seed of the sample hash and of k-means", minimum=0)
    encoder_batch_size: int = param(64, doc="texts per batch when embeddings are computed here (no embeddings input)",
                                    minimum=1, maximum=4096)
    encoder_device: Literal["auto", "cpu", "cuda"] = param("auto", doc="device of all-MiniLM-L6-v2 (§3.1)")

    def __post_init__(self) -> None:
        if self.budget_count is None and self.budget_fraction is None:
            raise ConfigError("config keys 'params.budget_count' and 'params.budget_fraction' are both unset; set one")
        if self.min_clusters > self.max_clusters:
            raise ConfigError(f"config key 'params.min_clusters' ({self.min_clusters}) must be <= "
                              f"'params.max_clusters' ({self.max_clusters})")
        if self.num_clusters is not None and self.num_clusters > self.spectral_sample_size:
            raise ConfigError("config key 'params.num_clusters' must be <= 'params.spectral_sample_size'")
