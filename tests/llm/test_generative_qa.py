"""Generative QA: sampled answers clustered by normalized text are p(.|x) (tiny Llama, seconds)."""

from __future__ import annotations

import hashlib
import json
import math

import hydra
import pytest
import torch
from helpers import CONF_DIR, compose_config
from omegaconf import OmegaConf

from sua_exp import core
from sua_exp.data.generative_qa import GenerativeQAExample, format_generative_prompt
from sua_exp.evaluation.generative_qa import (
    answer_correct,
    answer_scores,
    build_tensors,
    calibration_labels,
    evaluate_generative,
    recompute_generative_metrics,
)
from sua_exp.evaluation.multiple_choice import evaluate_llm
from sua_exp.evaluation.runner import EvaluationSeeds
from sua_exp.models.generative_qa import (
    AnswerSampler,
    cluster_key,
    cluster_views,
    grid_distributions,
    prompt_seed,
)
from sua_exp.perturb import KeyboardTypo
from sua_exp.scores import ScoreSuite, ScoringInputs

TINY_LLAMA = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "model" / "tiny_llama.yaml").net.config)
# a tiny sampler: 2-token answers at a low temperature, so samples of one prompt often agree
TINY_SAMPLING = {"num_samples": 4, "temperature": 0.3, "top_p": 1.0, "max_new_tokens": 2}
E2E = [
    "adapter=generative",
    "model=tiny_llama",
    "data.max_test_samples=4",
    "data.max_val_samples=2",
    "score.num_views=1",
    "failure_views=1",
    "generation.num_samples=3",
    "generation.max_new_tokens=2",
    "generation.temperature=0.5",
    "generation.top_p=1.0",
    "extras.print_config=false",
]


@pytest.fixture(scope="module")
def sampler(require_smollm2):
    return AnswerSampler(config=TINY_LLAMA, tokenizer="smollm2", device="cpu", **TINY_SAMPLING)


# ---------------------------------------------------------------------- clustering (no model)
def test_cluster_key_hand_cases():
    same = ["The Denver Broncos.", "denver broncos", "  Denver   Broncos!", "the denver, broncos"]
    assert {cluster_key(a) for a in same} == {"denver broncos"}
    assert cluster_key("Broncos") == "broncos" != cluster_key("Denver Broncos")
    assert cluster_key("") == cluster_key(" . ") == cluster_key("The") == ""  # the empty answer
    assert cluster_key("An apple a day") == "apple day"


def test_cluster_views_share_the_union_order():
    c = cluster_views([["Paris", "London", "paris."], ["Rome", "London", "London"], ["Paris"]])
    assert c.keys == ("paris", "london", "rome")  # first appearance: view 0, then view 1, ...
    assert c.surface[0] == "Paris"  # most frequent raw form; ties go to the first sampled
    assert c.counts.tolist() == [[2, 1, 0], [0, 2, 1], [1, 0, 0]]
    assert c.assignments == ((0, 1, 0), (2, 1, 1), (0,))
    p = c.probs()
    torch.testing.assert_close(p.sum(-1), torch.ones(3))
    torch.testing.assert_close(p[0], torch.tensor([2 / 3, 1 / 3, 0.0]))
    assert c.modal(0) == 0 and c.modal(1) == 1
    # sensitivity compares positions of the shared order: TV(view0, view1) by hand
    tv = core.total_variation(p[0], p[1])
    assert tv.item() == pytest.approx(0.5 * (2 / 3 + 1 / 3 + 1 / 3))


def test_modal_ties_go_to_the_earliest_sampled_cluster():
    c = cluster_views([["y", "x", "x", "y"], ["x", "y"]])
    assert c.keys == ("y", "x") and c.modal(0) == 0 and c.modal(1) == 0


def test_smoothing_is_add_epsilon_over_the_union():
    c = cluster_views([["x", "x", "y", "y"], ["z", "z", "z", "z"]])
    p = c.probs(smoothing=0.5)
    torch.testing.assert_close(p.sum(-1), torch.ones(2))
    expected = torch.tensor([[2.5, 2.5, 0.5], [0.5, 0.5, 4.5]]) / (4 + 0.5 * 3)
    torch.testing.assert_close(p, expected)
    assert core.kl_divergence(p[0], p[1]).isfinite()  # finite once no cluster has zero mass
    with pytest.raises(ValueError, match="smoothing"):
        c.probs(smoothing=-1.0)


