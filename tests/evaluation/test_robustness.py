"""Robustness metrics and attack success rate: hand cases."""

from __future__ import annotations

import math

import pytest
import torch

from sua_exp.evaluation import attack_success_rate, robustness_metrics


def test_robustness_metrics_hand_case():
    labels = torch.tensor([0, 1, 2, 1])
    pred_clean = torch.tensor([0, 1, 2, 0])  # 3/4 correct
    pred_views = torch.tensor(
        [
            [0, 0, 0],  # all views correct, no flip
            [1, 2, 1],  # one view wrong -> flip, not worst-correct
            [2, 2, 2],  # fine
            [1, 1, 1],  # clean wrong, views right -> flip, not worst-correct
        ]
    )
    out = robustness_metrics(pred_clean, pred_views, labels, view_names=["typo", "synonym", "typo"])
    assert out == {
        "rob/acc/clean": pytest.approx(0.75),
        "rob/acc/worst": pytest.approx(0.5),
        "rob/flip_rate": pytest.approx(0.5),
        "rob/acc/typo": pytest.approx(1.0),  # columns 0 and 2: 8/8 correct
        "rob/acc/synonym": pytest.approx(0.75),
    }
    assert all(type(v) is float for v in out.values())


def test_robustness_metrics_without_names_and_flip_on_wrong_to_wrong():
    labels = torch.tensor([0, 0])
    pred_clean = torch.tensor([1, 0])
    pred_views = torch.tensor([[2], [0]])  # wrong -> differently wrong is still a flip
    out = robustness_metrics(pred_clean, pred_views, labels)
    assert set(out) == {"rob/acc/clean", "rob/acc/worst", "rob/flip_rate"}
    assert out["rob/flip_rate"] == 0.5
    assert out["rob/acc/worst"] == 0.5


def test_robustness_metrics_validation_and_empty():
    labels = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="view_names"):
        robustness_metrics(labels, torch.zeros(2, 2, dtype=torch.long), labels, view_names=["a"])
    with pytest.raises(ValueError, match="clash"):
        robustness_metrics(labels, torch.zeros(2, 1, dtype=torch.long), labels, view_names=["worst"])
    with pytest.raises(ValueError, match="pred_views"):
        robustness_metrics(labels, torch.zeros(3, 1, dtype=torch.long), labels)
    e = torch.zeros(0, dtype=torch.long)
    out = robustness_metrics(e, torch.zeros(0, 2, dtype=torch.long), e, view_names=["a", "a"])
    assert set(out) == {"rob/acc/clean", "rob/acc/worst", "rob/flip_rate", "rob/acc/a"}
    assert all(math.isnan(v) for v in out.values())


def test_attack_success_rate_textattack_definition():
    orig = torch.tensor([True, True, True, False, False])
    attacked = torch.tensor([False, True, False, False, True])
    # originally wrong inputs are skipped; 2 successful, 1 failed
    assert attack_success_rate(orig, attacked) == pytest.approx(2 / 3)
    assert attack_success_rate(torch.tensor([True, True]), torch.tensor([True, True])) == 0.0
    assert math.isnan(attack_success_rate(torch.tensor([False, False]), torch.tensor([False, True])))
    with pytest.raises(ValueError):
        attack_success_rate(torch.tensor([True]), torch.tensor([True, False]))
