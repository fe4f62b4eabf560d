"""Fitting tau: coverage target within 1/N, Learn-then-Test risk control over repeated splits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from sua_exp.abstain import Abstainer, fit_tau_for_coverage, fit_tau_for_risk, risk_pvalues
from sua_exp.abstain.rule import min_rejectable_n, start_points


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=2, max_value=400),
    target=st.floats(min_value=0.01, max_value=0.99),
    seed=st.integers(0, 10_000),
)
def test_coverage_hits_target_within_one_over_n(n, target, seed):
    scores = np.random.default_rng(seed).normal(size=n)  # continuous: no ties
    tau = fit_tau_for_coverage(scores, target)
    coverage = float(np.mean(scores <= tau))
    assert target - 1e-9 <= coverage < target + 1.0 / n + 1e-9


def test_coverage_hand_cases_and_edges():
    s = np.arange(1, 11) / 10  # 0.1 .. 1.0
    assert fit_tau_for_coverage(s, 0.3) == pytest.approx(0.3)
    assert fit_tau_for_coverage(s, 0.7) == pytest.approx(0.7)  # 0.7 * 10 = 7.000000000000001
    assert fit_tau_for_coverage(s, 0.75) == pytest.approx(0.8)
    assert fit_tau_for_coverage(s, 0.01) == pytest.approx(0.1)  # at least one answered
    assert fit_tau_for_coverage(s, 1.0) == math.inf  # whole calibration set: answer everything
    assert fit_tau_for_coverage(torch.tensor(s), 0.5) == pytest.approx(0.5)
    ties = np.array([0.0, 0.5, 0.5, 0.5, 1.0])
    assert fit_tau_for_coverage(ties, 0.4) == 0.5  # ties at the threshold are answered together


def test_risk_pvalues_are_binomial_tails():
    s = np.array([0.1, 0.2, 0.3, 0.4])
    e = np.array([0, 1, 0, 1])
    g, n_acc, n_err, p = risk_pvalues(s, e, alpha=0.2)
    assert g.tolist() == [0.1, 0.2, 0.3, 0.4]
    assert n_acc.tolist() == [1, 2, 3, 4] and n_err.tolist() == [0, 1, 1, 2]
    assert np.allclose(p, binom.cdf([0, 1, 1, 2], [1, 2, 3, 4], 0.2))


def test_risk_fit_hand_case_fixed_sequence_stops_at_first_non_rejection():
    alpha, delta = 0.1, 0.1
    n_min = min_rejectable_n(alpha, delta)  # 22: first n where 0 errors can reject
    assert n_min == 22 and (1 - alpha) ** n_min <= delta < (1 - alpha) ** (n_min - 1)
    # 60 clean answers, then a burst of 10 errors, then 200 clean answers again
    e = np.array([0] * 60 + [1] * 10 + [0] * 200)
    s = np.arange(e.size, dtype=float)
    tau = fit_tau_for_risk(s, e, alpha, delta, multi_start=False)
    g, n_acc, n_err, p = risk_pvalues(s, e, alpha)
    first_fail = next(i for i in range(n_min - 1, s.size) if p[i] > delta)
    assert tau == s[first_fail - 1]
    # later thresholds would be rejected again, but fixed-sequence testing has stopped
    assert p[-1] <= delta and tau < s[-1]


def test_single_sequence_is_ended_by_one_early_error_multi_start_is_not():
    alpha, delta = 0.1, 0.1
    e = np.zeros(400, dtype=int)
    e[5] = 1  # one error among the lowest scores, then a clean run
    s = np.arange(400, dtype=float)
    assert fit_tau_for_risk(s, e, alpha, delta, multi_start=False) == -math.inf
    starts, level = start_points(400, alpha, delta, multi_start=True)
    assert level == pytest.approx(delta / len(starts)) and starts == sorted(starts)
    assert all(starts[i + 1] == 2 * starts[i] for i in range(len(starts) - 1)) and starts[-1] <= 400
    assert (1 - alpha) ** starts[0] <= level  # the first start can reject at the split level
    # a later sequence certifies everything: answer all (the whole calibration set is accepted)
    assert fit_tau_for_risk(s, e, alpha, delta) == math.inf
    e[300:] = 1  # risk climbs past alpha at the top
    tau = fit_tau_for_risk(s, e, alpha, delta)
    g, n_acc, n_err, p = risk_pvalues(s, e, alpha)
    assert 250 < tau < 330 and p[int(tau)] <= level and p[int(tau) + 1] > level


def test_risk_fit_edges():
    rng = np.random.default_rng(0)
    s = rng.uniform(size=500)
    assert fit_tau_for_risk(s, np.ones(500), 0.1, 0.1) == -math.inf  # always wrong: abstain
    assert fit_tau_for_risk(s, np.zeros(500), 0.1, 0.1) == math.inf  # never wrong: answer all
    assert fit_tau_for_risk(s[:10], np.zeros(10), 0.1, 0.1) == -math.inf  # too few to certify
    assert fit_tau_for_risk(s, np.zeros(500), 1.0, 0.1) == math.inf  # alpha = 1 is trivial
    with pytest.raises(ValueError, match="binary"):
        fit_tau_for_risk(s, np.full(500, 0.5), 0.1, 0.1)
    with pytest.raises(ValueError, match="NaN"):
        fit_tau_for_risk(np.full(3, np.nan), np.zeros(3), 0.1, 0.1)
    with pytest.raises(ValueError, match="alpha"):
        fit_tau_for_risk(s, np.zeros(500), 0.0, 0.1)
    with pytest.raises(ValueError, match="delta"):
        fit_tau_for_risk(s, np.zeros(500), 0.1, 1.0)


def test_risk_fit_with_an_explicit_grid():
    rng = np.random.default_rng(1)
    s = rng.uniform(size=3000)
    e = (rng.uniform(size=3000) < s).astype(int)  # P(error | s) = s: selective risk tau / 2
    tau = fit_tau_for_risk(s, e, 0.1, 0.1, grid=np.linspace(0, 1, 101))
    assert tau in np.round(np.linspace(0, 1, 101), 12) or math.isclose(tau, round(tau, 2))
    assert 0.05 < tau <= 0.2 + 1e-9


def _synthetic_pool(n: int, seed: int):
    """Scores in [0, 1] with P(error | s) = s**2 * 0.5 + 0.02 (known error rates)."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(size=n)
    errors = (rng.uniform(size=n) < 0.02 + 0.5 * s**2).astype(int)
    return s, errors


