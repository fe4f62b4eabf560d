"""The LLM multiple-choice evaluation: every classification metric key, plus the amb/ keys."""

from __future__ import annotations

import hashlib
import json
import math

import hydra
import pytest
import torch
from helpers import compose_config

from sua_exp.data.classification import ClassificationExample
from sua_exp.evaluation.multiple_choice import (
    AmbiguityLabels,
    ambiguity_metrics,
    evaluate_llm,
    recompute_mc_metrics,
)
from sua_exp.evaluation.runner import evaluate_classification
from sua_exp.utils.components import build_eval_components

OVERRIDES = [
    "model=tiny_llama",
    "data=bbq",
    "data.max_test_samples=12",
    "data.max_val_samples=8",
    "score.num_views=2",
    "score.mc_samples=4",
    "failure_views=2",
    "extras.print_config=false",
]


def _fake_predict(texts, pairs=None):
    """Deterministic 3-class probabilities from a hash of each text (a stand-in classifier)."""
    rows = []
    for t in texts:
        h = hashlib.blake2b(t.encode(), digest_size=3).digest()
        rows.append([b / 64.0 for b in h])
    return torch.tensor(rows).softmax(-1)


@pytest.fixture(scope="module")
def llm_run(tmp_path_factory, data_dir, require_smollm2):
    out = tmp_path_factory.mktemp("llm_eval")
    cfg = compose_config("llm_eval", OVERRIDES + [f"paths.data_dir={data_dir}"], output_dir=out)
    metrics = evaluate_llm(cfg)
    return cfg, out, metrics


def test_writes_every_classification_key_plus_amb(llm_run):
    cfg, out, metrics = llm_run
    written = json.loads((out / "metrics.json").read_text())
    assert set(written) == set(metrics)
    rows = [json.loads(line) for line in (out / "per_example.jsonl").read_text().splitlines()]
    assert len(rows) == 12 == metrics["eval/num_examples"]
    # the classification runner's keys on the same config (a stand-in classifier on the questions)
    dm = hydra.utils.instantiate(cfg.data)
    dm.setup()
    as_cls = lambda exs: [ClassificationExample(id=e.id, text=e.question, label=e.label) for e in exs]  # noqa: E731
    comps = build_eval_components(cfg)
    cls_metrics, _ = evaluate_classification(
        _fake_predict,
        as_cls(dm.splits["test"]),
        comps.perturbation,
        comps.suite,
        seed=cfg.seed,
        failure_views=cfg.failure_views,
        sample=lambda t, p, n, s: _fake_predict(t).unsqueeze(1).expand(-1, n, -1),
        val_examples=as_cls(dm.splits["val"]),
        abstainer=comps.abstainer,
    )
    missing = set(cls_metrics) - set(metrics)
    assert not missing, sorted(missing)
    for key in (
        "amb/collapse_rate",
        "amb/mass_on_unknown",
        "amb/mass_on_valid",
        "amb/entropy_gap",
        "amb/collapse_rate/perturbed",
        "task/acc/ambig",
        "task/acc/disambig",
        "fd/auroc/u_sua",
        "fd/auroc/self_consistency",
        "abstain/risk/clean",
    ):
        assert key in metrics, key
    conditions = {r["condition"] for r in rows}
    assert conditions == {"ambig", "disambig"}
    assert metrics["amb/num_examples"] == sum(r["ambiguous"] for r in rows)
    assert 0.0 <= metrics["amb/collapse_rate"] <= 1.0
    for r in rows:  # padded distributions: sum to one over the example's options
        assert math.isclose(sum(r["clean"]["probs"][: r["num_choices"]]), 1.0, rel_tol=1e-5)
        assert 0.0 <= r["clean"]["Hn"] <= 1.0


def test_recompute_from_per_example_file(llm_run):
    cfg, out, metrics = llm_run
    suite = hydra.utils.instantiate(cfg.score, alpha=metrics["score/alpha"])
    again = recompute_mc_metrics(out / "per_example.jsonl", suite, cert_t=cfg.cert_t, tau_c=cfg.tau_c)
    for key, value in again.items():
        if key.startswith("abstain/"):
            continue
        assert (math.isnan(value) and math.isnan(metrics[key])) or math.isclose(
            value, metrics[key], rel_tol=1e-5, abs_tol=1e-6
        ), key


def test_ambiguity_metrics_by_hand():
    # rows 0-2 ambiguous (unknown option 1), row 3 disambiguated; row 2 has K=2 (padded)
    probs = torch.tensor([[0.95, 0.03, 0.02], [0.2, 0.7, 0.1], [0.5, 0.5, 0.0], [0.1, 0.1, 0.8]])
    labels = torch.tensor([1, 1, 1, 2])
    amb = AmbiguityLabels(
        ambiguous=torch.tensor([True, True, True, False]),
        unknown=torch.tensor([1, 1, 1, -1]),
        conditioned=torch.ones(4, dtype=torch.bool),
    )
    m = ambiguity_metrics(probs, labels, torch.tensor([3, 3, 2, 3]), amb, tau_c=0.9)
    assert m["amb/collapse_rate"] == pytest.approx(1 / 3)
    assert m["amb/mass_on_unknown"] == pytest.approx((0.03 + 0.7 + 0.5) / 3)
    assert m["amb/mass_on_valid"] == pytest.approx((0.97 + 0.3 + 0.5) / 3)
    h = [-sum(x * math.log(x) for x in row if x > 0) for row in probs[:3].tolist()]
    gaps = [math.log(2) - h[0], math.log(2) - h[1], math.log(1) - h[2]]
    assert m["amb/entropy_gap"] == pytest.approx(sum(gaps) / 3, abs=1e-6)
    assert m["task/acc/ambig"] == pytest.approx(1 / 3) and m["task/acc/disambig"] == 1.0
    with pytest.raises(ValueError, match="tau_c"):
        ambiguity_metrics(probs, labels, torch.tensor([3, 3, 2, 3]), amb, tau_c=0.0)


def test_config_composes(tmp_path):
    for data in ("bbq", "truthfulqa_mc", "mmlu"):
        cfg = compose_config("llm_eval", [f"data={data}", "model=smollm2"], output_dir=tmp_path)
        assert cfg.model.net._target_.endswith("OptionScorer") and cfg.tau_c == 0.9
    tqa = compose_config("llm_eval", ["data=truthfulqa_mc"], output_dir=tmp_path).data
    assert tqa.shuffle_choices and set(tqa.split) == {"val", "test"}  # no train split merged in
