"""Sample size for content pruning (R2D2 §4.3).

If a fraction f of the child's (distinct) rows is missing from the parent, a uniform sample of k rows
misses all of them with probability (1 - f)^k. Content pruning samples each distinct row
independently with probability q = k / N (a hash threshold, no sort): the m = f N missing rows are
all missed with probability (1 - q)^m <= exp(-q f N) = exp(-k f). The smallest k with
exp(-k f) <= 1 - confidence is k = ceil(ln(1 / (1 - confidence)) / f); it is also enough for a
k-row sample without replacement, since (1 - f)^k <= exp(-k f).
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
    return max(1, math.ceil(-math.log(1.0 - confidence) / miss_fraction - 1e-9))


def detection_probability(miss_fraction: float, sample_rows: int) -> float:
    """1 - exp(-k f): a lower bound on the chance that the sample includes one of a missing fraction."""
    return 1.0 - math.exp(-miss_fraction * sample_rows)
