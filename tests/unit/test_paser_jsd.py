"""Mean token JSD (PASER §3.2) against hand-computed values on a toy vocabulary."""
from __future__ import annotations

import math

import pytest

from udfs.jsd import jsd_from_probs

torch = pytest.importorskip("torch")


def test_numpy_reference_hand_value():
    # p = (.5, .5), q = (1, 0), m = (.75, .25):
    # KL(p‖m) = .5 ln(.5/.75) + .5 ln(.5/.25); KL(q‖m) = ln(1/.75); JSD = half their sum
    expected = 0.5 * (0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(2.0)) + 0.5 * math.log(1 / 0.75)
    assert jsd_from_probs([0.5, 0.5], [1.0, 0.0]) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(0.2157615544, abs=1e-9)
    assert jsd_from_probs([0.0, 1.0], [1.0, 0.0]) == pytest.approx(math.log(2.0))


def test_torch_kernel_mean_over_real_tokens():
    from udfs.jsd import mean_token_jsd, token_jsd

    p = torch.log(torch.tensor([0.5, 0.25, 0.25]))
    q = torch.log(torch.tensor([0.25, 0.25, 0.5]))
    # m = (.375, .25, .375): KL(p‖m) = KL(q‖m) = .5 ln(4/3) + .25 ln(2/3)
    hand = 0.5 * math.log(4 / 3) + 0.25 * math.log(2 / 3)
    assert float(token_jsd(p, q)) == pytest.approx(hand, abs=1e-6)
    assert hand == pytest.approx(0.0424747, abs=1e-6)
    # a 3-position sample: differing, identical, padding (ignored)
    logits_p = torch.stack([p, p, torch.zeros(3)]).unsqueeze(0)
    logits_q = torch.stack([q, p, torch.tensor([9.0, 0.0, 0.0])]).unsqueeze(0)
    mask = torch.tensor([[1, 1, 0]])
    assert float(mean_token_jsd(logits_p, logits_q, mask)[0]) == pytest.approx(hand / 2, abs=1e-6)
    # identical logits give exactly 0; the kernel is invariant to a logit shift
    assert float(token_jsd(p, p)) == 0.0
    assert float(token_jsd(p + 3.0, q)) == pytest.approx(hand, abs=1e-6)
