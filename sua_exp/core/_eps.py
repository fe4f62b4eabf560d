"""Numerical-safety helpers shared by the ``core`` functions.

Probabilities of exactly 0 (and one-hot distributions) are normal inputs here: a model can put all
of its mass on one answer, and padded answer sets carry zeros. ``log(0) = -inf`` would then turn
into NaN/inf through ``0 * -inf`` or ``x - inf``, so every log in ``core`` is taken of
``clamp(x, min=eps)`` with ``eps = 1e-12`` (raised to the dtype's smallest normal number where
1e-12 is not representable, e.g. float16). The clamp is applied *inside logs only*; the
probabilities that multiply the logs are left untouched, so ``0 * log(eps) = 0`` exactly and
entropies of one-hot rows are exactly 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

EPS: float = 1e-12
"""Floor applied to probabilities inside logarithms (see module docstring)."""


def eps_for(dtype: torch.dtype) -> float:
    """Return the log floor for ``dtype``: ``EPS`` unless it underflows in that dtype."""
    if not dtype.is_floating_point:
        return EPS
    return max(EPS, torch.finfo(dtype).tiny)


def safe_log(x: Tensor) -> Tensor:
    """``log(max(x, eps))``: finite for x = 0, exact for x >= eps, finite gradient everywhere."""
    return torch.log(x.clamp(min=eps_for(x.dtype)))


def safe_sqrt(x: Tensor) -> Tensor:
    """``sqrt(x)`` with value 0 and *gradient 0* (instead of inf/NaN) at x <= 0.

    Uses the double-``where`` trick so the backward pass never evaluates ``1 / sqrt(0)``.
    """
    positive = x > 0
    return torch.where(
        positive, torch.sqrt(torch.where(positive, x, torch.ones_like(x))), torch.zeros_like(x)
    )


def as_float(x: Tensor) -> Tensor:
    """Promote integer/bool tensors (e.g. one-hot labels) to the default float dtype."""
    return x if x.is_floating_point() else x.to(torch.get_default_dtype())
