"""Failure-detection metrics: how well a score ranks wrong predictions above right ones.

Conventions (DESIGN.md section 2), shared by every function here:

* ``scores``: float tensor ``[N]``, **higher = more likely wrong** (for every score).
* ``errors``: bool tensor ``[N]`` (0/1 integers are accepted), ``True`` = the prediction was wrong.
  Errors are the *positive* class for AUROC/AUPRC.
* Selective prediction accepts (answers) the inputs with the *lowest* scores: at threshold ``t``
  every input with ``score <= t`` is accepted, so tied scores are always accepted or rejected
  together and curves have one point per distinct score.
* Every scalar is returned as a Python ``float``. Inputs on which a metric is undefined (empty
  input; no errors or no correct predictions for the ranking metrics) give ``float('nan')``,
  never an exception, so one degenerate evaluation condition cannot crash a run.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics.functional.classification import binary_auroc, binary_average_precision

__all__ = [
    "augrc",
    "auprc",
    "aurc",
    "auroc",
    "failure_detection_metrics",
    "prr",
    "risk_coverage_curve",
]


def _check_scores_errors(scores: Tensor, errors: Tensor) -> tuple[Tensor, Tensor]:
    """Validate and return ``(scores, errors)`` as a 1-D tensor and a 1-D bool tensor."""
    scores = torch.as_tensor(scores).detach().cpu()
    errors = torch.as_tensor(errors).detach().cpu()
    if scores.dim() != 1 or errors.dim() != 1:
        raise ValueError(
            f"scores and errors must be 1-D, got shapes {tuple(scores.shape)} and {tuple(errors.shape)}"
        )
    if scores.shape != errors.shape:
        raise ValueError(f"scores and errors differ in length: {scores.numel()} vs {errors.numel()}")
    if not scores.is_floating_point():
        scores = scores.double()
    if torch.isnan(scores).any():
        raise ValueError("scores contain NaN")
    if errors.dtype != torch.bool:
        if not ((errors == 0) | (errors == 1)).all():
            raise ValueError("errors must be boolean (or 0/1)")
        errors = errors.bool()
    return scores, errors


def _dense_ranks(scores: Tensor) -> Tensor:
    """Map scores to dense ranks scaled into [0, 1] (float64), preserving order and ties.

    torchmetrics treats binary ``preds`` outside [0, 1] as logits and applies a sigmoid, which
    saturates in float32 and would create artificial ties for unbounded scores (entropy in nats,
    KL sensitivity, ...). Ranking metrics depend only on the order, so ranks are exact.
    """
    ranks = torch.unique(scores, return_inverse=True)[1].double()
    top = ranks.max() if ranks.numel() else ranks.new_tensor(0.0)
    return ranks / top if top > 0 else ranks


def _is_degenerate(errors: Tensor) -> bool:
    n_err = int(errors.sum())
    return n_err == 0 or n_err == errors.numel()


def auroc(scores: Tensor, errors: Tensor) -> float:
    """AUROC of ``scores`` for detecting errors (errors = positive class; ties count one half).

    Computed with ``torchmetrics.functional.binary_auroc``. Returns ``nan`` when all predictions
    are correct or all are wrong (the ROC curve is undefined).
    """
    scores, errors = _check_scores_errors(scores, errors)
    if _is_degenerate(errors):
        return float("nan")
    return float(binary_auroc(_dense_ranks(scores), errors.long()))


def auprc(scores: Tensor, errors: Tensor) -> float:
    """Average precision of ``scores`` for detecting errors (errors = positive class).

    Step-wise AP ``sum_k (R_k - R_{k-1}) P_k`` over distinct thresholds, as in
    ``sklearn.metrics.average_precision_score`` (``torchmetrics.functional.binary_average_precision``).
    Returns ``nan`` when there is no error (recall undefined); with only errors it is 1.0.
    """
    scores, errors = _check_scores_errors(scores, errors)
    if errors.numel() == 0 or not bool(errors.any()):
        return float("nan")
    return float(binary_average_precision(_dense_ranks(scores), errors.long()))


def _tie_groups(scores: Tensor, errors: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Distinct scores ascending, the number of inputs and the number of errors at each (float64)."""
    order = torch.argsort(scores, stable=True)
    thresholds, counts = torch.unique_consecutive(scores[order], return_counts=True)
    group = torch.repeat_interleave(torch.arange(counts.numel()), counts)
    group_err = torch.zeros(counts.numel(), dtype=torch.float64).index_add_(0, group, errors[order].double())
    return thresholds, counts.double(), group_err