def _repeated_splits(s, e, alpha, delta, multi_start, reps=200, n_cal=2000, seed=123):
    rng = np.random.default_rng(seed)
    violations, naive_violations, coverages = 0, 0, []
    for _ in range(reps):
        perm = rng.permutation(s.size)
        cal, test = perm[:n_cal], perm[n_cal:]
        rule = Abstainer(mode="risk", alpha=alpha, delta=delta, multi_start=multi_start).fit(s[cal], e[cal])
        rep = rule.report(s[test], e[test])
        violations += rep["abstain/risk"] > alpha
        coverages.append(rep["abstain/coverage"])
        # plug-in rule without a guarantee: largest tau with empirical cal risk <= alpha
        order = np.argsort(s[cal])
        cum_risk = np.cumsum(e[cal][order]) / np.arange(1, n_cal + 1)
        tau_naive = s[cal][order][np.nonzero(cum_risk <= alpha)[0].max()]
        naive_violations += e[test][s[test] <= tau_naive].mean() > alpha
    return violations, naive_violations, float(np.mean(coverages))


@pytest.mark.parametrize("multi_start", [True, False])
def test_learn_then_test_controls_realized_test_risk_over_repeated_splits(multi_start):
    alpha, delta, reps = 0.1, 0.1, 200
    s, e = _synthetic_pool(20_000, seed=0)
    violations, naive_violations, coverage = _repeated_splits(s, e, alpha, delta, multi_start, reps)
    tolerance = binom.ppf(0.999, reps, delta)  # about delta * reps plus a binomial margin
    assert violations <= tolerance, (violations, tolerance)
    assert naive_violations > tolerance  # the test has teeth: the plug-in rule fails it
    # not trivially abstaining (the oracle coverage is ~0.65); multi-start is the more powerful
    assert coverage > (0.45 if multi_start else 0.1), coverage


def test_learn_then_test_holds_when_risk_is_flat_near_alpha():
    """Hardest case for the guarantee: the error rate sits just below alpha for most scores."""
    rng = np.random.default_rng(5)
    s = rng.uniform(size=20_000)
    e = (rng.uniform(size=s.size) < np.where(s < 0.9, 0.085, 0.5)).astype(int)
    violations, _, _ = _repeated_splits(s, e, 0.1, 0.1, multi_start=True)
    assert violations <= binom.ppf(0.999, 200, 0.1), violations
