"""Divergences and entropies computed from logits for training losses.

`kl` and `sym_kl` are computed in log space (`log_softmax`), which equals `sua_exp.core`'s
probability-space definition wherever every probability is above core's log floor (1e-12) and
keeps exact gradients where a probability underflows (core's clamp would zero them). The bounded
divergences (`tv`, `js`, `hellinger`) go through `sua_exp.core` on softmax probabilities.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from sua_exp import core

DIVERGENCE_NAMES: tuple[str, ...] = tuple(core.DIVERGENCES)


def _kl_from_log(log_p: Tensor, log_q: Tensor) -> Tensor:
    return (log_p.exp() * (log_p - log_q)).sum(dim=-1)


def logit_divergence(logits_p: Tensor, logits_q: Tensor, name: str) -> Tensor:
    """`D_name(softmax(logits_p), softmax(logits_q))` over the last dim (leading dims broadcast)."""
    if name in ("kl", "sym_kl"):
        log_p, log_q = torch.broadcast_tensors(
            F.log_softmax(logits_p, dim=-1), F.log_softmax(logits_q, dim=-1)
        )
        if name == "kl":
            return _kl_from_log(log_p, log_q)
        return 0.5 * (_kl_from_log(log_p, log_q) + _kl_from_log(log_q, log_p))
    return core.divergence(F.softmax(logits_p, dim=-1), F.softmax(logits_q, dim=-1), name)


def logit_entropy(logits: Tensor) -> Tensor:
    """Shannon entropy of `softmax(logits)` in nats, from `log_softmax` (exact gradients)."""
    log_p = F.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(dim=-1)