def test_grid_distributions_pad_and_sum_to_one():
    grid = [
        [["a", "a", "b"], ["b", "c", "c"]],  # 3 clusters
        [["x", "x", "x"], ["x", "x", "x"]],  # 1 cluster
    ]
    d = grid_distributions(grid)
    assert d.probs.shape == (2, 2, 3) and d.samples.shape == (2, 2, 3, 3)
    torch.testing.assert_close(d.probs.sum(-1), torch.ones(2, 2))
    assert d.probs[1, :, 1:].abs().sum() == 0  # zeros beyond the input's own clusters
    assert d.num_clusters.tolist() == [3, 1]
    torch.testing.assert_close(d.samples.sum(-1), torch.ones(2, 2, 3))  # one cluster per sample
    torch.testing.assert_close(d.samples.mean(-2), d.probs)  # frequencies = mean of the one-hots


def test_self_consistency_is_the_modal_cluster_frequency():
    grid = [
        [["a", "a", "a", "b"], ["a", "b", "b", "b"]],
        [["x", "y", "z", "w"], ["x", "x", "y", "y"]],
        [["q", "q", "r", "r"], ["q", "q", "q", "q"]],
    ]
    d = grid_distributions(grid)
    inputs = ScoringInputs(d.probs[:, 0], d.probs[:, 1:], d.samples[:, 0], torch.full((3,), 4))
    scores = ScoreSuite(num_views=1, alpha=1.0, mc_samples=4).scores(inputs)
    modal_freq = torch.tensor([3 / 4, 1 / 4, 2 / 4])
    torch.testing.assert_close(scores["self_consistency"], 1.0 - modal_freq)
    torch.testing.assert_close(scores["self_consistency"], scores["msp"])  # no smoothing: 1 - max p
    # Hn divides by log M: all four answers different is maximal uncertainty
    assert scores["entropy"][1].item() == pytest.approx(1.0)
    # sensitivity: TV between the clean and the perturbed cluster distribution, per position
    torch.testing.assert_close(scores["sensitivity"], torch.tensor([0.5, 0.5, 0.5]))


def test_prompt_seed_depends_on_seed_and_prompt():
    assert prompt_seed(0, "q") == prompt_seed(0, "q")
    assert len({prompt_seed(0, "q"), prompt_seed(1, "q"), prompt_seed(0, "q ")}) == 3


# ---------------------------------------------------------------------- correctness
def _squad(*golds: str) -> GenerativeQAExample:
    return GenerativeQAExample(id="s", question="q?", context="c", answers=golds)


def _tqa(true: tuple[str, ...], false: tuple[str, ...]) -> GenerativeQAExample:
    return GenerativeQAExample(id="t", question="q?", context="", answers=true, false_answers=false)


def test_squad_correctness_is_exact_match():
    ex = _squad("Denver Broncos", "Broncos")
    assert answer_correct("the Broncos.", ex) and answer_correct("Denver broncos", ex)
    assert not answer_correct("The Denver Broncos won.", ex)
    s = answer_scores("The Denver Broncos won.", ex)
    assert s["em"] == 0.0 and s["f1"] == pytest.approx(0.8) and s["contains"] == 1.0
    assert answer_correct("The Denver Broncos won.", ex, rule="contains")
    assert not answer_correct("Broncosaurus", ex, rule="contains")  # whole tokens only


def test_truthfulqa_correctness_compares_f1_with_true_and_false_answers():
    ex = _tqa(("Nothing happens", "The seeds pass through you"), ("You grow watermelons in your stomach",))
    assert answer_correct("Nothing happens to you.", ex)
    assert not answer_correct("Watermelons grow in your stomach.", ex)
    assert not answer_correct("", ex)  # no overlap with either set: wrong
    tie = _tqa(("red apple",), ("red car",))
    assert not answer_correct("red", tie)  # equal F1: not strictly closer to the truth
    with pytest.raises(ValueError, match="false answers"):
        answer_correct("x", _squad("x"), rule="f1_vs_false")


