"""The Abstainer class: fit/apply/report, validation naming the config key, YAML configs."""

from __future__ import annotations

import math
from pathlib import Path

import hydra
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from sua_exp.abstain import Abstainer

ABSTAIN_DIR = Path(__file__).resolve().parents[2] / "conf" / "abstain"


def test_coverage_mode_fit_apply_report():
    s = np.arange(1, 11) / 10
    e = np.array([0, 0, 0, 1, 0, 0, 1, 0, 1, 1])
    rule = Abstainer(mode="coverage", target_coverage=0.8).fit(s, e)
    assert rule.tau == pytest.approx(0.8)
    assert rule.apply(s).tolist() == [True] * 8 + [False] * 2
    rep = rule.report(s, e)
    assert rep["abstain/tau"] == pytest.approx(0.8)
    assert rep["abstain/coverage"] == pytest.approx(0.8)
    assert rep["abstain/risk"] == pytest.approx(2 / 8)
    assert rep["abstain/target_coverage"] == 0.8
    assert rep["abstain/cal_coverage"] == pytest.approx(0.8)
    assert rep["abstain/n"] == 10 and rep["abstain/n_accepted"] == 8
    # errors are optional in coverage mode; tensors work too
    rule2 = Abstainer(mode="coverage", target_coverage=0.5).fit(torch.tensor(s))
    assert rule2.apply(torch.tensor([0.1, 0.6, float("nan")])).tolist() == [True, False, False]


def test_risk_mode_report_keys_and_abstain_all():
    rng = np.random.default_rng(0)
    s = rng.uniform(size=1000)
    e = (rng.uniform(size=1000) < s).astype(bool)
    rule = Abstainer(mode="risk", alpha=0.1, delta=0.1, score="msp").fit(s, e)
    rep = rule.report(s, e)
    for key in ("abstain/tau", "abstain/coverage", "abstain/risk", "abstain/target_alpha", "abstain/delta"):
        assert key in rep
    assert rep["abstain/target_alpha"] == 0.1 and rep["abstain/risk_violated"] in (0.0, 1.0)
    assert 0 < rep["abstain/coverage"] < 0.3
    never = Abstainer(mode="risk", alpha=0.1, delta=0.1).fit(s, np.ones(1000, dtype=bool))
    rep = never.report(s, e)
    assert rep["abstain/tau"] == -math.inf and rep["abstain/coverage"] == 0 and rep["abstain/risk"] == 0


def test_unfitted_and_missing_errors():
    with pytest.raises(RuntimeError, match="fit"):
        Abstainer().apply([0.1])
    with pytest.raises(ValueError, match="errors"):
        Abstainer(mode="risk").fit([0.1, 0.2])


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"mode": "oracle"}, r"abstain\.mode"),
        ({"target_coverage": 0.0}, r"abstain\.target_coverage must be in \(0, 1\], got 0"),
        ({"target_coverage": 1.5}, r"abstain\.target_coverage"),
        ({"alpha": 0.0}, r"abstain\.alpha must be in \(0, 1\]"),
        ({"alpha": -0.1}, r"abstain\.alpha"),
        ({"delta": 0.0}, r"abstain\.delta must be in \(0, 1\)"),
        ({"delta": 1.0}, r"abstain\.delta"),
        ({"alpha": float("nan")}, r"abstain\.alpha"),
        ({"score": ""}, r"abstain\.score"),
    ],
)
def test_invalid_values_name_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        Abstainer(**kwargs)


@pytest.mark.parametrize("path", sorted(ABSTAIN_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_abstain_yaml_instantiates(path):
    rule = hydra.utils.instantiate(OmegaConf.load(path))
    assert isinstance(rule, Abstainer) and rule.score == "u_sua"


def test_abstain_yaml_values():
    cov = hydra.utils.instantiate(OmegaConf.load(ABSTAIN_DIR / "coverage.yaml"))
    risk = hydra.utils.instantiate(OmegaConf.load(ABSTAIN_DIR / "risk.yaml"))
    assert cov.mode == "coverage" and cov.target_coverage == 0.8
    assert risk.mode == "risk" and risk.alpha == 0.1 and risk.delta == 0.1
    cfg = OmegaConf.load(ABSTAIN_DIR / "risk.yaml")
    cfg.grid = [0.1, 0.2, 0.3]
    assert hydra.utils.instantiate(cfg).grid == [0.1, 0.2, 0.3]
