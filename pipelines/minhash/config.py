"""``MinhashParams``: the SlimPajama-DC recipe (Cerebras 2023) as defaults, every choice documented."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from pipelines.core.config import param
from pipelines.core.errors import ConfigError

SCOPES = ("global", "local", "local-then-global")
SURVIVORS = ("smallest_id", "source_priority", "longest")


@dataclass(frozen=True)
class MinhashParams:
    """Parameters of the minhash stage. Defaults: SlimPajama-DC §2.3 and their released scripts."""

    scope: Literal["global", "local", "local-then-global"] = param(
        "global", doc="global: one index over all sources (SlimPajama's choice, SlimPajama-DC §2.3); "
                      "local: within each source only; local-then-global: local first, then global over the "
                      "local survivors (the comparison in SlimPajama-DC §3)")
    ngram_unit: Literal["char", "word"] = param(
        "char", doc="shingle unit: 'char' n-grams of the normalised string (SlimPajama dedup/to_hash.py applies "
                    "n-grams to the string) or 'word' n-grams (datatrove, text-dedup)")
    ngram_size: int = param(13, doc="shingle length: 13 (SlimPajama to_hash.py width=13); 5 is usual for words",
                            minimum=1, maximum=1000)
    num_perm: int = param(128, doc="MinHash permutations: 128 (SlimPajama to_hash.py num_perm=128)", minimum=1, maximum=1024)
    num_bands: int | None = param(
        9, doc="LSH bands: 9 (SlimPajama generate_duplicate_pairs.py, for Jaccard 0.8); null together with "
               "rows_per_band derives both from jaccard_threshold (datasketch's weighted optimum)", minimum=1)
    rows_per_band: int | None = param(13, doc="rows per LSH band: 13 (SlimPajama); null derives it", minimum=1)
    jaccard_threshold: float = param(
        0.8, doc="the Jaccard similarity that makes a duplicate: 0.8 (SlimPajama-DC §2.3); used to derive "
                 "bands/rows when they are null and by exact verification", minimum=0.0, maximum=1.0,
        exclusive_minimum=True)
    false_positive_weight: float = param(0.5, doc="weight of the false-positive area when deriving bands "
                                                  "(datasketch MinHashLSH default 0.5)", minimum=0.0, maximum=1.0)
    false_negative_weight: float = param(0.5, doc="weight of the false-negative area (datasketch default 0.5)",
                                         minimum=0.0, maximum=1.0)
    seed: int = param(1, doc="seed of the permutations: 1 (datasketch MinHash default, so signatures can be "
                             "compared with datasketch's)", minimum=0, maximum=2**32 - 1)
    min_content_chars: int = param(
        200, doc="documents with fewer characters after removing punctuation and whitespace are filtered as "
                 "too_short: 200 (SlimPajama preprocessing/filter.py)", minimum=0)
    verify: bool = param(False, doc="compute the exact Jaccard of candidate pairs and drop those below "
                                    "jaccard_threshold before connected components (SlimPajama does not; "
                                    "text-dedup and NeMo Curator offer it)")
    all_pairs_bucket_size: int = param(
        16, doc="with verify, buckets of at most this many documents yield all their pairs as candidates (so a "
                "failed edge to the bucket's smallest id cannot hide another true duplicate); larger buckets "
                "yield star edges only (text-dedup / NeMo Curator), bounding the work", minimum=0, maximum=1000)
    survivor: Literal["smallest_id", "source_priority", "longest"] = param(
        "smallest_id", doc="which document of a duplicate cluster is kept: smallest_id (deterministic, "
                           "incremental-safe), source_priority (first source in source_priority, then id) or "
                           "longest (most UTF-8 bytes, then smallest id)")
    source_priority: tuple[str, ...] = param(default_factory=tuple,
                                             doc="source names, most preferred first (survivor=source_priority)")
    max_component_size: int = param(
        10000, doc="components larger than this are reported (metric large_components); a guard against "
                   "boilerplate-driven mega-clusters", minimum=2)
    fail_on_large_component: bool = param(False, doc="raise a DataError when a component exceeds max_component_size")
    max_cc_iterations: int = param(60, doc="safety bound on large-star/small-star rounds (they need "
                                           "O(log^2 n); Kiveris et al. 2014)", minimum=1)
    cc_driver_max_edges: int = param(
        2_000_000, doc="a candidate graph of at most this many edges has its connected components found in "
                       "the driver (one collect, scipy's union-find: the same labels without a Spark job per "
                       "round); a larger one by large-star/small-star on Spark. 0: always Spark", minimum=0)

    engine: Literal["auto", "spark", "driver"] = param(
        "auto", doc="where the stage runs: 'spark' (executors), 'driver' (the driver's memory and cores: the same "
                    "outputs without a Spark job per step; not for incremental runs or local-then-global), or "
                    "'auto': the driver when it can and Spark estimates the input at most driver_max_bytes")
    driver_max_bytes: int = param(
        512 * 2**20, doc="engine 'auto': the largest input (Spark's estimate: the files' bytes) deduplicated in the "
                         "driver, which holds its text about three times over", minimum=0)

    def __post_init__(self) -> None:
        if (self.num_bands is None) != (self.rows_per_band is None):
            raise ConfigError("config keys 'params.num_bands' and 'params.rows_per_band' must both be set or both "
                              "be null (null derives them from params.jaccard_threshold)")
        if self.num_bands is not None and self.num_bands * self.rows_per_band > self.num_perm:
            raise ConfigError(f"config key 'params.num_bands': num_bands * rows_per_band = "
                              f"{self.num_bands * self.rows_per_band} exceeds params.num_perm = {self.num_perm}")
        if self.survivor == "source_priority" and not self.source_priority:
            raise ConfigError("config key 'params.source_priority' must list sources when survivor=source_priority")
        if abs(self.false_positive_weight + self.false_negative_weight - 1.0) > 1e-9:
            raise ConfigError("config keys 'params.false_positive_weight' + 'params.false_negative_weight' must sum to 1")

    @cached_property
    def bands(self) -> tuple[int, int]:
        """(num_bands, rows_per_band): as given, or derived from jaccard_threshold."""
        if self.num_bands is not None:
            return self.num_bands, self.rows_per_band
        from udfs.minhash import optimal_bands

        return optimal_bands(self.jaccard_threshold, self.num_perm, self.false_positive_weight,
                             self.false_negative_weight)
