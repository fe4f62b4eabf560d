"""The low-level API: SUA scores inside your own inference loop, for any model.

from sua_exp import sua_scores, score_texts
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from sua_exp.scores.suite import ScoreSuite, ScoringInputs, sua_scores

__all__ = ["score_texts", "sua_scores"]


def score_texts(
    predict_proba: Callable[[list[str]], Tensor],
    texts: Sequence[str],
    perturbation: Callable[..., list[str]],
    num_views: int = 4,
    seed: int = 0,
    divergence: str = "tv",
    aggregation: str = "mean",
    lam: float = 1.0,
    alpha: float = 1.0,
) -> dict[str, Tensor]:
    """All scores for `texts` given any callable `texts -> probabilities [N, K]` and a perturbation.

    The clean texts and their `num_views` perturbations go through `predict_proba` in one call.
    Returns the scores ([N] each, higher = more likely wrong) plus `probs` and `view_probs`.
    """
    texts = list(texts)
    neighbourhood = perturbation.neighbourhood(texts, num_views, seed=seed)
    flat = texts + [view for views in neighbourhood for view in views]
    probs = torch.as_tensor(predict_proba(flat), dtype=torch.float32)
    n = len(texts)
    p_clean, p_views = probs[:n], probs[n:].view(n, num_views, -1)
    suite = ScoreSuite(
        num_views=num_views, divergence=divergence, aggregation=aggregation, lam=lam, alpha=alpha
    )
    return {**suite.scores(ScoringInputs(p_clean, p_views)), "probs": p_clean, "view_probs": p_views}
