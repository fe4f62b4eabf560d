"""Every conf/loss/*.yaml instantiates into an Objective with plain OmegaConf + hydra instantiate."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
from omegaconf import OmegaConf

from sua_exp.objectives import SUATR, Objective

LOSS_DIR = Path(__file__).resolve().parents[2] / "conf" / "loss"
YAMLS = sorted(LOSS_DIR.glob("*.yaml"))


def test_expected_loss_configs_exist():
    names = {p.stem for p in YAMLS}
    assert {
        "ce",
        "sua_tr",
        "consistency",
        "entropy_align",
        "label_smoothing",
        "rdrop",
        "confidence_penalty",
        "temperature_scaling",
    } <= names


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.stem)
def test_loss_yaml_instantiates(path):
    obj = hydra.utils.instantiate(OmegaConf.load(path))
    assert isinstance(obj, Objective)
    assert obj.num_views >= 0


def test_baseline_configs_are_sua_tr_with_one_weight_off():
    consistency = hydra.utils.instantiate(OmegaConf.load(LOSS_DIR / "consistency.yaml"))
    align = hydra.utils.instantiate(OmegaConf.load(LOSS_DIR / "entropy_align.yaml"))
    assert isinstance(consistency, SUATR) and consistency.lambda_e == 0 and consistency.lambda_c > 0
    assert isinstance(align, SUATR) and align.lambda_c == 0 and align.lambda_e > 0
    ts = hydra.utils.instantiate(OmegaConf.load(LOSS_DIR / "temperature_scaling.yaml"))
    assert ts.post_hoc == "temperature"
    rdrop = hydra.utils.instantiate(OmegaConf.load(LOSS_DIR / "rdrop.yaml"))
    assert rdrop.needs_dropout_pass and rdrop.num_views == 1


def test_invalid_override_names_the_key():
    cfg = OmegaConf.load(LOSS_DIR / "sua_tr.yaml")
    cfg.lambda_c = -1
    with pytest.raises(Exception, match=r"loss\.lambda_c must be >= 0, got -1"):
        hydra.utils.instantiate(cfg)
