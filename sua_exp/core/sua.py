"""SUA scores combining sensitivity ``S`` and normalized entropy ``Hn`` (DESIGN section 1).

Inputs are tensors of the same (broadcastable) shape; higher output = more likely wrong.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["sua_score", "sua_plus", "u_sua"]


def sua_score(sensitivity: Tensor, norm_entropy: Tensor, lam: float = 1.0) -> Tensor:
    """``SUA = S - lam * Hn``: positive when the model is more unstable than it is uncertain."""
    return sensitivity - lam * norm_entropy


def sua_plus(sensitivity: Tensor, norm_entropy: Tensor, lam: float = 1.0) -> Tensor:
    """Misalignment ``[S - lam * Hn]+``: only the over-confident-yet-unstable part counts."""
    return (sensitivity - lam * norm_entropy).clamp(min=0.0)


def u_sua(norm_entropy: Tensor, sensitivity: Tensor, alpha: float = 1.0) -> Tensor:
    """SUA failure score ``U = Hn + alpha * [S - Hn]+``: entropy corrected upward by misalignment.

    ``alpha = 0`` recovers ``Hn``; ``alpha = 1`` gives ``max(Hn, S)``. Note the argument order
    (entropy first), unlike ``sua_score``.
    """
    return norm_entropy + alpha * (sensitivity - norm_entropy).clamp(min=0.0)
