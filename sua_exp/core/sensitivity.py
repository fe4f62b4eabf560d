"""Distributional sensitivity ``S(x) = agg_m D(p(.|x), p(.|x~_m))`` (DESIGN section 1)."""

from __future__ import annotations

import torch
from torch import Tensor

from ._eps import as_float
from .divergences import get_divergence

__all__ = ["AGGREGATIONS", "sensitivity", "view_divergences"]

AGGREGATIONS: tuple[str, ...] = ("mean", "max")


def view_divergences(p_clean: Tensor, p_perturbed: Tensor, divergence: str = "tv") -> Tensor:
    """Per-view divergences ``D(p(.|x), p(.|x~_m))`` of shape ``[..., M]``.

    The clean distribution comes first (it matters for ``kl``: ``KL(p_clean || p_view)``).
    """
    fn = get_divergence(divergence)
    p_clean, p_perturbed = as_float(p_clean), as_float(p_perturbed)
    if p_perturbed.dim() < 2:
        raise ValueError(f"p_perturbed must have shape [..., M, K], got {tuple(p_perturbed.shape)}")
    if p_clean.shape[-1] != p_perturbed.shape[-1]:
        raise ValueError(
            f"class dims differ: p_clean has K={p_clean.shape[-1]}, p_perturbed has K={p_perturbed.shape[-1]}"
        )
    return fn(p_clean.unsqueeze(-2), p_perturbed)


def sensitivity(
    p_clean: Tensor,
    p_perturbed: Tensor,
    divergence: str = "tv",
    aggregation: str = "mean",
    mask: Tensor | None = None,
) -> Tensor:
    """How much the prediction moves over the perturbation neighbourhood, shape ``[...]``.

    Args:
        p_clean: ``[..., K]`` distribution on the input the model sees.
        p_perturbed: ``[..., M, K]`` distributions on its M perturbed views (leading dims
            broadcast against ``p_clean``'s).
        divergence: a key of ``DIVERGENCES`` (``tv`` default, see DESIGN for why).
        aggregation: ``mean`` (default) or ``max`` over the views.
        mask: optional bool ``[..., M]``, True = valid view, so rows can have fewer views than
            M (padded views are ignored, but should still hold finite numbers so no NaN reaches
            the backward pass). A row with no valid view has no evidence of instability: 0.
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}; valid: {', '.join(AGGREGATIONS)}")
    d = view_divergences(p_clean, p_perturbed, divergence)  # [..., M], all >= 0
    if mask is not None:
        mask = torch.as_tensor(mask, device=d.device).to(torch.bool)
        d, mask = torch.broadcast_tensors(d, mask)
    if d.shape[-1] == 0:  # no views at all
        return d.sum(dim=-1)
    if aggregation == "mean":
        if mask is None:
            return d.mean(dim=-1)
        count = mask.sum(dim=-1).to(d.dtype)
        total = torch.where(mask, d, torch.zeros_like(d)).sum(dim=-1)
        return total / count.clamp(min=1.0)  # count == 0 -> total == 0 -> 0
    # max: divergences are >= 0, so filling invalid views with 0 leaves the max over valid
    # views unchanged and gives 0 for rows without a valid view.
    if mask is not None:
        d = torch.where(mask, d, torch.zeros_like(d))
    return d.amax(dim=-1)
