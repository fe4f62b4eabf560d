"""The evaluation runner: independence rule, recompute from the per-example file, low-level API."""

from __future__ import annotations

import math

import pytest
import torch

from sua_exp import core, score_texts, sua_scores
from sua_exp.data.classification import ClassificationExample
from sua_exp.evaluation.runner import (
    EvaluationSeeds,
    compute_metrics,
    evaluate_classification,
    tensors_from_rows,
)
from sua_exp.perturb import WordDeletion
from sua_exp.scores import ScoreSuite, ScoringInputs


class RecordingPerturbation(WordDeletion):
    """Word deletion that records which texts and seeds each neighbourhood was built from."""

    def __init__(self) -> None:
        super().__init__(rate=0.3)
        self.calls: list[tuple[tuple[str, ...], int, int]] = []

    def neighbourhood(self, texts, num_views, seed=None):
        self.calls.append((tuple(texts), num_views, seed))
        return super().neighbourhood(texts, num_views, seed=seed)


def length_model(texts, pairs=None):
    """A deterministic toy classifier: p(class 1) grows with the number of words."""
    n_words = torch.tensor([len(t.split()) for t in texts], dtype=torch.float32)
    p1 = torch.sigmoid(n_words - 6.0)
    return torch.stack([1 - p1, p1], dim=-1)


def mc_model(texts, pairs, samples, seed):
    gen = torch.Generator().manual_seed(seed)
    base = length_model(texts)
    noise = 0.2 * torch.randn(len(texts), samples, 1, generator=gen)
    p1 = (base[:, None, 1:] + noise).clamp(0, 1)
    return torch.cat([1 - p1, p1], dim=-1)


EXAMPLES = [
    ClassificationExample(
        id=f"e{i}", text=" ".join(f"word{j}" for j in range(3 + i % 8)), label=int(i % 3 == 0)
    )
    for i in range(60)
]


def test_independence_rule_seeds_and_inputs():
    seeds = EvaluationSeeds.from_run_seed(7)
    assert len({seeds.failure, seeds.score, seeds.mc}) == 3
    pert = RecordingPerturbation()
    suite = ScoreSuite(num_views=3, alpha=1.0)
    _, rows = evaluate_classification(length_model, EXAMPLES, pert, suite, seed=7)
    (fail_texts, m_fail, fail_seed), (clean_texts, _, score_seed_1), (seen_texts, _, score_seed_2) = (
        pert.calls
    )
    clean = tuple(ex.text for ex in EXAMPLES)
    x_seen = tuple(r["perturbed"]["text"] for r in rows)
    # failures are defined by the failure stream; scores by the score stream; never the same seed
    assert fail_seed == seeds.failure and score_seed_1 == score_seed_2 == seeds.score != fail_seed
    assert fail_texts == clean_texts == clean
    # in the perturbed condition the scoring neighbourhood comes from x', the input the model sees
    assert seen_texts == x_seen and x_seen != clean


def test_recompute_from_rows_reproduces_metrics():
    suite = ScoreSuite(num_views=3, alpha=0.5, mc_samples=4)
    metrics, rows = evaluate_classification(
        length_model, EXAMPLES, WordDeletion(rate=0.3), suite, seed=1, sample=mc_model
    )
    again = compute_metrics(tensors_from_rows(rows), suite)
    assert again.keys() == metrics.keys()
    for key, value in metrics.items():
        assert again[key] == pytest.approx(value, abs=1e-6, nan_ok=True), key
    assert "fd/auroc/self_consistency" in metrics and "fd/auroc/mutual_info/perturbed" in metrics
    # a new score setting costs no forward pass: max-aggregated JS from the same rows
    js = compute_metrics(tensors_from_rows(rows), ScoreSuite(num_views=3, divergence="js", aggregation="max"))
    assert js["fd/auroc/sensitivity"] != metrics["fd/auroc/sensitivity"]


def test_alpha_auto_is_fitted_on_validation_and_logged():
    suite = ScoreSuite(num_views=3, alpha="auto", alpha_grid=[0.0, 1.0, 4.0])
    metrics, _ = evaluate_classification(
        length_model, EXAMPLES[:40], WordDeletion(rate=0.3), suite, seed=0, val_examples=EXAMPLES[40:]
    )
    assert metrics["score/alpha"] in (0.0, 1.0, 4.0)
    with pytest.raises(ValueError, match="validation"):
        evaluate_classification(length_model, EXAMPLES, WordDeletion(rate=0.3), suite, seed=0)


def test_fit_alpha_prefers_the_alpha_that_detects_failures():
    # errors are exactly the inputs with high sensitivity and low entropy: alpha > 0 must win
    p = torch.tensor([[0.95, 0.05]] * 20)
    views = p.unsqueeze(1).repeat(1, 2, 1)
    views[:10] = torch.tensor([0.05, 0.95])  # unstable but confident
    errors = torch.zeros(20, dtype=torch.bool)
    errors[:10] = True
    fitted = ScoreSuite(num_views=2, alpha="auto").fit_alpha(ScoringInputs(p, views), errors)
    assert fitted.alpha > 0


def test_certificate_holds_on_evaluations():
    suite = ScoreSuite(num_views=4, aggregation="max", alpha=1.0)
    metrics, _ = evaluate_classification(length_model, EXAMPLES, WordDeletion(rate=0.4), suite, seed=5)
    assert metrics["cert/r_worst"] <= metrics["cert/bound"] <= metrics["cert/markov_bound"]


