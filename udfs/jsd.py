"""Jensen–Shannon divergence between next-token distributions (PASER §3.2, Eq. 3–4).

PASER scores a sample by the JSD between the original and the pruned model's next-token
distributions over the sample's tokens. The paper's code sums the JSD over positions (and over the
vocabulary of all positions at once), which grows with the prompt's length; here it is the mean
over the sample's token positions. Natural logarithms: 0 <= JSD <= ln 2.
"""
from __future__ import annotations

import math

import numpy as np

LN2 = math.log(2.0)


def jsd_from_probs(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """JSD(p, q) over the last axis, in nats (numpy reference: ½KL(p‖m) + ½KL(q‖m), m = (p+q)/2)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_pm = np.where(p > 0, p * np.log(p / m), 0.0).sum(axis=-1)
        kl_qm = np.where(q > 0, q * np.log(q / m), 0.0).sum(axis=-1)
    return 0.5 * kl_pm + 0.5 * kl_qm


def token_jsd(logits_p, logits_q):
    """Per-position JSD (torch, float32) from two logits tensors [..., vocab]; stable in log space."""
    import torch

    lp = torch.log_softmax(logits_p.float(), dim=-1)
    lq = torch.log_softmax(logits_q.float(), dim=-1)
    lm = torch.logaddexp(lp, lq) - LN2
    kl_pm = (lp.exp() * (lp - lm)).sum(dim=-1)
    kl_qm = (lq.exp() * (lq - lm)).sum(dim=-1)
    return (0.5 * kl_pm + 0.5 * kl_qm).clamp_min(0.0)


def mean_token_jsd(logits_p, logits_q, attention_mask):
    """Per-sample JSD averaged over its real (mask = 1) positions: [batch, seq, vocab] -> [batch]."""
    per_position = token_jsd(logits_p, logits_q)
    mask = attention_mask.to(per_position.dtype)
    return (per_position * mask).sum(dim=-1) / mask.sum(dim=-1).clamp_min(1.0)
