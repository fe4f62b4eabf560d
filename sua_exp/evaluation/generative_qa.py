"""Evaluation of a causal LM on generative QA under perturbations of the question.

p(.|x) is the distribution over clusters of M sampled answers (`sua_exp.models.generative_qa`):
answers are clustered by SQuAD-normalized text, and all views of one input (x, the failure views,
the scoring views of x and of x') share one answer order, the union of their clusters, so the
sensitivity compares the clean and perturbed cluster distributions position by position. The
answer set of every input ends with one "other" column (an answer no view produced, p = 0), so
that an input none of whose sampled answers is correct still has a label for calibration.

Same conditions, seeds, views and metric keys as the multiple-choice path
(`sua_exp.evaluation.multiple_choice`, `view_grid` for the independence rule): `clean`,
`perturbed`, `worst`, every `task/ fd/ cal/ sc/ rob/ sua/ cert/` key. The prediction is the modal
answer (most frequent cluster; ties to the earliest sampled on the clean view).

Correctness of a cluster (``answer_correct``, rule ``data.correctness``; several clusters of one
input can be correct), by default (``auto``):

* SQuAD (no false answers): exact match (SQuAD normalization) with any gold answer. Also
  reported: ``task/em/{clean,perturbed}`` and ``task/f1/{clean,perturbed}`` of the modal answers
  (max over the gold answers, as the official script) and ``task/contains/...`` (a normalized
  gold answer occurs in the normalized modal answer).
* TruthfulQA (true and false reference answers): correct when the answer's best token F1 against
  the true answers is strictly greater than its best F1 against the false answers (an empty
  answer, or one sharing no token with either set, is wrong). ``task/em``, ``task/f1`` and
  ``task/contains`` are against the true answers; ``task/acc`` is the rule.

``correctness: contains`` judges sentence-style answers (a chat model's "The Broncos won.") by
containment instead; ``recompute_from`` with another rule re-judges a saved run without sampling.

Scores. Entropy ``Hn = H / log M`` (the largest number of clusters a view can have: Hn = 1 when
all M answers differ); self-consistency ``1 - freq(modal cluster)`` from the M samples of the
input the model sees (equal to ``1 - msp`` without smoothing); sensitivity, SUA and U_sua from
the scoring views as in the classification runner. With several correct clusters per input, the
label-based metrics use:

* ``task/acc``, ``fd/``, ``sc/``, ``rob/acc/*``, ``cert/*``: the correct-cluster mask (a view is
  wrong when its modal cluster is not correct; `core.flip_certificate` takes the mask, the
  certificate holds as for one label);
* ``cal/*/<condition>``: the label is the modal cluster when it is correct, else the most
  probable correct cluster, else the "other" column. ECE and adaptive ECE then measure the
  modal answer's correctness exactly; Brier and NLL are against that label (NLL is huge when
  no sampled answer was correct: the sample-based p gives the correct answer probability 0).
* ``cost/<score>``: generated answers per input (M per view).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig
from torch import Tensor

from sua_exp import core
from sua_exp.data.generative_qa import (
    CORRECTNESS_RULES,
    GenerativeQADataModule,
    GenerativeQAExample,
    format_generative_prompt,
)
from sua_exp.evaluation.calibration import calibration_metrics
from sua_exp.evaluation.multiple_choice import MCEvaluationTensors
from sua_exp.evaluation.runner import (
    EvaluationSeeds,
    EvaluationTensors,
    abstention_metrics,
    compute_metrics,
    per_example_rows,
    read_per_example,
    require_numeric_alpha,
    scoring_rows,
    tensors_from_rows,
    view_grid,
)
from sua_exp.evaluation.squad import exact_match, f1, normalize_answer
from sua_exp.models.generative_qa import GridDistributions
from sua_exp.scores import ScoreSuite, ScoringInputs
from sua_exp.scores.suite import NEIGHBOURHOOD
from sua_exp.utils.io import write_json_atomic, write_jsonl_atomic

log = logging.getLogger("sua_exp")

PromptFn = Callable[[GenerativeQAExample, str], str]
ADAPTERS = ("option_scoring", "generative")


# ---------------------------------------------------------------------- correctness
def _contains(answer: str, golds: Sequence[str]) -> float:
    """1.0 if a normalized gold answer occurs in the normalized answer as whole tokens."""
    padded = f" {normalize_answer(answer)} "
    return float(any(g and f" {g} " in padded for g in (normalize_answer(x) for x in golds)))


def answer_scores(answer: str, example: GenerativeQAExample, rule: str = "auto") -> dict[str, float]:
    """EM, F1 and containment against the gold (true) answers, F1 against the false ones (0 when
    none), and correctness (1.0 / 0.0) under `rule`:

    * ``em``: exact match (SQuAD normalization) with a gold answer;
    * ``contains``: a normalized gold answer occurs in the normalized answer (whole tokens), the
      usual rule for sentence-style answers of chat models;
    * ``f1_vs_false``: best token F1 against the true answers > best F1 against the false ones;
    * ``auto`` (default): ``f1_vs_false`` when the example has false answers (TruthfulQA), else
      ``em`` (SQuAD).
    """
    if rule not in CORRECTNESS_RULES:
        raise ValueError(f"correctness rule '{rule}' is not one of {CORRECTNESS_RULES}")
    golds = example.answers
    scores = {"em": exact_match(answer, golds), "f1": f1(answer, golds), "contains": _contains(answer, golds)}
    scores["f1_false"] = f1(answer, example.false_answers) if example.false_answers else 0.0
    if rule == "auto":
        rule = "f1_vs_false" if example.false_answers else "em"
    if rule == "f1_vs_false":
        if not example.false_answers:
            raise ValueError(f"example '{example.id}' has no false answers for the f1_vs_false rule")
        scores["correct"] = float(scores["f1"] > scores["f1_false"])
    else:
        scores["correct"] = scores[rule]
    return scores


def answer_correct(answer: str, example: GenerativeQAExample, rule: str = "auto") -> bool:
    """Whether an answer is correct under `rule` (see `answer_scores`)."""
    return bool(answer_scores(answer, example, rule)["correct"])


# ---------------------------------------------------------------------- tensors
TASK_SCORES = ("em", "f1", "contains")


@dataclass(frozen=True)
class GenerativeEvaluationTensors(MCEvaluationTensors):
    """`MCEvaluationTensors` over answer clusters ([N, K]: each input's union of clusters, padded,
    plus the last "other" column), with the correctness of every cluster ([N, K] bool) and its
    EM / F1 / containment against the gold answers (`cluster_scores` [3, N, K], `TASK_SCORES`
    order). `labels` holds the clean-condition calibration label (`calibration_labels`)."""

    correct: Tensor | None = None
    cluster_scores: Tensor | None = None

    def _wrong(self, probs: Tensor) -> Tensor:
        """[N, (V,) K] distributions -> [N, (V)] True where the modal cluster is not correct."""
        pred = probs.argmax(-1)
        mask = self.correct.reshape(self.correct.shape[0], *([1] * (pred.dim() - 1)), -1)
        return ~mask.expand(*pred.shape, -1).gather(-1, pred.unsqueeze(-1)).squeeze(-1)

    def errors(self, condition: str) -> Tensor:
        if condition == "clean":
            return self._wrong(self.p_clean)
        if condition == "perturbed":
            return self._wrong(self.p_seen)
        if condition == "worst":
            return self._wrong(self.p_clean) | self._wrong(self.p_fail).any(dim=1)
        raise ValueError(f"unknown evaluation condition '{condition}' for generative QA")

    def modal_scores(self, condition: str) -> dict[str, Tensor]:
        """EM, F1 and containment [N] of the modal answer in a condition (clean, perturbed)."""
        probs = self.p_clean if condition == "clean" else self.p_seen
        pred = probs.argmax(-1, keepdim=True)
        return {
            name: self.cluster_scores[j].gather(-1, pred).squeeze(-1) for j, name in enumerate(TASK_SCORES)
        }


def calibration_labels(probs: Tensor, correct: Tensor) -> Tensor:
    """[N] label per row: the modal cluster when correct, else the most probable correct cluster,
    else the last ("other") column."""
    pred = probs.argmax(-1)
    best_correct = probs.masked_fill(~correct, -1.0).argmax(-1)
    other = torch.full_like(pred, probs.shape[-1] - 1)
    label = torch.where(correct.any(-1), best_correct, other)
    return torch.where(correct.gather(-1, pred.unsqueeze(-1)).squeeze(-1), pred, label)


def cluster_tables(
    surfaces: Sequence[Sequence[str]], examples: Sequence[GenerativeQAExample], width: int, rule: str = "auto"
) -> tuple[Tensor, Tensor]:
    """Correctness [N, width] bool and EM/F1/containment [3, N, width] of every cluster, judged on
    its surface form (zeros in the padding and "other" columns)."""
    correct = torch.zeros(len(surfaces), width, dtype=torch.bool)
    scores = torch.zeros(len(TASK_SCORES), len(surfaces), width)
    for i, (forms, ex) in enumerate(zip(surfaces, examples, strict=True)):
        for k, surface in enumerate(forms):
            s = answer_scores(surface, ex, rule)
            correct[i, k] = bool(s["correct"])
            scores[:, i, k] = torch.tensor([s[name] for name in TASK_SCORES])
    return correct, scores


def _with_other(x: Tensor) -> Tensor:
    """Append the "other" answer column (probability 0)."""
    return torch.nn.functional.pad(x, (0, 1))


def build_tensors(
    dist: GridDistributions,
    examples: Sequence[GenerativeQAExample],
    failure_views: int,
    num_views: int,
    rule: str = "auto",
) -> GenerativeEvaluationTensors:
    """Evaluation tensors from the cluster distributions of the view grid
    [x, failure views (view 0 = x'), scoring views of x, scoring views of x']."""
    probs, samples = _with_other(dist.probs), _with_other(dist.samples)
    if probs.shape[1] != 1 + failure_views + 2 * num_views:
        raise ValueError(f"{probs.shape[1]} views, expected 1 + {failure_views} + 2 * {num_views}")
    surfaces = [c.surface for c in dist.clusters]
    correct, scores = cluster_tables(surfaces, examples, probs.shape[-1], rule)
    p_clean = probs[:, 0]
    return GenerativeEvaluationTensors(
        labels=calibration_labels(p_clean, correct),
        p_clean=p_clean,
        p_fail=probs[:, 1 : 1 + failure_views],
        p_score_clean=probs[:, 1 + failure_views : 1 + failure_views + num_views],
        p_score_seen=probs[:, 1 + failure_views + num_views :],
        mc_clean=samples[:, 0],
        mc_seen=samples[:, 1],
        num_classes=torch.full((len(examples),), samples.shape[2], dtype=torch.long),
        correct=correct,
        cluster_scores=scores,
    )


# ---------------------------------------------------------------------- metrics
def compute_generative_metrics(
    t: GenerativeEvaluationTensors, suite: ScoreSuite, cert_t: float = 0.1
) -> dict[str, float]:
    """Every key of the classification runner, with the label-based ones made multi-answer aware
    (see the module docstring), plus task/{em,f1,contains} and cluster statistics."""
    num_samples = int(t.mc_clean.shape[1])
    suite = dataclasses.replace(suite, mc_samples=num_samples)
    metrics = compute_metrics(t, suite, cert_t=cert_t)
    metrics["rob/acc/clean"] = 1.0 - t.errors("clean").double().mean().item()
    metrics["rob/acc/worst"] = 1.0 - t.errors("worst").double().mean().item()
    for condition, probs in (("clean", t.p_clean), ("perturbed", t.p_seen)):
        metrics.update(calibration_metrics(probs, calibration_labels(probs, t.correct), condition))
        for name, values in t.modal_scores(condition).items():
            metrics[f"task/{name}/{condition}"] = values.double().mean().item()
        metrics[f"eval/mean_num_clusters/{condition}"] = (probs > 0).sum(-1).double().mean().item()
    cert = core.flip_certificate(t.p_clean, t.p_score_clean, t.correct, t=cert_t)
    metrics.update({f"cert/{k}": float(v) for k, v in cert.items()})
    per_input = num_samples * (1 + int(t.p_score_clean.shape[1]))
    for key in [k for k in metrics if k.startswith("cost/")]:
        metrics[key] = float(per_input if key.removeprefix("cost/") in NEIGHBOURHOOD else num_samples)
    metrics["eval/num_samples"] = float(num_samples)
    metrics["eval/any_correct_sampled"] = t.correct.any(-1).double().mean().item()
    return metrics


# ---------------------------------------------------------------------- forwards
def run_generative_forwards(
    sampler: Any,
    examples: Sequence[GenerativeQAExample],
    perturbation: Any,
    suite: ScoreSuite,
    seeds: EvaluationSeeds,
    prompt: PromptFn = format_generative_prompt,
    failure_views: int | None = None,
    rule: str = "auto",
) -> tuple[GenerativeEvaluationTensors, list[str], GridDistributions, list]:
    """All generations of an evaluation (the question is perturbed, never the context): returns
    the tensors, the perturbed questions x', the cluster distributions and the raw answers."""
    questions = [ex.question for ex in examples]
    m, m_fail = suite.num_views, failure_views or suite.num_views
    grid, x_seen = view_grid(questions, perturbation, seeds, m, m_fail)
    prompts = [[prompt(ex, q) for q in row] for ex, row in zip(examples, grid, strict=True)]
    dist, answers = sampler.distributions(prompts, seeds.mc)
    return build_tensors(dist, examples, m_fail, m, rule), x_seen, dist, answers


def _calibration_inputs(
    sampler: Any,
    examples: Sequence[GenerativeQAExample],
    perturbation: Any,
    suite: ScoreSuite,
    seeds: EvaluationSeeds,
    prompt: PromptFn,
    rule: str,
) -> tuple[ScoringInputs, Tensor]:
    """Clean-condition scoring inputs and errors on the calibration (validation) split."""
    rows = scoring_rows([ex.question for ex in examples], perturbation, suite.num_views, seeds)
    grid = [[prompt(ex, q) for q in row] for ex, row in zip(examples, rows, strict=True)]
    dist, _ = sampler.distributions(grid, seeds.mc)
    probs, samples = _with_other(dist.probs), _with_other(dist.samples)
    correct, _ = cluster_tables([c.surface for c in dist.clusters], examples, probs.shape[-1], rule)
    k = torch.full((len(examples),), samples.shape[2], dtype=torch.long)
    errors = ~correct.gather(-1, probs[:, 0].argmax(-1, keepdim=True)).squeeze(-1)
    return ScoringInputs(probs[:, 0], probs[:, 1:], samples[:, 0], k), errors


def generative_rows(
    examples: Sequence[GenerativeQAExample],
    t: GenerativeEvaluationTensors,
    x_seen: Sequence[str],
    dist: GridDistributions,
    answers: Sequence[Sequence[Sequence[str]]],
    suite: ScoreSuite,
    perturbation_name: str,
    seeds: EvaluationSeeds,
) -> list[dict[str, Any]]:
    """The runner's per-example rows (tensors for recomputation) plus the answers: the clusters
    (normalized key and most frequent surface form, in column order), the sampled answers of the
    clean and perturbed inputs, the modal answers with their scores, and the references."""
    rows = per_example_rows(examples, t, x_seen, suite, perturbation_name, seeds)
    wrong = {c: t.errors(c) for c in ("clean", "perturbed")}
    modal = {c: t.modal_scores(c) for c in ("clean", "perturbed")}
    for i, (row, ex) in enumerate(zip(rows, examples, strict=True)):
        c = dist.clusters[i]
        row["question"] = ex.question
        row["answers"] = list(ex.answers)
        row["false_answers"] = list(ex.false_answers)
        row["num_classes"] = int(t.num_classes[i])
        row["clusters"] = list(c.keys)
        row["cluster_surface"] = list(c.surface)
        row["cluster_correct"] = t.correct[i].tolist()
        for j, name in enumerate(TASK_SCORES):
            row[f"cluster_{name}"] = t.cluster_scores[j, i].tolist()
        for view, condition in ((0, "clean"), (1, "perturbed")):
            pred = int(row[condition]["pred"])
            row[condition]["correct"] = not bool(wrong[condition][i])
            row[condition]["answers"] = list(answers[i][view])
            row[condition]["modal_answer"] = c.surface[pred] if pred < c.num_clusters else ""
            row[condition].update({name: float(v[i]) for name, v in modal[condition].items()})
    return rows


def evaluate_generative(
    sampler: Any,
    examples: Sequence[GenerativeQAExample],
    perturbation: Any,
    suite: ScoreSuite,
    seed: int,
    prompt: PromptFn = format_generative_prompt,
    failure_views: int | None = None,
    cert_t: float = 0.1,
    val_examples: Sequence[GenerativeQAExample] | None = None,
    abstainer: Any | None = None,
    correctness: str = "auto",
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Score every example in the clean, perturbed and worst conditions.

    `sampler` is an `AnswerSampler` (or anything with `num_samples` and
    `distributions(grid, seed) -> (GridDistributions, answers)`); `prompt(example, question)`
    renders the user turn; `correctness` is the rule of `answer_scores`. `val_examples` is the
    calibration split for `score.alpha: auto` and the `abstainer`. Self-consistency always uses
    the M sampled answers (`score.mc_samples` is replaced by M). Returns (metrics, rows).
    """
    if not examples:
        raise ValueError("no examples to evaluate")
    if correctness not in CORRECTNESS_RULES:
        raise ValueError(f"data.correctness '{correctness}' is not one of {CORRECTNESS_RULES}")
    seeds = EvaluationSeeds.from_run_seed(seed)
    suite = dataclasses.replace(suite, mc_samples=int(sampler.num_samples))
    cal_inputs = cal_errors = None
    if suite.needs_alpha_fit or abstainer is not None:
        if not val_examples:
            raise ValueError("score.alpha=auto and the abstain rule need the validation (calibration) split")
        cal_inputs, cal_errors = _calibration_inputs(
            sampler, val_examples, perturbation, suite, seeds, prompt, correctness
        )
        suite = suite.fit_alpha(cal_inputs, cal_errors)
    tensors, x_seen, dist, answers = run_generative_forwards(
        sampler, examples, perturbation, suite, seeds, prompt, failure_views, correctness
    )
    metrics = compute_generative_metrics(tensors, suite, cert_t=cert_t)
    if abstainer is not None:
        metrics.update(abstention_metrics(abstainer, suite, cal_inputs, cal_errors, tensors))
    name = getattr(perturbation, "name", type(perturbation).__name__)
    rows = generative_rows(examples, tensors, x_seen, dist, answers, suite, name, seeds)
    return metrics, rows


def recompute_generative_metrics(
    path: str | Path, suite: ScoreSuite, cert_t: float = 0.1, correctness: str | None = None
) -> dict[str, float]:
    """All metrics from a saved generative `per_example.jsonl`: no generation. With
    `correctness`, every cluster is judged again under that rule (from its stored surface form
    and the stored references); otherwise the stored correctness is used."""
    require_numeric_alpha(suite)
    rows = read_per_example(path)
    base = tensors_from_rows(rows)
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(EvaluationTensors)}
    if correctness is None:
        correct = torch.tensor([r["cluster_correct"] for r in rows], dtype=torch.bool)
        scores = torch.tensor([[r[f"cluster_{name}"] for r in rows] for name in TASK_SCORES])
    else:
        refs = [
            GenerativeQAExample(
                id=r["id"],
                question=r["question"],
                context="",
                answers=tuple(r["answers"]),
                false_answers=tuple(r.get("false_answers") or ()),
            )
            for r in rows
        ]
        width = base.p_clean.shape[-1]
        correct, scores = cluster_tables([r["cluster_surface"] for r in rows], refs, width, correctness)
        fields["labels"] = calibration_labels(base.p_clean, correct)
    t = GenerativeEvaluationTensors(
        **fields,
        num_classes=torch.tensor([r["num_classes"] for r in rows], dtype=torch.long),
        correct=correct,
        cluster_scores=scores,
    )
    return compute_generative_metrics(t, suite, cert_t=cert_t)


# ---------------------------------------------------------------------- entry point
def is_generative(cfg: DictConfig) -> bool:
    """Whether `sua-llm-eval` runs the generative adapter (`adapter=generative`); a data config
    of the other kind is an error naming the fix."""
    adapter = cfg.get("adapter") or "option_scoring"
    if adapter not in ADAPTERS:
        raise ValueError(f"adapter '{adapter}' is not one of {ADAPTERS}")
    generative_data = str(cfg.data.get("_target_", "")).endswith("GenerativeQADataModule")
    if adapter == "generative" and not generative_data:
        raise ValueError(
            f"adapter=generative needs a generative QA data config (data=squad_open_book or "
            f"data=truthfulqa_gen), not data={cfg.data.get('name')}"
        )
    if adapter == "option_scoring" and generative_data:
        raise ValueError(
            f"data={cfg.data.get('name')} is generative QA (no options to score): add adapter=generative"
        )
    return adapter == "generative"


def evaluate_llm_generative(cfg: DictConfig) -> dict[str, float]:
    """`sua-llm-eval adapter=generative`: sampled answers on a generative QA data config; writes
    metrics.json and per_example.jsonl (atomically) in the run dir."""
    from sua_exp.utils.components import build_eval_components
    from sua_exp.utils.runtime import apply_extras, run_metadata

    apply_extras(cfg)
    out = Path(cfg.paths.output_dir)
    write_json_atomic(out / "run_info.json", run_metadata(cfg))
    cert_t = float(cfg.get("cert_t", 0.1))
    if cfg.get("recompute_from"):
        suite = hydra.utils.instantiate(cfg.score)
        rule = cfg.data.get("correctness")  # clusters are judged again under the data config's rule
        metrics = recompute_generative_metrics(cfg.recompute_from, suite, cert_t=cert_t, correctness=rule)
        write_json_atomic(out / "metrics.json", metrics)
        log.info("metrics recomputed from %s into %s", cfg.recompute_from, out / "metrics.json")
        return metrics
    components = build_eval_components(cfg)
    torch.manual_seed(cfg.seed)
    datamodule = hydra.utils.instantiate(cfg.data)
    if not isinstance(datamodule, GenerativeQADataModule):
        raise ValueError(f"data={cfg.data.get('name')} is not a generative QA datamodule")
    datamodule.setup()
    sampler = hydra.utils.instantiate(cfg.generation)
    metrics, rows = evaluate_generative(
        sampler,
        datamodule.splits["test"],
        components.perturbation,
        components.suite,
        seed=cfg.seed,
        prompt=datamodule.prompt,
        failure_views=cfg.get("failure_views"),
        cert_t=cert_t,
        val_examples=datamodule.splits.get("val"),
        abstainer=components.abstainer,
        correctness=datamodule.correctness,
    )
    write_jsonl_atomic(out / "per_example.jsonl", rows)
    write_json_atomic(out / "metrics.json", metrics)
    log.info(
        "%s: modal-answer accuracy %.3f (EM %.3f, F1 %.3f) on %d examples; metrics in %s",
        datamodule.name,
        metrics["task/acc/clean"],
        metrics["task/em/clean"],
        metrics["task/f1/clean"],
        len(rows),
        out / "metrics.json",
    )
    return metrics