def test_low_level_api_matches_core():
    pert = WordDeletion(rate=0.3)
    texts = [ex.text for ex in EXAMPLES[:10]]
    out = score_texts(lambda t: length_model(t), texts, pert, num_views=3, seed=2)
    direct = sua_scores(out["probs"], out["view_probs"])
    for name in ("msp", "entropy", "sensitivity", "sua", "u_sua"):
        assert torch.allclose(out[name], direct[name])
    s = core.sensitivity(out["probs"], out["view_probs"])
    assert torch.allclose(out["u_sua"], torch.maximum(core.normalized_entropy(out["probs"]), s))


def test_sampling_scores_hand_values():
    samples = torch.tensor([[[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]])
    assert core.self_consistency_score(samples).item() == pytest.approx(0.25)
    mean = samples.mean(1)
    expected = (core.entropy(mean) - core.entropy(samples).mean(1)).item()
    assert core.mutual_information(samples).item() == pytest.approx(expected)
    same = torch.tensor([[[0.7, 0.3]] * 3])
    assert core.mutual_information(same).item() == pytest.approx(0.0, abs=1e-7)
    assert not math.isnan(core.mutual_information(torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])).item())


def test_adversarial_condition_with_the_greedy_attack(data_dir):
    from sua_exp.perturb import GreedyWordSubstitution

    attack = GreedyWordSubstitution(wordnet_dir=str(data_dir / "lexicon" / "wordnet"), max_queries=50)

    def synonym_sensitive(texts, pairs=None):  # "good" and its synonyms push class 1 differently
        p1 = torch.tensor([0.8 if "good" in t.split() else 0.3 for t in texts])
        return torch.stack([1 - p1, p1], dim=-1)

    examples = [
        ClassificationExample(id=f"a{i}", text=f"we had a good day at the park number {i}", label=1)
        for i in range(6)
    ]
    examples += [ClassificationExample(id="w", text="a bad day", label=1)]  # already wrong: skipped
    suite = ScoreSuite(num_views=2, alpha=1.0)
    metrics, rows = evaluate_classification(
        synonym_sensitive, examples, WordDeletion(rate=0.3), suite, seed=0, attack=attack
    )
    assert metrics["rob/asr"] == 1.0  # every correct input flipped by swapping "good" for a synonym
    assert metrics["task/acc/adversarial"] == 0.0
    assert "fd/auroc/u_sua/adversarial" in metrics
    assert rows[-1]["adversarial"]["skipped"] and rows[0]["adversarial"]["text"] != examples[0].text
    again = compute_metrics(tensors_from_rows(rows), suite)
    assert again["rob/asr"] == metrics["rob/asr"]


def test_ambiguity_metrics_hand_values():
    from sua_exp.evaluation.ambiguity import ambiguity_metrics, collapse_errors

    probs = torch.tensor([[0.95, 0.05, 0.0], [0.5, 0.5, 0.0], [0.1, 0.1, 0.8]])
    valid = torch.tensor([[True, True, False]] * 3)
    m = ambiguity_metrics(probs, valid, tau_c=0.9)
    assert m["amb/collapse_rate"] == pytest.approx(1 / 3)
    assert m["amb/mass_on_valid"] == pytest.approx((1.0 + 1.0 + 0.2) / 3)
    expected_gap = (3 * math.log(2) - (core.entropy(probs).sum().item())) / 3
    assert m["amb/entropy_gap"] == pytest.approx(expected_gap, rel=1e-6)
    assert collapse_errors(probs, valid).tolist() == [True, False, True]  # collapse; fine; outside V
    assert m["amb/js_to_human"] == pytest.approx(core.js_divergence(valid.float() / 2, probs).mean().item())


def test_ambiguous_condition_on_mixtures():
    from sua_exp.perturb.ambiguity import mix_pairs

    mixtures = mix_pairs(EXAMPLES, 20, seed=0)
    suite = ScoreSuite(num_views=2, alpha=1.0)
    metrics, _ = evaluate_classification(
        length_model, EXAMPLES, WordDeletion(rate=0.3), suite, seed=0, ambiguous_examples=mixtures
    )
    assert metrics["amb/num_examples"] == 20
    assert 0.0 <= metrics["amb/collapse_rate"] <= 1.0
    assert "fd/auroc/u_sua/ambiguous" in metrics


def test_chunked_streaming_evaluation_equals_one_pass(tmp_path):
    import json

    suite = ScoreSuite(num_views=3, alpha=1.0)
    one, rows = evaluate_classification(length_model, EXAMPLES, WordDeletion(rate=0.3), suite, seed=4)
    path = tmp_path / "per_example.jsonl"
    chunked, streamed = evaluate_classification(
        length_model, EXAMPLES, WordDeletion(rate=0.3), suite, seed=4, rows_path=path, chunk_size=7
    )
    assert streamed == []  # rows went to disk, not memory
    assert chunked.keys() == one.keys()
    for key in one:
        assert chunked[key] == pytest.approx(one[key], abs=1e-9, nan_ok=True), key
    on_disk = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["id"] for r in on_disk] == [r["id"] for r in rows]
    assert on_disk[5]["perturbed"]["text"] == rows[5]["perturbed"]["text"]
    assert on_disk[5]["clean"]["S"] == pytest.approx(rows[5]["clean"]["S"])
