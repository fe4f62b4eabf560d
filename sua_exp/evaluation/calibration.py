"""Calibration metrics of predictive distributions.

``probs``: float tensor ``[N, K]`` of probabilities (rows on the simplex, K >= 2); ``labels``: long
tensor ``[N]`` with values in ``[0, K)``. Confidence = max probability, prediction = its argmax
(top-label calibration). Scalars are Python floats; ``nan`` for empty input.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics.functional.classification import multiclass_calibration_error

__all__ = ["adaptive_ece", "brier", "calibration_metrics", "ece", "nll"]

NLL_EPS = 1e-12


def _check_probs_labels(probs: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    probs = torch.as_tensor(probs).detach().cpu()
    labels = torch.as_tensor(labels).detach().cpu()
    if probs.dim() != 2 or probs.shape[1] < 2:
        raise ValueError(f"probs must have shape [N, K] with K >= 2, got {tuple(probs.shape)}")
    if labels.dim() != 1 or labels.numel() != probs.shape[0]:
        raise ValueError(f"labels must have shape [{probs.shape[0]}], got {tuple(labels.shape)}")
    if not probs.is_floating_point():
        raise ValueError(f"probs must be floating point, got {probs.dtype}")
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integer class indices, got {labels.dtype}")
    # torchmetrics silently applies softmax to anything outside [0, 1]; refuse logits instead.
    if probs.numel() and not bool(((probs >= 0) & (probs <= 1)).all()):
        raise ValueError("probs must be probabilities in [0, 1] (got logits or NaN?)")
    k = probs.shape[1]
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= k):
        raise ValueError(f"labels must lie in [0, {k}), got range [{int(labels.min())}, {int(labels.max())}]")
    return probs, labels.long()


def ece(probs: Tensor, labels: Tensor, n_bins: int = 15) -> float:
    """Expected calibration error (Guo et al. 2017) with ``n_bins`` equal-width confidence bins.

    ``sum_b (n_b / N) |acc_b - conf_b|`` on the top-label confidence, via
    ``torchmetrics.functional.multiclass_calibration_error(norm="l1")`` (bins are left-closed
    ``[lo, hi)``; a confidence of exactly 1.0 gets its own bin).
    """
    probs, labels = _check_probs_labels(probs, labels)
    if labels.numel() == 0:
        return float("nan")
    return float(
        multiclass_calibration_error(probs, labels, num_classes=probs.shape[1], n_bins=n_bins, norm="l1")
    )


def adaptive_ece(probs: Tensor, labels: Tensor, n_bins: int = 15) -> float:
    """Adaptive ECE (equal-mass bins; Nixon et al. 2019, Mukhoti et al. 2020).

    Inputs are sorted by top-label confidence (stable) and split into ``n_bins`` contiguous bins
    whose sizes differ by at most one (as ``numpy.array_split``; empty bins when N < n_bins are
    skipped); then ``sum_b (n_b / N) |acc_b - conf_b|``. Not in torchmetrics, hence by hand.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    probs, labels = _check_probs_labels(probs, labels)
    n = labels.numel()
    if n == 0:
        return float("nan")
    conf, pred = probs.double().max(dim=1)
    acc = (pred == labels).double()
    order = torch.argsort(conf, stable=True)
    total = conf.new_zeros(())
    for idx in torch.tensor_split(order, n_bins):
        if idx.numel():
            total += idx.numel() / n * (acc[idx].mean() - conf[idx].mean()).abs()
    return float(total)


def brier(probs: Tensor, labels: Tensor) -> float:
    """Multi-class Brier score (Brier 1950): ``mean_i sum_k (p_ik - 1[y_i = k])^2``, in [0, 2].

    For K = 2 this is twice the binary ``mean (p_1 - y)^2`` of ``sklearn.metrics.brier_score_loss``.
    """
    probs, labels = _check_probs_labels(probs, labels)
    if labels.numel() == 0:
        return float("nan")
    onehot = torch.nn.functional.one_hot(labels, probs.shape[1]).to(torch.float64)
    return float(((probs.double() - onehot) ** 2).sum(dim=1).mean())


def nll(probs: Tensor, labels: Tensor) -> float:
    """Negative log-likelihood ``mean_i -log p_i[y_i]``, probabilities clamped at 1e-12."""
    probs, labels = _check_probs_labels(probs, labels)
    if labels.numel() == 0:
        return float("nan")
    p_true = probs.double().gather(1, labels[:, None]).squeeze(1)
    return float(-torch.log(p_true.clamp_min(NLL_EPS)).mean())


def calibration_metrics(probs: Tensor, labels: Tensor, condition: str) -> dict[str, float]:
    """ECE, adaptive ECE, Brier and NLL under one condition: keys ``cal/{ece,aece,brier,nll}/<condition>``."""
    probs, labels = _check_probs_labels(probs, labels)
    return {
        f"cal/ece/{condition}": ece(probs, labels),
        f"cal/aece/{condition}": adaptive_ece(probs, labels),
        f"cal/brier/{condition}": brier(probs, labels),
        f"cal/nll/{condition}": nll(probs, labels),
    }
