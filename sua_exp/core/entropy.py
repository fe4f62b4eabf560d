"""Uncertainty of a single predictive distribution (DESIGN section 1: ``H``, ``Hn``, MSP, margin).

All functions take probabilities with the class axis last and any leading batch dims, and
return a tensor of the leading shape. Zeros are handled exactly (``0 log 0 = 0``), see ``_eps``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._eps import as_float, safe_log

__all__ = ["entropy", "normalized_entropy", "max_prob", "margin"]


def entropy(p: Tensor) -> Tensor:
    """Shannon entropy ``H(p) = -sum_y p_y log p_y`` over the last dim, in nats.

    ``0 log 0 = 0``: the log is floored at eps, and ``0 * log(eps) == 0`` exactly, so one-hot rows
    give exactly 0 and the gradient stays finite at the simplex boundary (useful for SUA-TR).
    """
    p = as_float(p)
    return -(p * safe_log(p)).sum(dim=-1)


def normalized_entropy(p: Tensor, num_classes: Tensor | int | None = None) -> Tensor:
    """``Hn = H / log K`` in [0, 1], so uncertainty is comparable across answer-set sizes.

    ``K = p.shape[-1]`` unless ``num_classes`` is given: an int, or a tensor broadcastable to the
    leading shape holding a per-row K for padded distributions (padded entries must be 0, they
    then contribute nothing to ``H``). Rows with ``K <= 1`` have no uncertainty and give 0.
    The result is clamped to [0, 1] to absorb float rounding at the uniform distribution
    (``H`` can exceed ``log K`` by an ulp), so ``[S - Hn]+`` never sees ``Hn > 1``.
    """
    p = as_float(p)
    h = entropy(p)
    if num_classes is None:
        k = p.shape[-1]
        if k <= 1:
            return torch.zeros_like(h)
        return (h / math.log(k)).clamp(0.0, 1.0)
    k_t = torch.as_tensor(num_classes, device=h.device).to(h.dtype)
    has_choice = k_t > 1
    log_k = torch.log(torch.where(has_choice, k_t, torch.full_like(k_t, 2.0)))
    return torch.where(has_choice, h / log_k, torch.zeros_like(h)).clamp(0.0, 1.0)


def max_prob(p: Tensor) -> Tensor:
    """Maximum softmax probability (MSP), the classic confidence baseline: ``max_y p_y``."""
    return as_float(p).amax(dim=-1)


def margin(p: Tensor) -> Tensor:
    """Top-1 minus top-2 probability ``m(x)``; the flip certificate's radius is ``m / 2``.

    A single-class distribution (K == 1) cannot flip, so its margin is 1.
    """
    p = as_float(p)
    if p.shape[-1] == 1:
        return torch.ones_like(p[..., 0])
    top2 = torch.topk(p, k=2, dim=-1).values
    return top2[..., 0] - top2[..., 1]