def test_several_correct_clusters_and_calibration_labels():
    ex = _squad("Denver Broncos", "Broncos")
    # x: modal "Denver Broncos"; x': modal "Broncos" (a different cluster, also correct)
    # views: x, x' (failure view 0), a scoring view of x, a scoring view of x'
    views = [["Denver Broncos"] * 3, ["Broncos", "Broncos", "Panthers"], ["Panthers"] * 3, ["Broncos"] * 3]
    d = grid_distributions([views])
    t = build_tensors(d, [ex], failure_views=1, num_views=1)
    assert t.correct[0].tolist() == [True, True, False, False]  # last column: "other"
    assert not t.errors("clean")[0] and not t.errors("perturbed")[0] and not t.errors("worst")[0]
    p = torch.tensor([[0.2, 0.5, 0.3, 0.0], [0.6, 0.3, 0.1, 0.0], [0.1, 0.2, 0.7, 0.0]])
    mask = torch.tensor(
        [[True, False, True, False], [False, True, False, False], [False, False, False, False]]
    )
    # modal wrong -> most probable correct cluster; modal right -> itself; none -> "other"
    assert calibration_labels(p, mask).tolist() == [2, 1, 3]
    p2 = torch.tensor([[0.2, 0.1, 0.7, 0.0]])
    assert calibration_labels(p2, mask[:1]).tolist() == [2]


def test_flip_certificate_with_a_correct_answer_mask():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(64, 5, generator=g).softmax(-1)
    views = torch.rand(64, 3, 5, generator=g).mul(3).softmax(-1)
    labels = torch.randint(0, 5, (64,), generator=g)
    one_hot = torch.nn.functional.one_hot(labels, 5).bool()
    assert core.flip_certificate(p, views, one_hot) == core.flip_certificate(p, views, labels)
    mask = torch.rand(64, 5, generator=g) < 0.4
    cert = core.flip_certificate(p, views, mask)
    assert cert["r_worst"] <= cert["bound"] <= cert["markov_bound"]
    wrong = ~mask.gather(1, p.argmax(-1, keepdim=True)).squeeze(1)
    assert cert["r_clean"] == pytest.approx(wrong.double().mean().item())


# ---------------------------------------------------------------------- evaluation with a stub sampler
class HashSampler:
    """Deterministic stand-in: per prompt, M answers drawn from (gold, a wrong one) by a hash."""

    num_samples = 4

    def __init__(self, golds):
        self.golds = golds

    def distributions(self, grid, seed):
        answers = []
        for row in grid:
            views = []
            for prompt in row:
                gold = next(g for q, g in self.golds.items() if q in prompt)
                h = hashlib.blake2b(f"{seed}:{prompt}".encode(), digest_size=4).digest()
                views.append([gold if b % 3 else f"not {gold}" for b in h])
            answers.append(views)
        return grid_distributions(answers), answers


def test_evaluate_generative_with_a_stub_sampler():
    examples = [
        GenerativeQAExample(
            id=str(i), question=f"What is item number {i} called?", context="ctx", answers=(f"n{i}",)
        )
        for i in range(24)
    ]
    stub = HashSampler({ex.question.split("?")[0]: ex.answers[0] for ex in examples})

    def prompt(ex, q):  # the stub finds the gold by the question's unperturbed stem: keep it whole
        return format_generative_prompt(ex, f"{ex.question.split('?')[0]}? {q}")

    suite = ScoreSuite(num_views=2, alpha=1.0, mc_samples=0)
    metrics, rows = evaluate_generative(
        stub, examples, KeyboardTypo(rate=0.3), suite, seed=3, prompt=prompt, failure_views=2
    )
    assert 0.0 < metrics["task/acc/clean"] < 1.0 and metrics["task/em/clean"] == pytest.approx(
        metrics["task/acc/clean"]
    )
    for score in ("entropy", "self_consistency", "sensitivity", "u_sua"):
        assert math.isfinite(metrics[f"fd/auroc/{score}"]), score
        assert f"fd/auroc/{score}/perturbed" in metrics and f"fd/auroc/{score}/worst" in metrics
    assert metrics["cost/self_consistency"] == 4 and metrics["cost/u_sua"] == 4 * 3
    assert metrics["cert/r_worst"] <= metrics["cert/bound"] <= metrics["cert/markov_bound"]
    assert metrics["rob/acc/worst"] <= metrics["rob/acc/clean"] == metrics["task/acc/clean"]
    for r in rows:
        freq = max(r["clean"]["answers"].count(a) for a in r["clean"]["answers"]) / 4
        assert r["clean"]["modal_freq"] == pytest.approx(freq)
        assert r["clean"]["correct"] == (r["clean"]["modal_answer"] == r["answers"][0])


