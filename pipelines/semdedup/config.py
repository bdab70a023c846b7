"""SemDeDup stage parameters; defaults follow Abbas et al. (2023) and their released code."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipelines.core.config import param
from pipelines.core.errors import ConfigError


@dataclass(frozen=True)
class SemDedupParams:
    """Within-cluster semantic deduplication at cosine similarity 1 - epsilon."""

    epsilon: float = param(
        0.01, minimum=0.0, maximum=1.0,
        doc="a member is a duplicate when its cosine similarity to an earlier member exceeds 1 - epsilon "
            "(SemDeDup §3); the paper sweeps epsilon per dataset, 0.01 is NeMo-Curator's semdedup default; "
            "ignored when target_kept_fraction is set")
    target_kept_fraction: float | None = param(
        None, minimum=0.0, exclusive_minimum=True, maximum=1.0,
        doc="choose epsilon so that at least this share of rows is kept, as close as the similarity "
            "resolution allows (the paper picks epsilon for a target dataset size, §4); null: use epsilon")
    keep: Literal["hard", "easy", "random"] = param(
        "hard", doc="which member of a duplicate group survives: 'hard' orders members farthest from the "
                    "centroid first (the paper's default, keep_hard=True in sort_clusters.py), 'easy' nearest "
                    "first, 'random' by a seeded hash of the id")
    compare_against: Literal["any_earlier", "earlier_kept"] = param(
        "any_earlier", doc="'any_earlier' drops a member whose max similarity to ANY earlier member exceeds "
                           "1 - epsilon, as the released code does (semdedup.py: max of the upper triangle "
                           "over earlier rows, M > 1 - eps); 'earlier_kept' compares with earlier KEPT members "
                           "only (greedy: a chain a~b~c with a !~ c keeps a and c)")
    seed: int = param(0, minimum=0, doc="seed of the id hash used when keep is 'random'")
    max_dense_cluster_size: int = param(
        8192, minimum=2,
        doc="clusters up to this size use a dense n x n similarity matrix (n^2 x 4 bytes: 8192 -> 256 MiB); "
            "larger ones use a FAISS inner-product range search instead")
    similarity_floor: float = param(
        0.5, minimum=-1.0, maximum=1.0,
        doc="with target_kept_fraction, similarities at or below this are never duplicates (bounds the FAISS "
            "range search); epsilon is then at most 1 - similarity_floor")
    similarity_resolution: float = param(
        1e-4, minimum=1e-7, exclusive_minimum=False, maximum=0.01,
        doc="with target_kept_fraction, epsilon is chosen on this grid from a bounded histogram of per-member "
            "max similarities (2 / resolution bins at most)")
    embedding_model: str | None = param(
        None, doc="use only rows of embeddings whose `model` equals this (required when the table holds several models)")

    def __post_init__(self) -> None:
        if self.target_kept_fraction is not None and self.compare_against != "any_earlier":
            raise ConfigError("config key 'params.target_kept_fraction' needs 'params.compare_against: any_earlier': "
                              "only then is the kept share a function of each member's max similarity")
