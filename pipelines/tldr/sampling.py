"""TL;DR's per-cluster uniform sampling as pure functions (no Spark).

Wang et al., "Too Large; Data Reduction for Vision-Language Pre-Training" (ICCV 2023), §3: after
clustering, keep a fixed fraction of every cluster, chosen uniformly at random. Here "uniformly at
random" is a seeded hash of the id rather than a random generator, so the same seed picks the same
rows whatever the partitioning or row order (DESIGN: determinism). Each cluster of ``size`` members
keeps exactly ``ceil(ratio * size)`` of them, so every non-empty cluster keeps at least one.

The Spark path (:mod:`pipelines.tldr.transform`) computes the same key with ``sha2`` and the same
quota with integer arithmetic; ``tests/integration/test_tldr.py`` checks that both agree.
"""
from __future__ import annotations

import hashlib
from fractions import Fraction
from typing import Any, Hashable, Iterable, Sequence

# Ratios come from YAML as binary floats (0.1 is 0.1000000000000000055...). Reading them as the
# decimal the user wrote keeps ceil(0.1 * 30) == 3, not 4.
_MAX_DENOMINATOR = 1_000_000


def ratio_as_fraction(ratio: float) -> Fraction:
    """``ratio`` as the short decimal fraction it was written as (0.1 -> 1/10, 0.25 -> 1/4)."""
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio must be in (0, 1], got {ratio}")
    return Fraction(repr(float(ratio))).limit_denominator(_MAX_DENOMINATOR)


def cluster_quota(cluster_size: int, ratio: float) -> int:
    """How many members a cluster of ``cluster_size`` keeps: ``ceil(ratio * cluster_size)``, exactly.

    Zero for an empty cluster, at least one for a non-empty one (TL;DR §3 keeps every cluster).
    """
    if cluster_size < 0:
        raise ValueError(f"cluster_size must be >= 0, got {cluster_size}")
    frac = ratio_as_fraction(ratio)
    return -(-cluster_size * frac.numerator // frac.denominator)


def id_text(value: Any) -> str:
    """An id as Spark's ``CAST(id AS STRING)`` writes it, for ints and strings (the id kinds)."""
    if isinstance(value, bool):
        raise TypeError("boolean ids are not supported")
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # pandas may hand integer ids over as floats
    return str(value)


def sampling_key(seed: int, row_id: Any) -> str:
    """The seeded uniform key of a row: hex SHA-256 of ``"<seed>:<id>"`` (Spark: ``sha2(concat_ws(':', seed, id), 256)``)."""
    return hashlib.sha256(f"{seed}:{id_text(row_id)}".encode("utf-8")).hexdigest()


def sample_clusters(ids: Sequence[Hashable], clusters: Sequence[Hashable], ratio: float, seed: int) -> set:
    """The ids TL;DR keeps: in each cluster, the ``cluster_quota`` members with the smallest
    ``sampling_key`` (ties broken by the id's text). Pure reference of the Spark step."""
    members: dict[Hashable, list] = {}
    for row_id, cluster in zip(ids, clusters):
        members.setdefault(cluster, []).append(row_id)
    chosen: set = set()
    for rows in members.values():
        ranked = sorted(rows, key=lambda r: (sampling_key(seed, r), id_text(r)))
        chosen.update(ranked[: cluster_quota(len(rows), ratio)])
    return chosen


def expected_kept(cluster_sizes: Iterable[int], ratio: float) -> int:
    """Total rows kept for clusters of the given sizes."""
    return sum(cluster_quota(int(n), ratio) for n in cluster_sizes)
