"""Sample size for content pruning (R2D2 §4.3).

If a fraction f of the child's (distinct) rows is missing from the parent, a uniform sample of k rows
misses all of them with probability (1 - f)^k. The smallest k with 1 - (1 - f)^k >= confidence is
k = ceil(ln(1 - confidence) / ln(1 - f)).
"""
from __future__ import annotations

import math

from pipelines.core.errors import ConfigError


def sample_size(miss_fraction: float, confidence: float) -> int:
    """The smallest k such that a k-row sample catches a missing fraction ``miss_fraction`` with ``confidence``."""
    if not 0.0 < miss_fraction <= 1.0:
        raise ConfigError(f"config key 'params.miss_fraction': {miss_fraction} must be in (0, 1]")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"config key 'params.confidence': {confidence} must be in (0, 1)")
    if miss_fraction == 1.0:
        return 1
    return max(1, math.ceil(math.log(1.0 - confidence) / math.log(1.0 - miss_fraction)))


def detection_probability(miss_fraction: float, sample_rows: int) -> float:
    """1 - (1 - f)^k: the chance that ``sample_rows`` rows include one of a missing fraction."""
    return 1.0 - (1.0 - miss_fraction) ** sample_rows
