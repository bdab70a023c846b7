"""Parameters of the ``cluster`` stage."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipelines.core.config import param
from pipelines.core.errors import ConfigError


@dataclass(frozen=True)
class ClusterParams:
    """FAISS k-means on a bounded seeded sample, then assignment of every row on the executors."""

    num_clusters: int = param(
        3000, doc="k; 3,000 is TL;DR's default at CC3M scale (Wang et al., ICCV 2023, as quoted in issue 5); "
                  "SemDeDup uses about N/10,000 clusters (50,000 for LAION-440M, Abbas et al. 2023 §4)",
        minimum=1)
    niter: int = param(20, doc="Lloyd iterations (faiss.Kmeans; 20 as in FAISS's own k-means examples)",
                       minimum=1, maximum=1000)
    seed: int = param(1234, doc="seed of the training sample and of FAISS's initialisation (FAISS's default 1234; "
                                "a C int there, so at most 2^31 - 1)",
                      minimum=0, maximum=2**31 - 1)
    spherical: bool = param(
        True, doc="spherical k-means on L2-normalised vectors, distance 1 - cosine (SemDeDup §3); "
                  "false: plain k-means, distance = squared L2")
    init: Literal["auto", "random", "kmeans++"] = param(
        "auto", doc="centroid initialisation: kmeans++ (Arthur & Vassilvitskii 2007; finds well-separated groups "
                    "reliably, k passes over the sample on the driver), random (FAISS's default, as SemDeDup and "
                    "TL;DR ran it), or auto: kmeans++ up to 100 clusters, random above")
    max_train_samples: int = param(
        262_144, doc="bound on the rows collected to the driver to train k-means (a seeded hash sample); "
                     "= 256 x 1024: FAISS itself uses at most 256 points per centroid",
        minimum=1, maximum=10_000_000)
    max_points_per_centroid: int = param(
        256, doc="FAISS subsamples the training set to k x this (FAISS's default 256)", minimum=1)
    device: Literal["auto", "cpu", "cuda"] = param(
        "auto", doc="auto: FAISS on the GPU when faiss.get_num_gpus() > 0, else the CPU")
    embedding_model: str | None = param(
        None, doc="cluster only the rows of embeddings whose `model` equals this (required when the table "
                  "holds several models: their vectors are in different spaces)")

    engine: Literal["auto", "spark", "driver"] = param(
        "auto", doc="where rows are assigned: 'driver' collects (id, vector) as Arrow into the driver process once "
                    "and samples, trains and assigns there with FAISS on every core (no second read of the vectors, "
                    "no Python workers); 'spark' samples and assigns on the executors; 'auto': the driver when "
                    "Spark estimates the input at most driver_max_bytes and its id is an integer or a string")
    driver_max_bytes: int = param(
        2 * 2**30, doc="engine 'auto': the largest input (Spark's estimate: the files' bytes) clustered in the driver, "
                       "which holds it about three times over (Arrow, the float32 matrix, the labels)", minimum=0)

    def __post_init__(self) -> None:
        if self.num_clusters > self.max_train_samples:
            raise ConfigError(f"params.num_clusters ({self.num_clusters}) is larger than params.max_train_samples "
                              f"({self.max_train_samples}): k-means needs at least one training row per cluster")
