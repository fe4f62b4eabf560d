"""Flip certificate: a proven upper bound on worst-case perturbed risk (DESIGN section 1).

Theorem. If ``argmax p != argmax q`` then ``TV(p, q) >= m(p) / 2`` where ``m`` is the gap between
the two largest entries of ``p``. Proof: with ``i = argmax p`` and ``j = argmax q`` (any tie
break), ``2 TV >= |p_i - q_i| + |p_j - q_j| >= (p_i - p_j) + (q_j - q_i) >= p_i - p_j >= m``.
The proof never uses that p or q sum to 1, only that i and j are argmaxes of the tensors given.
Hence, over an evaluated neighbourhood, an input that is correct on the clean view and wrong on
some view must have ``S_tv_max >= m / 2``, so

    R_worst <= R_clean + P[correct and S_tv_max >= m/2]                      (bound)
            <= R_clean + E[[S_tv_max - m/2 + t]+] / t      for any t > 0      (markov_bound)

This is an identity of the numbers, so the evaluation asserts it on every run; the code below
is written so that floating point cannot break it (see ``flip_certificate``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .divergences import total_variation
from .entropy import margin

__all__ = ["FLIP_TOL", "flip_certificate"]

FLIP_TOL: float = 1e-7
"""Absolute slack in the test ``S_tv_max >= m/2``, see ``flip_certificate``."""


def flip_certificate(
    p_clean: Tensor,
    p_views: Tensor,
    labels: Tensor,
    t: float = 0.1,
    *,
    mask: Tensor | None = None,
) -> dict[str, float]:
    """Both sides of the flip certificate on one evaluated batch.

    Args:
        p_clean: ``[N, K]`` distributions on the clean inputs (extra leading dims are flattened).
        p_views: ``[N, M, K]`` distributions on the M views of each input.
        labels: ``[N]`` integer gold labels, or a bool ``[N, K]`` mask of the correct answers
            when several answers of an input are correct (e.g. clusters of generated answers
            that each match a gold answer). The proof only needs that a wrong view's argmax
            differs from a correct clean argmax, which holds either way.
        t: Markov slack, > 0.
        mask: optional bool ``[N, M]``, True = valid view (invalid views are ignored).

    Returns a dict of floats: ``r_clean`` (error of ``argmax p_clean``), ``r_worst`` (wrong on the
    clean view or any valid view), ``flip_term`` (``P[correct and S_tv_max >= m/2]``), ``bound``
    (``r_clean + flip_term``), ``markov_term`` (``E[[S_tv_max - m/2 + t]+] / t``) and
    ``markov_bound`` (``r_clean + markov_term``). ``r_worst <= bound <= markov_bound`` always holds.

    Floating-point care (the guarantee must survive rounding):
      * predictions, TV and margins are computed in float64 from the very tensors given
        (float32 -> float64 is exact), and predictions always use ``torch.argmax`` so the ``i``,
        ``j`` of the proof are the argmaxes actually reported (ties are then harmless).
      * the flip test is ``S_tv_max >= m/2 - FLIP_TOL``: in exact arithmetic a flip implies
        ``S >= m/2``, possibly with equality (e.g. ``p = [.4, .6]`` vs ``q = [.5, .5]``), and
        float64 rounding of ``TV`` and ``m`` (~1e-16 per term) could otherwise make a real flip
        look like ``S < m/2``. A larger flip term only makes the bound more conservative.
      * each input's Markov contribution is ``max(1[flip], [S - m/2 + t]+ / t)``; mathematically
        the max is the second argument (``S >= m/2`` gives ``>= 1``), but this keeps
        ``flip_term <= markov_term`` exact despite the tolerance and rounding.
      * ``bound`` and ``markov_bound`` are formed as (integer count [+ sum]) / N rather than sums
        of rates, so monotonicity of float rounding gives ``r_worst <= bound <= markov_bound``.
    """
    if not t > 0:
        raise ValueError(f"t must be > 0, got {t}")
    p = torch.as_tensor(p_clean).detach().to(torch.float64)
    views = torch.as_tensor(p_views).detach().to(device=p.device, dtype=torch.float64)
    k = p.shape[-1]
    if views.dim() < 2 or views.shape[-1] != k:
        raise ValueError(f"p_views must be [N, M, K={k}], got {tuple(views.shape)}")
    p = p.reshape(-1, k)
    n = p.shape[0]
    views = views.reshape(n, -1, k)
    y = torch.as_tensor(labels, device=p.device)
    is_mask = y.dtype == torch.bool and y.dim() == 2
    if is_mask:  # [N, K] mask of the correct answers (several may be correct)
        if y.shape != (n, k):
            raise ValueError(f"a correct-answer mask must be [N={n}, K={k}], got {tuple(y.shape)}")
    else:
        y = y.reshape(-1).long()
        if y.shape[0] != n:
            raise ValueError(f"labels has {y.shape[0]} entries but p_clean has {n} rows")
    if n == 0:
        raise ValueError("flip_certificate needs at least one input")
    m_views = views.shape[1]
    valid = (
        torch.ones(n, m_views, dtype=torch.bool, device=p.device)
        if mask is None
        else torch.as_tensor(mask, device=p.device).to(torch.bool).reshape(n, m_views)
    )

    pred, view_pred = torch.argmax(p, dim=-1), torch.argmax(views, dim=-1)
    if is_mask:
        correct = y.gather(-1, pred.unsqueeze(-1)).squeeze(-1)  # [N]
        view_wrong = ~y.gather(-1, view_pred) & valid  # [N, M]
    else:
        correct = pred == y
        view_wrong = (view_pred != y.unsqueeze(-1)) & valid
    worst_wrong = ~correct | view_wrong.any(dim=-1)

    tv = torch.where(valid, total_variation(p.unsqueeze(-2), views), torch.zeros((), dtype=p.dtype))
    s_max = tv.amax(dim=-1) if m_views > 0 else torch.zeros(n, dtype=p.dtype, device=p.device)
    half_m = 0.5 * margin(p)

    flip = correct & (s_max >= half_m - FLIP_TOL)
    markov = torch.maximum(flip.to(p.dtype), (s_max - half_m + t).clamp(min=0.0) / t)

    n_clean = int((~correct).sum())
    n_worst = int(worst_wrong.sum())
    n_flip = int(flip.sum())
    markov_sum = float(markov.sum())
    return {
        "r_clean": n_clean / n,
        "r_worst": n_worst / n,
        "flip_term": n_flip / n,
        "bound": (n_clean + n_flip) / n,
        "markov_term": markov_sum / n,
        "markov_bound": (n_clean + markov_sum) / n,
    }
