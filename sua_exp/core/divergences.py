"""Divergences between predictive distributions (DESIGN section 1, ``D`` in ``S(x)``).

Every function takes two probability tensors with the class axis last, broadcasts their leading
dims (``p [N, 1, K]`` vs ``q [N, M, K]`` gives ``[N, M]``), and returns a finite, non-negative
tensor for any valid probabilities, including exact zeros and one-hot rows with disjoint support.
Logs are floored at ``EPS = 1e-12`` (see ``_eps``), which caps ``KL`` at about
``-log(1e-12) ~= 27.6`` nats per unit of mass on a zero of ``q`` instead of returning inf.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import Tensor

from ._eps import as_float, safe_log, safe_sqrt

__all__ = [
    "total_variation",
    "js_divergence",
    "kl_divergence",
    "symmetric_kl",
    "hellinger",
    "DIVERGENCES",
    "divergence",
    "get_divergence",
]

_LOG2 = math.log(2.0)


def total_variation(p: Tensor, q: Tensor) -> Tensor:
    """``TV = 0.5 * sum |p - q|`` in [0, 1]; the default D (linear in small shifts, and the
    divergence of the flip certificate).

    Clamped at 1: softmax outputs sum to 1 only up to rounding, so disjoint rows can give 1 + ulp.
    """
    p, q = as_float(p), as_float(q)
    return (0.5 * (p - q).abs().sum(dim=-1)).clamp(max=1.0)


def kl_divergence(p: Tensor, q: Tensor) -> Tensor:
    """``KL(p || q) = sum p (log p - log q)`` in nats, clamped at 0.

    Finite where ``q = 0 < p`` thanks to the eps floor inside the logs; the clamp at 0 removes
    tiny negative values that the floor and float rounding can produce (true KL is >= 0).
    """
    p, q = as_float(p), as_float(q)
    return (p * (safe_log(p) - safe_log(q))).sum(dim=-1).clamp(min=0.0)


def symmetric_kl(p: Tensor, q: Tensor) -> Tensor:
    """``0.5 * (KL(p||q) + KL(q||p))``: the SUA-TR consistency default, symmetric in its args."""
    return 0.5 * (kl_divergence(p, q) + kl_divergence(q, p))


def js_divergence(p: Tensor, q: Tensor) -> Tensor:
    """Jensen-Shannon divergence divided by ``log 2`` (i.e. in bits), so it lies in [0, 1].

    ``JS = 0.5 KL(p||m) + 0.5 KL(q||m)`` with ``m = (p + q) / 2``; ``m > 0`` wherever ``p`` or
    ``q`` is, so the eps floor never changes the value for normal (non-subnormal) inputs.
    """
    p, q = as_float(p), as_float(q)
    log_m = safe_log(0.5 * (p + q))
    kl_pm = (p * (safe_log(p) - log_m)).sum(dim=-1)
    kl_qm = (q * (safe_log(q) - log_m)).sum(dim=-1)
    return (0.5 * (kl_pm + kl_qm) / _LOG2).clamp(0.0, 1.0)


def hellinger(p: Tensor, q: Tensor) -> Tensor:
    """Hellinger distance ``sqrt(0.5 * sum (sqrt p - sqrt q)^2)`` in [0, 1].

    Square roots use a zero-gradient-at-0 variant so backprop through zeros stays finite.
    """
    p, q = as_float(p), as_float(q)
    sq = (safe_sqrt(p) - safe_sqrt(q)).pow(2).sum(dim=-1)
    return safe_sqrt(0.5 * sq).clamp(max=1.0)


DIVERGENCES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "tv": total_variation,
    "js": js_divergence,
    "kl": kl_divergence,
    "hellinger": hellinger,
    "sym_kl": symmetric_kl,
}
"""Registry used by configs (``divergence: tv``); keys are the names accepted by ``divergence``."""


def get_divergence(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    """Look up a divergence by config name; unknown names raise ``ValueError`` listing valid ones."""
    try:
        return DIVERGENCES[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(DIVERGENCES))
        raise ValueError(f"unknown divergence {name!r}; valid names: {valid}") from None


def divergence(p: Tensor, q: Tensor, name: str) -> Tensor:
    """``D_name(p, q)`` for a divergence named in ``DIVERGENCES``."""
    return get_divergence(name)(p, q)
