"""Post-hoc temperature scaling: lowers NLL on miscalibrated logits and never changes the argmax."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from sua_exp.objectives import TemperatureScaling


def _calibrated(n: int = 4000, k: int = 5, seed: int = 0):
    """Labels drawn from softmax(true_logits): the true logits are calibrated by construction."""
    g = torch.Generator().manual_seed(seed)
    true_logits = 1.5 * torch.randn(n, k, generator=g)
    labels = torch.multinomial(true_logits.softmax(-1), 1, generator=g).squeeze(-1)
    return true_logits, labels


@pytest.mark.parametrize(("factor", "expected_t"), [(3.0, 3.0), (0.4, 0.4)])
def test_fit_recovers_temperature_and_lowers_nll(factor, expected_t):
    true_logits, labels = _calibrated()
    logits = true_logits * factor  # over-confident (3) or under-confident (0.4)
    ts = TemperatureScaling()
    t = ts.fit(logits, labels)
    assert t == ts.temperature and ts.fitted
    assert t == pytest.approx(expected_t, rel=0.1)
    before = F.cross_entropy(logits, labels).item()
    after = F.cross_entropy(ts.scale(logits), labels).item()
    assert after < before - 1e-3
    assert TemperatureScaling.nll(logits, labels, t) == pytest.approx(after, abs=1e-5)
    # the fitted T is a minimum of the NLL: nearby temperatures are no better
    assert after <= TemperatureScaling.nll(logits, labels, t * 1.05) + 1e-9
    assert after <= TemperatureScaling.nll(logits, labels, t / 1.05) + 1e-9


def test_never_changes_argmax_and_returns_probabilities():
    true_logits, labels = _calibrated(seed=1)
    ts = TemperatureScaling()
    ts.fit(true_logits * 3, labels)
    logits = torch.randn(5000, 7) * 10
    logits[:10] = torch.tensor([1.0, 1.0 + 1e-6, 0.0, 0, 0, 0, 0])  # near-ties survive
    probs = ts(logits)
    assert probs.dtype == logits.dtype
    assert torch.equal(probs.argmax(-1), logits.argmax(-1))
    assert torch.allclose(probs.sum(-1), torch.ones(5000), atol=1e-5)
    assert torch.equal(ts.scale(logits).argmax(-1), logits.argmax(-1))


def test_calibrated_logits_keep_temperature_near_one():
    true_logits, labels = _calibrated(seed=2)
    assert TemperatureScaling().fit(true_logits, labels) == pytest.approx(1.0, abs=0.1)


def test_separable_data_clamps_temperature():
    logits = torch.tensor([[10.0, -10.0], [-10.0, 10.0]] * 50)
    labels = torch.tensor([0, 1] * 50)
    ts = TemperatureScaling(min_temperature=0.05)
    t = ts.fit(logits, labels)
    assert 0.05 <= t <= 1.0
    assert torch.isfinite(ts(logits)).all()


def test_input_validation():
    with pytest.raises(ValueError):
        TemperatureScaling().fit(torch.zeros(3, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError):
        TemperatureScaling().fit(torch.tensor([[float("nan"), 0.0]]), torch.tensor([0]))
    with pytest.raises(ValueError):
        TemperatureScaling(init_temperature=0.0)


def test_fit_works_inside_inference_mode():
    """Lightning's test loop runs in inference mode; post-hoc fitting happens there."""
    true_logits, labels = _calibrated(n=500, seed=3)
    with torch.inference_mode():
        logits = true_logits * 2
        t = TemperatureScaling().fit(logits, labels)
        probs = TemperatureScaling(init_temperature=1.0)(logits)
    assert t == pytest.approx(2.0, rel=0.3) and torch.isfinite(probs).all()
