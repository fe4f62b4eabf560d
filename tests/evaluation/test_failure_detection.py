"""Failure-detection metrics against sklearn, brute-force references and closed forms."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from sua_exp.evaluation import (
    augrc,
    auprc,
    aurc,
    auroc,
    failure_detection_metrics,
    prr,
    risk_coverage_curve,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def scored_errors(draw, min_size: int = 2, max_size: int = 40, need_both: bool = True):
    """(scores float64, errors bool); half the time scores come from a tiny set (heavy ties)."""
    n = draw(st.integers(min_size, max_size))
    if draw(st.booleans()):
        values = st.integers(0, 3).map(float)
    else:
        values = st.floats(-50.0, 50.0, allow_nan=False, allow_infinity=False)
    scores = draw(st.lists(values, min_size=n, max_size=n))
    errors = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    if need_both and (all(errors) or not any(errors)):
        errors[0], errors[-1] = True, False
    return torch.tensor(scores, dtype=torch.float64), torch.tensor(errors)


# --------------------------------------------------------------------------- brute-force references


def _orders_over_ties(scores: torch.Tensor):
    """Every ordering of the inputs by ascending score (all ways to break ties)."""
    s = scores.tolist()
    groups = [[i for i in range(len(s)) if s[i] == v] for v in sorted(set(s))]
    for perms in itertools.product(*(itertools.permutations(g) for g in groups)):
        yield [i for p in perms for i in p]


def _aurc_geifman(errors_in_order: list[bool]) -> float:
    """Geifman et al.: mean over k = 1..N of the error rate of the first k accepted inputs."""
    n = len(errors_in_order)
    cum = np.cumsum(errors_in_order)
    return float(np.mean(cum / np.arange(1, n + 1)))


def _augrc_trapezoid(errors_in_order: list[bool]) -> float:
    n = len(errors_in_order)
    g = np.concatenate([[0.0], np.cumsum(errors_in_order) / n])
    return float(np.sum((g[1:] + g[:-1]) / 2) / n)


def _mean_over_tie_breaks(scores, errors, fn) -> float:
    e = errors.tolist()
    vals = [fn([e[i] for i in order]) for order in _orders_over_ties(scores)]
    return float(np.mean(vals))


def _aurc_oracle(n: int, n_err: int) -> float:
    return sum(k / (n - n_err + k) for k in range(1, n_err + 1)) / n


# --------------------------------------------------------------------------- AUROC / AUPRC


@SETTINGS
@given(scored_errors())
def test_auroc_matches_sklearn(data):
    scores, errors = data
    assert auroc(scores, errors) == pytest.approx(roc_auc_score(errors.numpy(), scores.numpy()), abs=1e-6)


@SETTINGS
@given(scored_errors())
def test_auprc_matches_sklearn(data):
    scores, errors = data
    expected = average_precision_score(errors.numpy(), scores.numpy())
    assert auprc(scores, errors) == pytest.approx(expected, abs=1e-6)


def test_auroc_auprc_seeded_large_random():
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        n = 2000
        errors = torch.rand(n, generator=gen) < 0.3
        scores = torch.randn(n, generator=gen) + errors.float()  # informative
        scores = torch.round(scores * 20) / 20  # plenty of ties
        assert auroc(scores, errors) == pytest.approx(roc_auc_score(errors, scores), abs=1e-6)
        assert auprc(scores, errors) == pytest.approx(average_precision_score(errors, scores), abs=1e-6)


def test_unbounded_scores_are_not_squashed_into_ties():
    # torchmetrics would sigmoid these (outside [0, 1]); in float32 sigmoid(30..45) are all 1.0.
    scores = torch.tensor([30.0, 35.0, 40.0, 45.0], dtype=torch.float32)
    errors = torch.tensor([False, False, True, True])
    assert auroc(scores, errors) == 1.0
    assert auprc(scores, errors) == 1.0
    assert auroc(-scores, errors) == 0.0


def test_return_types_are_python_floats():
    scores, errors = torch.tensor([0.1, 0.7, 0.3]), torch.tensor([False, True, True])
    for fn in (auroc, auprc, aurc, augrc):
        assert type(fn(scores, errors)) is float
    assert all(type(v) is float for v in prr(scores, errors))


# --------------------------------------------------------------------------- degenerate inputs


@pytest.mark.parametrize("all_wrong", [False, True])
def test_degenerate_inputs_give_nan_not_exceptions(all_wrong):
    scores = torch.tensor([0.3, 0.1, 0.9, 0.5])
    errors = torch.full((4,), all_wrong)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no torchmetrics "no positive samples" warnings either
        assert math.isnan(auroc(scores, errors))
        assert all(math.isnan(v) for v in prr(scores, errors))
        assert aurc(scores, errors) == float(all_wrong)
        assert augrc(scores, errors) == (0.5 if all_wrong else 0.0)
        if all_wrong:
            assert auprc(scores, errors) == 1.0  # precision is 1 at every threshold
        else:
            assert math.isnan(auprc(scores, errors))
        metrics = failure_detection_metrics(scores, errors, "msp")
    assert len(metrics) == 6


def test_empty_input_gives_nan():
    scores, errors = torch.zeros(0), torch.zeros(0, dtype=torch.bool)
    for fn in (auroc, auprc, aurc, augrc):
        assert math.isnan(fn(scores, errors))
    assert all(math.isnan(v) for v in prr(scores, errors))
    coverage, risk, thresholds = risk_coverage_curve(scores, errors)
    assert coverage.numel() == risk.numel() == thresholds.numel() == 0


def test_input_validation():
    with pytest.raises(ValueError, match="length"):
        auroc(torch.zeros(3), torch.zeros(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="NaN"):
        aurc(torch.tensor([0.1, float("nan")]), torch.tensor([True, False]))
    with pytest.raises(ValueError, match="boolean"):
        aurc(torch.tensor([0.1, 0.2]), torch.tensor([0.5, 1.0]))
    with pytest.raises(ValueError, match="1-D"):
        aurc(torch.zeros(2, 2), torch.zeros(2, 2, dtype=torch.bool))
    # 0/1 integer errors are accepted and mean the same as bools
    s = torch.tensor([0.1, 0.4, 0.2, 0.8])
    assert aurc(s, torch.tensor([0, 1, 0, 1])) == aurc(s, torch.tensor([False, True, False, True]))


# --------------------------------------------------------------------------- risk-coverage curve


def test_risk_coverage_curve_hand_case_with_ties():
    scores = torch.tensor([0.9, 0.2, 0.1, 0.2, 0.5, 0.5])
    errors = torch.tensor([True, True, False, False, True, False])
    coverage, risk, thresholds = risk_coverage_curve(scores, errors)
    torch.testing.assert_close(thresholds, torch.tensor([0.1, 0.2, 0.5, 0.9]))
    torch.testing.assert_close(coverage, torch.tensor([1 / 6, 3 / 6, 5 / 6, 1.0], dtype=torch.float64))
    torch.testing.assert_close(risk, torch.tensor([0.0, 1 / 3, 2 / 5, 3 / 6], dtype=torch.float64))


@SETTINGS
@given(scored_errors(min_size=1, need_both=False))
def test_risk_coverage_curve_matches_brute_force(data):
    scores, errors = data
    coverage, risk, thresholds = risk_coverage_curve(scores, errors)
    distinct = sorted(set(scores.tolist()))
    assert thresholds.tolist() == distinct
    for t, c, r in zip(distinct, coverage.tolist(), risk.tolist(), strict=True):
        accepted = scores <= t
        assert c == pytest.approx(accepted.double().mean().item())
        assert r == pytest.approx(errors[accepted].double().mean().item())
    assert coverage[-1].item() == 1.0


# --------------------------------------------------------------------------- AURC


def test_aurc_hand_case():
    scores = torch.tensor([0.1, 0.2, 0.2, 0.9])
    errors = torch.tensor([False, True, False, True])
    # k=1: 0; the tie group {0.2} (1 error in 2) gives expected risks 0.5/2 and 1/3; k=4: 2/4
    assert aurc(scores, errors) == pytest.approx((0 + 0.25 + 1 / 3 + 0.5) / 4)


def test_aurc_without_ties_is_geifman_mean_of_selective_risks():
    gen = torch.Generator().manual_seed(1)
    for _ in range(10):
        scores = torch.rand(50, generator=gen, dtype=torch.float64)
        errors = torch.rand(50, generator=gen) < 0.4
        order = torch.argsort(scores)
        assert aurc(scores, errors) == pytest.approx(_aurc_geifman(errors[order].tolist()), abs=1e-12)


def test_aurc_with_ties_equals_brute_force_mean_over_tie_breaking_orders():
    gen = torch.Generator().manual_seed(2)
    for _ in range(30):
        n = int(torch.randint(2, 8, (1,), generator=gen))
        scores = torch.randint(0, 3, (n,), generator=gen).double()
        errors = torch.rand(n, generator=gen) < 0.5
        expected = _mean_over_tie_breaks(scores, errors, _aurc_geifman)
        assert aurc(scores, errors) == pytest.approx(expected, abs=1e-12)
        # tie handling makes the value independent of input order
        perm = torch.randperm(n, generator=gen)
        assert aurc(scores[perm], errors[perm]) == pytest.approx(aurc(scores, errors), abs=1e-12)


@pytest.mark.parametrize(("n", "n_err"), [(1, 1), (5, 2), (10, 3), (7, 7), (20, 1)])
def test_aurc_oracle_is_discrete_closed_form(n, n_err):
    errors = torch.zeros(n, dtype=torch.bool)
    errors[:n_err] = True
    distinct_oracle = torch.arange(n, dtype=torch.float64) * -1.0  # errors get the highest scores
    tied_oracle = errors.double()  # perfectly separating but heavily tied
    expected = _aurc_oracle(n, n_err)
    assert aurc(distinct_oracle, errors) == pytest.approx(expected, abs=1e-12)
    assert aurc(tied_oracle, errors) == pytest.approx(expected, abs=1e-12)


def test_aurc_oracle_approaches_continuous_closed_form():
    n, r = 100_000, 0.2
    errors = torch.arange(n) < int(r * n)
    continuous = r + (1 - r) * math.log(1 - r)  # Geifman et al. 2019
    assert aurc(errors.double(), errors) == pytest.approx(continuous, abs=1e-4)


def test_constant_score_gives_random_aurc():
    errors = torch.tensor([True, False, False, True, False])
    assert aurc(torch.zeros(5), errors) == pytest.approx(2 / 5)


# --------------------------------------------------------------------------- AUGRC


def test_augrc_hand_case():
    scores = torch.tensor([0.1, 0.2, 0.2, 0.9])
    errors = torch.tensor([False, True, False, True])
    # points (0,0) (.25,0) (.75,.25) (1,.5): 0 + .5*.125 + .25*.375
    assert augrc(scores, errors) == pytest.approx(5 / 32)


@SETTINGS
@given(scored_errors())
def test_augrc_identity_with_sklearn_auroc(data):
    # Traub et al. 2024: AUGRC = err * (acc * (1 - AUROC) + err / 2), exact with ties as one half
    scores, errors = data
    err = errors.double().mean().item()
    expected = err * ((1 - err) * (1 - roc_auc_score(errors.numpy(), scores.numpy())) + err / 2)
    assert augrc(scores, errors) == pytest.approx(expected, abs=1e-12)


def test_augrc_with_ties_equals_brute_force_mean_over_tie_breaking_orders():
    gen = torch.Generator().manual_seed(3)
    for _ in range(30):
        n = int(torch.randint(2, 8, (1,), generator=gen))
        scores = torch.randint(0, 3, (n,), generator=gen).double()
        errors = torch.rand(n, generator=gen) < 0.5
        expected = _mean_over_tie_breaks(scores, errors, _augrc_trapezoid)
        assert augrc(scores, errors) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("n", "n_err"), [(4, 1), (10, 3), (9, 9)])
def test_augrc_oracle(n, n_err):
    errors = torch.arange(n) < n_err
    assert augrc(errors.double(), errors) == pytest.approx(0.5 * (n_err / n) ** 2, abs=1e-12)


# --------------------------------------------------------------------------- PRR


def test_prr_hand_case():
    scores = torch.tensor([0.1, 0.2, 0.2, 0.9])
    errors = torch.tensor([False, True, False, True])
    ar_score, ar_random, ar_oracle = 13 / 48, 1 / 2, (1 / 3 + 2 / 4) / 4
    normalized, raw = prr(scores, errors)
    assert raw == pytest.approx(ar_random - ar_score)
    assert normalized == pytest.approx((ar_random - ar_score) / (ar_random - ar_oracle))
    assert normalized == pytest.approx(11 / 14)


def test_prr_oracle_random_reversed():
    gen = torch.Generator().manual_seed(4)
    n = 200
    errors = torch.rand(n, generator=gen) < 0.3
    oracle = errors.double() + 0.01 * torch.rand(n, generator=gen, dtype=torch.float64)
    assert prr(oracle, errors)[0] == pytest.approx(1.0, abs=1e-12)
    assert prr(errors.double(), errors)[0] == pytest.approx(1.0, abs=1e-12)  # tied oracle
    assert prr(torch.zeros(n), errors) == (pytest.approx(0.0, abs=1e-12), pytest.approx(0.0, abs=1e-12))
    assert prr(-oracle, errors)[0] < -0.5
    random = [prr(torch.rand(n, generator=gen), errors)[0] for _ in range(200)]
    assert abs(float(np.mean(random))) < 0.05


@SETTINGS
@given(scored_errors())
def test_prr_raw_is_random_minus_score_area(data):
    scores, errors = data
    normalized, raw = prr(scores, errors)
    n, n_err = errors.numel(), int(errors.sum())
    assert raw == pytest.approx(n_err / n - aurc(scores, errors), abs=1e-12)
    assert normalized <= 1.0 + 1e-12
    assert normalized * (n_err / n - _aurc_oracle(n, n_err)) == pytest.approx(raw, abs=1e-12)


# --------------------------------------------------------------------------- dict of metrics


def test_failure_detection_metrics_keys():
    scores = torch.tensor([0.1, 0.2, 0.2, 0.9])
    errors = torch.tensor([False, True, False, True])
    names = ["auroc", "auprc", "prr", "prr_raw", "aurc", "augrc"]
    plain = failure_detection_metrics(scores, errors, "u_sua")
    assert set(plain) == {f"fd/{m}/u_sua" for m in names}
    cond = failure_detection_metrics(scores, errors, "u_sua", condition="perturbed")
    assert set(cond) == {f"fd/{m}/u_sua/perturbed" for m in names}
    assert cond["fd/aurc/u_sua/perturbed"] == plain["fd/aurc/u_sua"] == pytest.approx(13 / 48)
    assert plain["fd/prr/u_sua"] == pytest.approx(11 / 14)
    assert all(type(v) is float for v in cond.values())
