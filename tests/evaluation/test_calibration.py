"""Calibration metrics against numpy references and sklearn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import brier_score_loss, log_loss

from sua_exp.evaluation import adaptive_ece, brier, calibration_metrics, ece, nll


def _random_probs(seed: int, n: int, k: int, concentration: float = 1.0):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(k, concentration), size=n)
    # labels drawn from the probs themselves for some rows, uniformly for others: imperfect calibration
    labels = np.array([rng.choice(k, p=p) if rng.random() < 0.7 else rng.integers(k) for p in probs])
    return torch.tensor(probs, dtype=torch.float32), torch.tensor(labels, dtype=torch.long)


def _ece_reference(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Guo et al. 2017: equal-width bins (lo, hi] on the top-label confidence."""
    conf, pred = probs.max(1), probs.argmax(1)
    acc = (pred == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (conf > lo) & (conf <= hi)
        if in_bin.any():
            total += in_bin.mean() * abs(acc[in_bin].mean() - conf[in_bin].mean())
    return total


def _adaptive_ece_reference(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    conf, pred = probs.max(1), probs.argmax(1)
    acc = (pred == labels).astype(np.float64)
    order = np.argsort(conf, kind="stable")
    return sum(
        len(idx) / len(conf) * abs(acc[idx].mean() - conf[idx].mean())
        for idx in np.array_split(order, n_bins)
        if len(idx)
    )


@pytest.mark.parametrize(("seed", "k"), [(0, 2), (1, 3), (2, 10), (3, 4)])
def test_ece_matches_numpy_reference(seed, k):
    probs, labels = _random_probs(seed, 1000, k, concentration=0.5)
    expected = _ece_reference(probs.numpy().astype(np.float64), labels.numpy())
    assert ece(probs, labels) == pytest.approx(expected, abs=1e-5)
    assert ece(probs, labels, n_bins=5) == pytest.approx(
        _ece_reference(probs.numpy().astype(np.float64), labels.numpy(), 5), abs=1e-5
    )


@pytest.mark.parametrize(("seed", "k", "n"), [(0, 2, 1000), (1, 5, 999), (2, 3, 7)])
def test_adaptive_ece_matches_numpy_reference(seed, k, n):
    probs, labels = _random_probs(seed, n, k)
    expected = _adaptive_ece_reference(probs.numpy().astype(np.float64), labels.numpy())
    assert adaptive_ece(probs, labels) == pytest.approx(expected, abs=1e-9)


def test_ece_of_confident_correct_predictions_is_zero():
    probs = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    labels = torch.tensor([1, 0])
    assert ece(probs, labels) == pytest.approx(0.0)
    assert adaptive_ece(probs, labels) == pytest.approx(0.0)
    assert brier(probs, labels) == 0.0
    assert nll(probs, labels) == pytest.approx(0.0)


@pytest.mark.parametrize(("seed", "k"), [(0, 3), (1, 7)])
def test_brier_matches_sklearn_multiclass(seed, k):
    probs, labels = _random_probs(seed, 500, k)
    p64 = probs.double()
    p64 = p64 / p64.sum(1, keepdim=True)
    expected = brier_score_loss(labels.numpy(), p64.numpy(), labels=list(range(k)), scale_by_half=False)
    assert brier(p64, labels) == pytest.approx(expected, abs=1e-12)


def test_brier_binary_is_twice_sklearn_binary():
    probs, labels = _random_probs(5, 400, 2)
    p64 = probs.double()
    p64 = p64 / p64.sum(1, keepdim=True)
    expected = 2 * brier_score_loss(labels.numpy(), p64[:, 1].numpy())
    assert brier(p64, labels) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("seed", "k"), [(0, 2), (1, 6)])
def test_nll_matches_sklearn_log_loss(seed, k):
    probs, labels = _random_probs(seed, 500, k, concentration=2.0)
    p64 = probs.double()
    p64 = p64 / p64.sum(1, keepdim=True)
    expected = log_loss(labels.numpy(), p64.numpy(), labels=list(range(k)))
    assert nll(p64, labels) == pytest.approx(expected, abs=1e-9)


def test_nll_clamps_zero_probability():
    probs = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    labels = torch.tensor([1, 0])
    assert nll(probs, labels) == pytest.approx((-math.log(1e-12) - math.log(0.5)) / 2)


def test_validation():
    probs, labels = _random_probs(0, 10, 3)
    with pytest.raises(ValueError, match="probabilities"):
        ece(torch.randn(10, 3) * 5, labels)  # logits are refused, not silently softmaxed
    with pytest.raises(ValueError, match="labels must lie"):
        brier(probs, torch.full((10,), 3))
    with pytest.raises(ValueError, match="shape"):
        nll(probs[:, 0], labels)
    with pytest.raises(ValueError, match="labels must have shape"):
        nll(probs, labels[:5])


def test_empty_input_gives_nan():
    out = calibration_metrics(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), "clean")
    assert all(math.isnan(v) for v in out.values())


def test_calibration_metrics_keys():
    probs, labels = _random_probs(0, 100, 4)
    out = calibration_metrics(probs, labels, "perturbed")
    assert set(out) == {"cal/ece/perturbed", "cal/aece/perturbed", "cal/brier/perturbed", "cal/nll/perturbed"}
    assert out["cal/ece/perturbed"] == pytest.approx(ece(probs, labels))
    assert all(type(v) is float for v in out.values())
