"""risk@coverage / coverage@risk hand cases."""

from __future__ import annotations

import math

import pytest
import torch

from sua_exp.evaluation import coverage_at_risk, risk_at_coverage, selective_metrics

SCORES = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
ERRORS = torch.tensor([False, False, False, True, False, False, True, False, True, True])


def test_risk_at_coverage_hand_cases():
    assert risk_at_coverage(SCORES, ERRORS, 0.3) == 0.0
    assert risk_at_coverage(SCORES, ERRORS, 0.4) == pytest.approx(1 / 4)
    assert risk_at_coverage(SCORES, ERRORS, 0.7) == pytest.approx(2 / 7)  # 0.7 * 10 = 7.000000000000001
    assert risk_at_coverage(SCORES, ERRORS, 0.8) == pytest.approx(2 / 8)
    assert risk_at_coverage(SCORES, ERRORS, 0.75) == pytest.approx(2 / 8)  # ceil(7.5) = 8
    assert risk_at_coverage(SCORES, ERRORS, 1.0) == pytest.approx(4 / 10)
    assert risk_at_coverage(SCORES, ERRORS, 0.01) == 0.0  # at least one input is accepted


def test_risk_at_coverage_is_order_free_of_input_permutation_without_ties():
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(0))
    assert risk_at_coverage(SCORES[perm], ERRORS[perm], 0.7) == risk_at_coverage(SCORES, ERRORS, 0.7)


def test_risk_at_coverage_breaks_ties_by_stable_order():
    scores = torch.tensor([0.5, 0.1, 0.5, 0.9])
    # accepting 2 of 4: the 0.1 input, then the first 0.5 input in tensor order
    assert risk_at_coverage(scores, torch.tensor([True, False, False, False]), 0.5) == 0.5
    assert risk_at_coverage(scores, torch.tensor([False, False, True, False]), 0.5) == 0.0


def test_coverage_at_risk_hand_cases():
    # selective risks at k = 1..10: 0,0,0,1/4,1/5,1/6,2/7,2/8,3/9,4/10
    assert coverage_at_risk(SCORES, ERRORS, 0.0) == pytest.approx(0.3)
    assert coverage_at_risk(SCORES, ERRORS, 0.2) == pytest.approx(0.6)  # 1/5 counts as <= 0.2
    assert coverage_at_risk(SCORES, ERRORS, 0.25) == pytest.approx(0.8)  # non-monotone curve: largest
    assert coverage_at_risk(SCORES, ERRORS, 0.4) == pytest.approx(1.0)


def test_coverage_at_risk_boundary_and_none():
    scores = torch.arange(20, dtype=torch.float32)
    errors = torch.zeros(20, dtype=torch.bool)
    errors[-1] = True
    assert coverage_at_risk(scores, errors, 0.05) == 1.0  # risk exactly 1/20 at full coverage
    assert coverage_at_risk(scores.flip(0), errors, 0.04) == 0.0  # the first accepted is wrong


def test_coverage_at_risk_keeps_ties_together():
    scores = torch.tensor([0.1, 0.2, 0.2, 0.2, 0.9])
    errors = torch.tensor([False, False, True, False, True])
    # thresholds: 0.1 -> risk 0 (cov .2); 0.2 -> 1/4 (cov .8); 0.9 -> 2/5
    assert coverage_at_risk(scores, errors, 0.2) == pytest.approx(0.2)
    assert coverage_at_risk(scores, errors, 0.25) == pytest.approx(0.8)


def test_validation_and_empty():
    with pytest.raises(ValueError, match="coverage"):
        risk_at_coverage(SCORES, ERRORS, 0.0)
    with pytest.raises(ValueError, match="coverage"):
        risk_at_coverage(SCORES, ERRORS, 1.5)
    with pytest.raises(ValueError, match="risk"):
        coverage_at_risk(SCORES, ERRORS, -0.1)
    empty_s, empty_e = torch.zeros(0), torch.zeros(0, dtype=torch.bool)
    assert math.isnan(risk_at_coverage(empty_s, empty_e, 0.8))
    assert math.isnan(coverage_at_risk(empty_s, empty_e, 0.05))


def test_selective_metrics_keys():
    out = selective_metrics(SCORES, ERRORS, "u_sua")
    assert out == {"sc/risk@0.8/u_sua": pytest.approx(0.25), "sc/cov@0.05/u_sua": pytest.approx(0.3)}
    out = selective_metrics(SCORES, ERRORS, "msp", coverages=(0.5, 0.9), risks=(0.1, 0.25), condition="clean")
    assert set(out) == {
        "sc/risk@0.5/msp/clean",
        "sc/risk@0.9/msp/clean",
        "sc/cov@0.1/msp/clean",
        "sc/cov@0.25/msp/clean",
    }
    assert all(type(v) is float for v in out.values())