def risk_coverage_curve(scores: Tensor, errors: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Selective risk vs coverage when accepting inputs in ascending score order.

    For each distinct score ``t`` (ascending), all inputs with ``score <= t`` are accepted:
    ``coverage = #accepted / N`` and ``risk = #errors among accepted / #accepted`` (the selective
    risk of Geifman & El-Yaniv). Tied scores are accepted together, so there is exactly one point
    per distinct threshold and the last point has coverage 1 (risk = overall error rate).

    Returns:
        ``(coverage, risk, thresholds)``: float64, float64 and the scores' dtype, each of length
        ``#distinct scores``, ordered by increasing threshold / coverage. Empty for ``N = 0``.
    """
    scores, errors = _check_scores_errors(scores, errors)
    n = scores.numel()
    if n == 0:
        empty = torch.zeros(0, dtype=torch.float64)
        return empty, empty.clone(), scores.clone()
    thresholds, counts, group_err = _tie_groups(scores, errors)
    n_accepted = torch.cumsum(counts, dim=0)
    return n_accepted / n, torch.cumsum(group_err, dim=0) / n_accepted, thresholds


def _generalized_curve(scores: Tensor, errors: Tensor) -> tuple[Tensor, Tensor]:
    coverage, risk, _ = risk_coverage_curve(scores, errors)
    return coverage, risk * coverage  # errors among accepted / N


def aurc(scores: Tensor, errors: Tensor) -> float:
    """Area under the risk-coverage curve (AURC, Geifman et al. 2019 "Bias-reduced uncertainty
    estimation for deep neural classifiers").

    Standard discrete form: the mean over the ``N`` coverage points ``k/N`` of the selective risk
    of the ``k`` lowest-score inputs, ``(1/N) sum_k risk_k``. Ties: a threshold cannot split a tie
    group, so a coverage point inside a group takes the *expected* selective risk over a uniformly
    random order within the group, ``(E_before + j * e_g / n_g) / k`` for the j-th of the group's
    ``n_g`` inputs (``e_g`` errors). This is the exact mean of Geifman's AURC over all tie-breaking
    orders (the same convention that makes ties count one half in AUROC): it does not depend on
    input order, a constant score gets exactly the random-ranking AURC ``E/N``, and a score that
    separates errors from correct inputs, tied or not, gets the oracle AURC. Without ties it is
    exactly ``(1/N) sum_k risk_k``. Lower is better; ``nan`` for empty input.
    """
    scores, errors = _check_scores_errors(scores, errors)
    n = scores.numel()
    if n == 0:
        return float("nan")
    _, counts, group_err = _tie_groups(scores, errors)
    n_before = torch.cumsum(counts, dim=0) - counts
    e_before = torch.cumsum(group_err, dim=0) - group_err
    group = torch.repeat_interleave(torch.arange(counts.numel()), counts.long())
    k = torch.arange(1, n + 1, dtype=torch.float64)  # number accepted at each coverage point
    expected_errors = e_before[group] + (k - n_before[group]) * group_err[group] / counts[group]
    return float((expected_errors / k).mean())


def augrc(scores: Tensor, errors: Tensor) -> float:
    """Area under the generalized risk-coverage curve (AUGRC, Traub et al. 2024, "Overcoming
    common flaws in the evaluation of selective classification systems").

    Generalized risk at a threshold = errors among the accepted inputs / N (the joint probability
    of accepting and failing). The curve through ``(0, 0)`` and one point per distinct threshold is
    integrated with the trapezoidal rule, as in the authors' reference implementation (fd-shifts).
    The generalized risk is linear within a tie group, so this equals the mean over tie-breaking
    orders (the ``aurc`` convention; ties count one half as in AUROC) and gives the exact identity
    ``AUGRC = err * (acc * (1 - AUROC) + err / 2)`` with ``err = 1 - acc``. Lower is better; the
    oracle ordering gives ``err**2 / 2``. ``nan`` for empty input.
    """
    coverage, grisk = _generalized_curve(scores, errors)
    if coverage.numel() == 0:
        return float("nan")
    zero = coverage.new_zeros(1)
    return float(torch.trapezoid(torch.cat([zero, grisk]), torch.cat([zero, coverage])))


def _aurc_oracle(n: int, n_err: int) -> float:
    """AURC of a perfect ranking (all correct inputs accepted first), same discrete form as ``aurc``:
    ``(1/N) sum_{k=1}^{E} k / (N - E + k)``; tends to ``r + (1 - r) ln(1 - r)`` (r = E/N)."""
    k = torch.arange(1, n_err + 1, dtype=torch.float64)
    return float((k / (n - n_err + k)).sum()) / n


def prr(scores: Tensor, errors: Tensor) -> tuple[float, float]:
    """Prediction rejection ratio (Malinin et al.; ratio of areas between rejection curves).

    Definition used here (document in tables as "PRR, selective-risk curves"): the rejection curve
    of a score is its risk-coverage curve, and its area is the AURC above (``AR_score``).
    ``AR_random = E/N`` is the exact expected AURC of a uniformly random ranking (the expected
    selective risk is E/N at every coverage) and ``AR_oracle`` is the AURC of the perfect ranking
    (``_aurc_oracle``). Then

    * raw        = ``AR_random - AR_score`` (area between the random and the score's curve),
    * normalized = ``(AR_random - AR_score) / (AR_random - AR_oracle)``:
      1 for the oracle, 0 in expectation for a random score, negative when worse than random.

    This is the selective-risk form used by LM-Polygraph. Malinin et al.'s original curve instead
    counts rejected inputs as correct (errors among accepted / N, i.e. the generalized risk); for
    binary errors that version reduces exactly to ``2 * AUROC - 1`` and would add nothing to AUROC.

    Returns:
        ``(normalized, raw)``; both ``nan`` when there are no errors, only errors, or no inputs.
    """
    scores, errors = _check_scores_errors(scores, errors)
    n = errors.numel()
    if n == 0 or _is_degenerate(errors):
        return float("nan"), float("nan")
    n_err = int(errors.sum())
    ar_score = aurc(scores, errors)
    ar_random = n_err / n
    ar_oracle = _aurc_oracle(n, n_err)
    raw = ar_random - ar_score
    return raw / (ar_random - ar_oracle), raw


def _key(section: str, metric: str, name: str, condition: str | None) -> str:
    key = f"{section}/{metric}/{name}"
    return f"{key}/{condition}" if condition else key


def failure_detection_metrics(
    scores: Tensor, errors: Tensor, score_name: str, condition: str | None = None
) -> dict[str, float]:
    """All failure-detection metrics of one score under one condition, as flat log keys.

    Keys: ``fd/{auroc,auprc,prr,prr_raw,aurc,augrc}/<score_name>[/<condition>]``. Writing the
    clean condition a second time without suffix (DESIGN.md section 2) is the caller's choice.
    """
    scores, errors = _check_scores_errors(scores, errors)
    prr_norm, prr_raw = prr(scores, errors)
    values = {
        "auroc": auroc(scores, errors),
        "auprc": auprc(scores, errors),
        "prr": prr_norm,
        "prr_raw": prr_raw,
        "aurc": aurc(scores, errors),
        "augrc": augrc(scores, errors),
    }
    return {_key("fd", metric, score_name, condition): value for metric, value in values.items()}