# ---------------------------------------------------------------------- the sampler (tiny Llama)
def test_sampling_is_reproducible_and_batch_independent(sampler):
    prompts = ["What is the capital of France?", "Who wrote Hamlet?", "Name a colour."]
    a = sampler.sample(prompts, seed=7)
    assert [len(x) for x in a] == [4, 4, 4]
    assert all("\n" not in ans for x in a for ans in x)
    assert sampler.sample(prompts, seed=7) == a  # same seed, same answers
    assert sampler.sample(prompts[::-1], seed=7) == a[::-1]  # order of the batch is irrelevant
    assert sampler.sample([prompts[1]], seed=7) == [a[1]]  # so is what else is in it
    assert sampler.sample([prompts[1], prompts[1]], seed=7) == [a[1], a[1]]
    state = torch.random.get_rng_state()
    sampler.sample(prompts[:1], seed=7)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is left alone


def test_sampler_distributions_over_the_union(sampler):
    grid = [["What is the capital of France?", "What is teh capital of France?"], ["Who wrote Hamlet?"] * 2]
    d, answers = sampler.distributions(grid, seed=1)
    assert d.probs.shape[:2] == (2, 2)
    torch.testing.assert_close(d.probs.sum(-1), torch.ones(2, 2))
    assert answers[1][0] == answers[1][1] and torch.equal(d.probs[1, 0], d.probs[1, 1])
    for views, clusters in zip(answers, d.clusters, strict=True):
        assert set(clusters.keys) == {cluster_key(a) for view in views for a in view}


def test_sampler_validates_its_settings(require_smollm2):
    for bad, match in (
        ({"num_samples": 1}, "num_samples"),
        ({"temperature": 0.0}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"stop": ""}, "stop"),
    ):
        with pytest.raises(ValueError, match=match):
            AnswerSampler(config=TINY_LLAMA, tokenizer="smollm2", **bad)


# ---------------------------------------------------------------------- end to end (sua-llm-eval)
@pytest.fixture(scope="module")
def squad_run(tmp_path_factory, data_dir, require_smollm2):
    out = tmp_path_factory.mktemp("gen_squad")
    cfg = compose_config(
        "llm_eval", E2E + ["data=squad_open_book", f"paths.data_dir={data_dir}"], output_dir=out
    )
    return cfg, out, evaluate_llm(cfg)


def test_end_to_end_squad_writes_every_key(squad_run):
    cfg, out, metrics = squad_run
    assert json.loads((out / "metrics.json").read_text()).keys() == metrics.keys()
    for key in (
        "task/acc/clean",
        "task/acc/perturbed",
        "task/em/clean",
        "task/em/perturbed",
        "task/f1/clean",
        "task/f1/perturbed",
        "rob/acc/worst",
        "cal/ece/clean",
        "cal/ece/perturbed",
        "cert/bound",
        "sua/mean_plus",
        "score/alpha",
        "abstain/risk/clean",
    ):
        assert key in metrics, key
    for score in ("msp", "entropy", "self_consistency", "sensitivity", "sua", "u_sua"):
        for cond in ("", "/perturbed", "/worst"):
            assert f"fd/auroc/{score}{cond}" in metrics and f"fd/prr/{score}{cond}" in metrics
    rows = [json.loads(line) for line in (out / "per_example.jsonl").read_text().splitlines()]
    assert len(rows) == 4 == metrics["eval/num_examples"] and metrics["eval/num_samples"] == 3
    for r in rows:
        assert len(r["clean"]["answers"]) == 3 and r["clusters"] and r["answers"]
        assert math.isclose(sum(r["clean"]["probs"]), 1.0, rel_tol=1e-5)
        assert r["perturbation"]["failure_seed"] != r["perturbation"]["score_seed"]


