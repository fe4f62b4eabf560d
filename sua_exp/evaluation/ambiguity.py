"""Ambiguity collapse (DESIGN section 1): confident mass on one answer where several are valid.

An input is ambiguous when it has a valid set V(x) with |V| >= 2 (optionally a human label
distribution q; without one, q is uniform over V). The model collapses on it when it puts at
least `tau_c` of its mass on a single answer.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from sua_exp import core


def collapse_errors(probs: Tensor, valid_mask: Tensor, tau_c: float = 0.9) -> Tensor:
    """The failure of the ambiguous condition: a collapse, or an argmax outside the valid set."""
    pred_valid = valid_mask.gather(-1, probs.argmax(-1, keepdim=True)).squeeze(-1)
    return (probs.max(-1).values >= tau_c) | ~pred_valid


def ambiguity_metrics(
    probs: Tensor, valid_mask: Tensor, tau_c: float = 0.9, human: Tensor | None = None
) -> dict[str, float]:
    """`amb/collapse_rate`, `amb/mass_on_valid`, `amb/js_to_human` (JS(q, p), normalized to [0,1]),
    `amb/entropy_gap` (mean of log|V| - H(p), in nats), `amb/num_examples`."""
    if probs.shape != valid_mask.shape:
        raise ValueError(
            f"probs {tuple(probs.shape)} and valid_mask {tuple(valid_mask.shape)} differ in shape"
        )
    sizes = valid_mask.sum(-1)
    if (sizes < 2).any():
        raise ValueError("every ambiguous input needs at least two valid answers")
    q = human if human is not None else valid_mask.to(probs.dtype) / sizes.unsqueeze(-1)
    if probs.numel() == 0:
        nan = math.nan
        return {
            k: nan for k in ("amb/collapse_rate", "amb/mass_on_valid", "amb/js_to_human", "amb/entropy_gap")
        }
    return {
        "amb/collapse_rate": (probs.max(-1).values >= tau_c).double().mean().item(),
        "amb/mass_on_valid": (probs * valid_mask).sum(-1).double().mean().item(),
        "amb/js_to_human": core.js_divergence(q, probs).double().mean().item(),
        "amb/entropy_gap": (torch.log(sizes.double()) - core.entropy(probs).double()).mean().item(),
        "amb/num_examples": float(probs.shape[0]),
    }
