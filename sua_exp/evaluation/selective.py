"""Selective-prediction working points: risk at a target coverage, coverage at a target risk.

Same conventions as :mod:`sua_exp.evaluation.failure_detection`: ``scores`` higher = more likely
wrong, the lowest scores are accepted, ``errors`` True = wrong, selective risk = errors among the
accepted / number accepted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from sua_exp.evaluation.failure_detection import _check_scores_errors, risk_coverage_curve

__all__ = ["coverage_at_risk", "risk_at_coverage", "selective_metrics"]

# Slack for float round-off: ceil(0.7 * 10) must be 7, not 8, and a selective risk of exactly
# 1/20 must count as <= 0.05.
_EPS = 1e-9


def risk_at_coverage(scores: Tensor, errors: Tensor, coverage: float) -> float:
    """Selective risk when accepting the ``ceil(coverage * N)`` lowest-score inputs.

    Exactly that many inputs are accepted, even inside a tie group: ties are broken by a stable
    sort, i.e. among equal scores the input that comes first in the tensor is accepted first (so the
    result is deterministic but, with ties at the cut, depends on input order; use
    ``coverage_at_risk`` / ``risk_coverage_curve`` for tie-invariant working points).
    ``coverage`` must lie in (0, 1]. ``nan`` for empty input.
    """
    if not 0.0 < coverage <= 1.0:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    scores, errors = _check_scores_errors(scores, errors)
    n = scores.numel()
    if n == 0:
        return float("nan")
    k = min(n, max(1, math.ceil(coverage * n - _EPS)))
    order = torch.argsort(scores, stable=True)
    return float(errors[order[:k]].double().mean())


def coverage_at_risk(scores: Tensor, errors: Tensor, risk: float) -> float:
    """Largest coverage, over the thresholds of the risk-coverage curve, whose selective risk is
    ``<= risk``; 0.0 if no threshold reaches it.

    Thresholds are the distinct scores, so tied inputs are accepted together (tie-invariant). The
    risk curve need not be monotone; the largest qualifying coverage is returned. ``risk`` must lie
    in [0, 1]. ``nan`` for empty input.
    """
    if not 0.0 <= risk <= 1.0:
        raise ValueError(f"risk must be in [0, 1], got {risk}")
    coverage, sel_risk, _ = risk_coverage_curve(scores, errors)
    if coverage.numel() == 0:
        return float("nan")
    ok = sel_risk <= risk + _EPS
    return float(coverage[ok].max()) if bool(ok.any()) else 0.0


def selective_metrics(
    scores: Tensor,
    errors: Tensor,
    score_name: str,
    coverages: Sequence[float] = (0.8,),
    risks: Sequence[float] = (0.05,),
    condition: str | None = None,
) -> dict[str, float]:
    """Risk@coverage and coverage@risk of one score, as flat log keys.

    Keys: ``sc/risk@<c>/<score_name>`` and ``sc/cov@<r>/<score_name>`` (numbers written with
    ``:g``, e.g. ``sc/risk@0.8/u_sua``, ``sc/cov@0.05/u_sua``), plus ``/<condition>`` when given.
    """
    scores, errors = _check_scores_errors(scores, errors)
    suffix = f"/{condition}" if condition else ""
    out: dict[str, float] = {}
    for c in coverages:
        out[f"sc/risk@{c:g}/{score_name}{suffix}"] = risk_at_coverage(scores, errors, c)
    for r in risks:
        out[f"sc/cov@{r:g}/{score_name}{suffix}"] = coverage_at_risk(scores, errors, r)
    return out
