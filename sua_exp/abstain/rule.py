"""Fitting the abstention threshold of the rule "answer iff score(x) <= tau" (DESIGN section 1).

Two ways to fit `tau` on a held-out calibration split:

* `fit_tau_for_coverage`: the smallest calibration score at which the calibration coverage
  (fraction answered) reaches the target, so it lies in `[target, target + 1/N)` without ties.
* `fit_tau_for_risk`: Learn-then-Test (Angelopoulos et al. 2021) for the *selective* risk
  `R(tau) = P(error | score <= tau)`. For each threshold of a grid, ordered from the most
  conservative (fewest answered) to the least, the null `H0(tau): R(tau) > alpha` is tested with
  the exact binomial tail p-value `p(tau) = BinomCDF(errors among answered; n answered, alpha)`
  (valid given the number answered, since the answered errors are then Binomial(n, R(tau))).
  Fixed-sequence testing rejects nulls in that order and stops at the first `p > delta`; it
  controls the family-wise error at `delta`, so with probability >= 1 - delta every returned
  threshold has `R(tau) <= alpha`. The largest rejected threshold is returned.

Conventions (also in the docs of each function):

* A sequence starts at the first threshold where a rejection is possible at all, i.e. where
  even zero errors would give `p = (1 - alpha)^n <= level` (`n >= log level / log(1 - alpha)`).
  Thresholds answering fewer inputs can never be rejected; testing them first would end every
  sequence at step one. The cut depends on `n` alone, not on the errors.
* By default several sequences start at geometric numbers of answered inputs, each at level
  `delta / S` (Bonferroni), so that one early error does not end the whole search
  (`multi_start`, see `fit_tau_for_risk`); `multi_start=False` is the single sequence at `delta`.
* When no threshold is rejected, `tau = -inf`: abstain on everything (risk 0, coverage 0).
* When the returned threshold answers the *whole* calibration split, `tau = +inf` (answer
  everything): on the calibration data the two thresholds are the same hypothesis, and the rule
  should not abstain on a test score merely because it exceeds every calibration score.
  The same applies to `fit_tau_for_coverage` (e.g. target coverage 1).
* NaN scores are rejected on calibration; at test time `NaN <= tau` is False (abstain).
* The default grid is the sorted distinct calibration scores (the usual practical choice, which
  makes the grid data-dependent; a grid fixed before seeing the data, e.g. a `linspace` for a
  bounded score, is the textbook setting). The tests check the guarantee empirically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import binom

__all__ = [
    "fit_tau_for_coverage",
    "fit_tau_for_risk",
    "min_rejectable_n",
    "risk_pvalues",
    "selective_stats",
]


def _as_array(x, dtype=np.float64) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype).reshape(-1)


def _scores(scores, name: str = "scores", allow_nan: bool = False) -> np.ndarray:
    s = _as_array(scores)
    if s.size == 0:
        raise ValueError(f"{name} is empty")
    if not allow_nan and np.isnan(s).any():
        raise ValueError(f"{name} contains NaN")
    return s


def _errors(errors, n: int, name: str = "errors") -> np.ndarray:
    if hasattr(errors, "detach"):
        errors = errors.detach().cpu().numpy()
    e = np.asarray(errors).reshape(-1)
    if e.shape[0] != n:
        raise ValueError(f"{name} has {e.shape[0]} entries but scores has {n}")
    if not np.isin(e, (0, 1)).all():
        raise ValueError(f"{name} must be binary (0/1 or bool): the binomial bound needs 0/1 losses")
    return e.astype(np.int64)


def _check_unit(key: str, value: float, closed_right: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{key} must be a number, got {value!r}")
    ok = 0 < value <= 1 if closed_right else 0 < value < 1
    if not ok:
        raise ValueError(f"{key} must be in (0, 1{']' if closed_right else ')'}, got {value}")
    return float(value)


def fit_tau_for_coverage(cal_scores, target_coverage: float) -> float:
    """Smallest calibration score `tau` with calibration coverage `P[score <= tau] >= target`.

    Answering the `ceil(target * N)` lowest scores gives coverage in `[target, target + 1/N)`
    unless ties sit at the threshold (ties are answered together). Returns `+inf` when the
    threshold answers the whole calibration split (see the module docstring).
    """
    c = _check_unit("target_coverage", target_coverage, closed_right=True)
    s = np.sort(_scores(cal_scores, "cal_scores"))
    n = s.size
    k = min(n, max(1, math.ceil(c * n - 1e-9 * n)))  # guard 0.7 * 10 = 7.000000000000001
    tau = float(s[k - 1])
    if np.count_nonzero(s <= tau) == n:
        return math.inf
    return tau


def selective_stats(scores, errors, tau: float) -> tuple[int, int]:
    """`(n answered, errors among answered)` of the rule `score <= tau`."""
    s = _scores(scores, allow_nan=True)
    e = _errors(errors, s.size)
    accept = s <= tau
    return int(accept.sum()), int(e[accept].sum())


def risk_pvalues(cal_scores, cal_errors, alpha: float, grid: Sequence[float] | None = None):
    """Per-threshold LTT statistics on an ascending grid.

    Returns `(grid, n_accepted, n_errors, pvalues)` as numpy arrays; `p = BinomCDF(e; n, alpha)`
    (1 where nothing is answered).
    """
    s = _scores(cal_scores, "cal_scores")
    e = _errors(cal_errors, s.size, "cal_errors")
    order = np.argsort(s, kind="stable")
    s_sorted = s[order]
    cum_err = np.concatenate([[0], np.cumsum(e[order])])
    if grid is None:
        g = np.unique(s_sorted)
    else:
        g = np.unique(_as_array(list(grid)))
        g = g[~np.isnan(g)]
        if g.size == 0:
            raise ValueError("grid is empty")
    n_acc = np.searchsorted(s_sorted, g, side="right")
    n_err = cum_err[n_acc]
    with np.errstate(all="ignore"):
        p = np.where(n_acc > 0, binom.cdf(n_err, np.maximum(n_acc, 1), alpha), 1.0)
    return g, n_acc, n_err, p


def min_rejectable_n(alpha: float, level: float) -> int:
    """Smallest number answered at which zero errors reject `R > alpha` at `level`:
    `(1 - alpha)^n <= level`. Fewer answered inputs can never certify the risk."""
    if alpha >= 1:
        return 1
    return max(1, math.ceil(math.log(level) / math.log1p(-alpha) - 1e-9))


def start_points(n: int, alpha: float, delta: float, multi_start: bool) -> tuple[list[int], float]:
    """Numbers answered at which the fixed sequences start, and the level of each sequence.

    Single start: one sequence at level `delta`, from `min_rejectable_n(alpha, delta)`.
    Multi-start: sequences from `n_0, 2 n_0, 4 n_0, ... <= n`, each at level `delta / S`
    (Bonferroni over the `S` sequences, so the union of their rejections has family-wise error
    <= delta), with `n_0 = min_rejectable_n(alpha, delta / S)` and `S` the smallest count for
    which at most `S` starts fit (e.g. n = 2000, alpha = delta = 0.1: S = 6, starts 39, 78, ...,
    1248). The starts depend on `n`, `alpha` and `delta` only, never on the errors.
    """
    if not multi_start:
        return [min_rejectable_n(alpha, delta)], delta
    s = 1
    while True:
        n0 = min_rejectable_n(alpha, delta / s)
        starts = [n0 * 2**j for j in range(64) if n0 * 2**j <= n] or [n0]
        if len(starts) <= s:  # Bonferroni over s >= len(starts) sequences: valid
            return starts, delta / s
        s += 1  # the smallest consistent s: more starts lower the level, which raises n_0


def fit_tau_for_risk(
    cal_scores,
    cal_errors,
    alpha: float,
    delta: float,
    grid: Sequence[float] | None = None,
    multi_start: bool = True,
) -> float:
    """Largest threshold whose selective risk is certified `<= alpha` at confidence `1 - delta`.

    Learn-then-Test with binomial tail p-values and fixed-sequence testing from conservative
    (few answered) to permissive thresholds, each sequence stopping at its first non-rejection.
    With `multi_start=False` there is one sequence, at level `delta`, from the first threshold
    where a rejection is possible at all. One error among those first ~20 answered inputs (for
    alpha = delta = 0.1) then ends the sequence and abstains on everything, which happens often
    when the lowest scores carry an error floor of 1-2% (label noise). `multi_start=True`
    (default) also starts sequences at 2x, 4x, ... as many answered inputs, each at level
    `delta / S` (Bonferroni), and returns the largest threshold any of them rejects
    (see `start_points`). See the module docstring for the `-inf` / `+inf` conventions.

    Args:
        cal_scores: `[N]` calibration scores (higher = more likely wrong).
        cal_errors: `[N]` 0/1 (or bool) errors of the model's answers on the calibration inputs.
        alpha: target selective risk in (0, 1].
        delta: allowed probability of failure in (0, 1).
        grid: thresholds to consider (any order, deduplicated); default: distinct `cal_scores`.
        multi_start: Bonferroni-split fixed sequences from geometric start points (default) or
            one sequence at level delta.
    """
    a = _check_unit("alpha", alpha, closed_right=True)
    d = _check_unit("delta", delta, closed_right=False)
    g, n_acc, _, p = risk_pvalues(cal_scores, cal_errors, a, grid)
    n = _scores(cal_scores, "cal_scores").size
    if a >= 1:  # every selective risk is <= 1
        return math.inf
    starts, level = start_points(n, a, d, multi_start)
    best = -1
    for n_start in starts:
        start = int(np.searchsorted(n_acc, n_start, side="left"))  # first point answering >= n_start
        if start >= g.size or start <= best:
            continue  # nothing to test, or inside an already-rejected run
        rejected = p[start:] <= level
        if not rejected[0]:
            continue
        stop = int(np.argmin(rejected)) if not rejected.all() else rejected.size
        best = max(best, start + stop - 1)
    if best < 0:
        return -math.inf
    if n_acc[best] >= n:
        return math.inf
    return float(g[best])
