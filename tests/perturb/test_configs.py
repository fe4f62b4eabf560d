"""Every conf/perturbation/*.yaml instantiates (plain OmegaConf and Hydra composition)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf

from sua_exp.perturb import Mixture, Perturbation

CONF = Path(__file__).resolve().parents[2] / "conf" / "perturbation"
YAMLS = sorted(p.stem for p in CONF.glob("*.yaml"))

EXPECTED_NAMES = {
    "keyboard_typo": "keyboard_typo",
    "char_insert": "char_insert",
    "char_delete": "char_delete",
    "char_swap": "char_swap",
    "ocr": "ocr",
    "case": "case",
    "synonym": "synonym",
    "word_deletion": "word_deletion",
    "word_repetition": "word_repetition",
    "local_shuffle": "local_shuffle",
    "misspelling": "misspelling",
    "disfluency": "disfluency",
    "distractor": "distractor",
    "default": "mix-keyboard_typo-word_deletion",
}


def test_all_expected_yamls_exist():
    assert set(EXPECTED_NAMES) <= set(YAMLS)


@pytest.mark.parametrize("stem", [s for s in YAMLS if s != "default"])
def test_yaml_instantiates_with_omegaconf(stem, pdata, sentences):
    node = OmegaConf.load(CONF / f"{stem}.yaml")
    assert "defaults" not in node
    cfg = OmegaConf.merge({"paths": {"data_dir": str(pdata)}}, {"perturbation": node})
    p = instantiate(cfg.perturbation)
    assert isinstance(p, Perturbation)
    assert p.name == EXPECTED_NAMES.get(stem, p.name)
    assert p.seed == 0
    out = p(sentences[:20], seed=1)
    assert sum(o != s for o, s in zip(out, sentences[:20], strict=True)) >= 15


@pytest.mark.parametrize("stem", YAMLS)
def test_yaml_composes_with_hydra(stem, pdata, sentences):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF.parent), version_base="1.3"):
        cfg = compose(overrides=[f"+perturbation={stem}", f"+paths.data_dir={pdata}"])
    GlobalHydra.instance().clear()
    p = instantiate(cfg.perturbation)
    assert isinstance(p, Perturbation) and p.name == EXPECTED_NAMES.get(stem, p.name)
    nb = p.neighbourhood(sentences[:5], 2, seed=3)
    assert len(nb) == 5 and all(len(r) == 2 for r in nb)


def test_default_is_alternating_typo_and_deletion(pdata, sentences):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF.parent), version_base="1.3"):
        cfg = compose(
            overrides=[
                "+perturbation=default",
                f"+paths.data_dir={pdata}",
                "perturbation.steps.keyboard_typo.rate=0.2",
            ]
        )
    GlobalHydra.instance().clear()
    p = instantiate(cfg.perturbation)
    assert isinstance(p, Mixture) and p.mode == "cycle"
    assert [s.name for s in p.steps] == ["keyboard_typo", "word_deletion"]
    assert p.steps[0].rate == 0.2
    assert p.steps[0].keyboard_file == str(pdata / "lexicon" / "keyboard_en.json")
    views = p.neighbourhood(sentences[:3], 4)
    for s, row in zip(sentences[:3], views, strict=True):
        assert len(row[0]) == len(s) and len(row[2]) == len(s)
        assert len(row[1].split()) < len(s.split()) and len(row[3].split()) < len(s.split())