def test_recompute_from_per_example_file(squad_run):
    cfg, out, metrics = squad_run
    suite = hydra.utils.instantiate(cfg.score, alpha=metrics["score/alpha"])
    again = recompute_generative_metrics(
        out / "per_example.jsonl", suite, cert_t=cfg.cert_t, correctness="auto"
    )
    for key, value in again.items():
        if key.startswith("abstain/"):
            continue
        assert (math.isnan(value) and math.isnan(metrics[key])) or math.isclose(
            value, metrics[key], rel_tol=1e-5, abs_tol=1e-6
        ), key


def test_end_to_end_truthfulqa(tmp_path, data_dir, require_smollm2):
    overrides = E2E + ["data=truthfulqa_gen", "data.max_test_samples=3", "~abstain", "score.alpha=1.0"]
    cfg = compose_config("llm_eval", overrides + [f"paths.data_dir={data_dir}"], output_dir=tmp_path)
    metrics = evaluate_llm(cfg)
    assert (tmp_path / "metrics.json").is_file() and metrics["eval/num_examples"] == 3
    assert {"task/acc/clean", "task/f1/clean", "fd/auroc/u_sua", "cert/bound"} <= metrics.keys()
    rows = [json.loads(line) for line in (tmp_path / "per_example.jsonl").read_text().splitlines()]
    assert all(r["false_answers"] for r in rows)


def test_configs_compose_and_mismatches_name_the_fix(tmp_path, data_dir):
    for data in ("squad_open_book", "truthfulqa_gen"):
        cfg = compose_config("llm_eval", ["adapter=generative", f"data={data}"], output_dir=tmp_path)
        assert cfg.generation._target_.endswith("AnswerSampler") and cfg.generation.pretrained == "smollm2"
        dm = hydra.utils.instantiate(cfg.data)
        dm.setup()
        ex = dm.splits["test"][0]
        user = dm.prompt(ex, "perturbed question?")
        assert "perturbed question?" in user and ex.context.strip()[:30] in user
    tqa = dm.splits["test"]
    assert all(ex.false_answers and ex.meta["best_answer"] in ex.answers for ex in tqa)
    tiny = compose_config("llm_eval", ["adapter=generative", "model=tiny_llama"], output_dir=tmp_path)
    assert tiny.generation.pretrained is None and tiny.generation.config.hidden_size == 32
    with pytest.raises(ValueError, match="adapter=generative needs"):
        evaluate_llm(compose_config("llm_eval", ["adapter=generative", "data=bbq"], output_dir=tmp_path))
    with pytest.raises(ValueError, match="add adapter=generative"):
        evaluate_llm(compose_config("llm_eval", ["data=squad_open_book"], output_dir=tmp_path))


# ---------------------------------------------------------------------- real model (slow)
@pytest.mark.slow
def test_smollm2_open_book_squad(tmp_path, data_dir, require_smollm2):
    """SmolLM2 on 4 SQuAD questions: real answers, F1 above zero, same answers on a rerun."""
    overrides = [
        "adapter=generative",
        "data=squad_open_book",
        "data.max_test_samples=4",
        "score.num_views=1",
        "failure_views=1",
        "score.alpha=1.0",
        "~abstain",
        "generation.num_samples=3",
        "generation.max_new_tokens=16",
        "extras.print_config=false",
        f"paths.data_dir={data_dir}",
    ]
    cfg = compose_config("llm_eval", overrides, output_dir=tmp_path)
    metrics = evaluate_llm(cfg)
    rows = [json.loads(line) for line in (tmp_path / "per_example.jsonl").read_text().splitlines()]
    print(
        "\nSmolLM2 open-book SQuAD (4 questions): "
        + json.dumps(
            {k: metrics[k] for k in sorted(metrics) if k.startswith("task/") and k.endswith("/clean")}
        )
    )
    assert sum(bool(a) for r in rows for a in r["clean"]["answers"]) >= 10  # mostly non-empty answers
    # answers about the context share words with the gold answers
    assert max(f for r in rows for f in r["cluster_f1"]) > 0.0
    sampler = hydra.utils.instantiate(cfg.generation)
    dm = hydra.utils.instantiate(cfg.data)
    dm.setup()
    ex = dm.splits["test"][0]
    again = sampler.sample([dm.prompt(ex)], seed=EvaluationSeeds.from_run_seed(cfg.seed).mc)[0]
    assert again == rows[0]["clean"]["answers"]
