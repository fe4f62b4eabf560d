"""Evaluation of a span-QA model under perturbations of the question (the context is kept).

The answer set of an input is shared by all its views: the union of every view's top-k spans
(and the gold spans, so the gold always has a probability), grouped by SQuAD-normalized text
(`SpanQA.span_distributions`). Answer sets differ in size between inputs, so the tensors are the
padded `MCEvaluationTensors` of the multiple-choice evaluator and every `task/ fd/ cal/ sc/ rob/
sua/ cert/` key comes from the same `compute_metrics`. The label of an input is the gold answer
group the model ranks highest on the clean question, so `argmax == label` is exact match.
Self-consistency samples are answers drawn from p(.|x) (`core.sample_answers`).

Added keys: `task/em/<c>`, `task/f1/<c>` (SQuAD EM/F1 of the top answer, all gold answers) for
c in clean, perturbed. With natural-perturbation pairs (Disfl-QA: clean = the SQuAD question,
x_nat = its disfluent rewrite on the same context) also the `natural` condition: the model sees
x_nat (scored with x_nat's own neighbourhood), failure = wrong on x_nat; keys `task/acc/natural`,
`task/em/natural`, `task/f1/natural`, `fd/.../natural`, `sua/mean_*/natural`, and
`sua/natural_sensitivity` = mean D(p(.|x), p(.|x_nat)) with the score's divergence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sua_exp import core
from sua_exp.data.extractive_qa import ExtractiveQAExample
from sua_exp.evaluation.multiple_choice import (
    AmbiguityLabels,
    MCEvaluationTensors,
    compute_mc_metrics,
    mc_metrics_from_rows,
)
from sua_exp.evaluation.runner import (
    EvaluationSeeds,
    _condition_metrics,
    abstention_metrics,
    first_per_example_row,
    per_example_rows,
    read_per_example,
    scoring_rows,
    view_grid,
)
from sua_exp.evaluation.squad import exact_match, f1, normalize_answer
from sua_exp.scores import ScoreSuite, ScoringInputs
from sua_exp.utils.io import write_jsonl_atomic

__all__ = [
    "QAForwards",
    "evaluate_extractive_qa",
    "is_span_qa_run",
    "recompute_qa_metrics",
    "run_qa_forwards",
]


@dataclass
class QAForwards:
    """Padded probabilities [N, V, A] of every view of every input, with each input's answers."""

    probs: Tensor
    answers: list[list[str]]
    labels: Tensor  # [N] the gold group ranked highest on the clean view (view 0)
    num_answers: Tensor  # [N]

    def texts(self, view: int | Tensor) -> list[str]:
        """The top answer's surface text in one view (an index, or a [N] tensor of indices)."""
        index = self.probs[:, view].argmax(-1) if isinstance(view, int) else view
        return [answers[int(i)] for answers, i in zip(self.answers, index, strict=True)]


def _gold_label(answers: Sequence[str], p_clean: Tensor, golds: Sequence[str]) -> int:
    gold_norm = {normalize_answer(g) for g in golds}
    gold_idx = [a for a, text in enumerate(answers) if normalize_answer(text) in gold_norm]
    if not gold_idx:  # cannot happen: the gold spans are always candidates
        raise RuntimeError(f"no answer group matches the gold answers {list(golds)}")
    return max(gold_idx, key=lambda a: float(p_clean[a]))


def run_qa_forwards(
    net: Any,
    examples: Sequence[ExtractiveQAExample],
    rows: Sequence[Sequence[str]],
    top_k: int,
    max_answer_len: int,
) -> QAForwards:
    """Distributions over one shared answer set per input for the question variants `rows[n]`
    (rows[n][0] is the clean question); the gold spans are always candidates."""
    gold_spans = [[(start, start + len(text)) for text, start in ex.answers] for ex in examples]
    dists = net.span_distributions(
        rows, [ex.context for ex in examples], top_k, max_answer_len, extra_spans=gold_spans
    )
    width = max(p.shape[-1] for _, p in dists)
    probs = torch.zeros(len(examples), len(rows[0]), width)
    for n, (_, p) in enumerate(dists):
        probs[n, :, : p.shape[-1]] = p
    answers = [a for a, _ in dists]
    labels = [
        _gold_label(a, probs[n, 0], ex.answer_texts)
        for n, (a, ex) in enumerate(zip(answers, examples, strict=True))
    ]
    return QAForwards(
        probs=probs,
        answers=answers,
        labels=torch.tensor(labels, dtype=torch.long),
        num_answers=torch.tensor([len(a) for a in answers], dtype=torch.long),
    )


def _squad_metrics(preds: Sequence[str], golds: Sequence[Sequence[str]], condition: str) -> dict:
    n = len(preds)
    return {
        f"task/em/{condition}": sum(exact_match(p, g) for p, g in zip(preds, golds, strict=True)) / n,
        f"task/f1/{condition}": sum(f1(p, g) for p, g in zip(preds, golds, strict=True)) / n,
    }


def _natural_metrics(
    fw: QAForwards,
    examples: Sequence[ExtractiveQAExample],
    suite: ScoreSuite,
    start: int,
    mc_seed: int,
    temperature: float,
) -> dict[str, float]:
    """The `natural` condition: columns `start` (x_nat) and the M after it (its neighbourhood)."""
    m = suite.num_views
    p_nat, p_views = fw.probs[:, start], fw.probs[:, start + 1 : start + 1 + m]
    errors = p_nat.argmax(-1) != fw.labels
    mc = core.sample_answers(p_nat, suite.mc_samples, mc_seed, temperature) if suite.mc_samples else None
    inputs = ScoringInputs(p_nat, p_views, mc, fw.num_answers)
    metrics = _condition_metrics(suite, inputs, errors, "natural")
    metrics["task/acc/natural"] = 1.0 - errors.double().mean().item()
    metrics.update(_squad_metrics(fw.texts(start), [ex.answer_texts for ex in examples], "natural"))
    divergence = core.DIVERGENCES[suite.divergence]
    metrics["sua/natural_sensitivity"] = divergence(fw.probs[:, 0], p_nat).mean().item()
    metrics["eval/num_natural_pairs"] = float(len(examples))
    return metrics


def _calibration_inputs(
    net: Any,
    examples: Sequence[ExtractiveQAExample],
    perturbation: Any,
    suite: ScoreSuite,
    seeds: EvaluationSeeds,
    top_k: int,
    max_answer_len: int,
    temperature: float,
) -> tuple[ScoringInputs, Tensor]:
    questions = [ex.question for ex in examples]
    rows = scoring_rows(questions, perturbation, suite.num_views, seeds)
    fw = run_qa_forwards(net, examples, rows, top_k, max_answer_len)
    p = fw.probs[:, 0]
    mc = core.sample_answers(p, suite.mc_samples, seeds.mc, temperature) if suite.mc_samples else None
    return ScoringInputs(p, fw.probs[:, 1:], mc, fw.num_answers), p.argmax(-1) != fw.labels


def evaluate_extractive_qa(
    net: Any,
    examples: Sequence[ExtractiveQAExample],
    perturbation: Any,
    suite: ScoreSuite,
    seed: int,
    failure_views: int | None = None,
    cert_t: float = 0.1,
    val_examples: Sequence[ExtractiveQAExample] | None = None,
    abstainer: Any | None = None,
    rows_path: str | Path | None = None,
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Score every test question in the clean, perturbed and worst conditions (and `natural`
    where the examples carry a natural rewrite). `net` is a `SpanQA` (its top_k, max_answer_len
    and sample_temperature say how answers are read). Returns (flat metrics, per-example rows)."""
    if not examples:
        raise ValueError("no examples to evaluate")
    top_k, max_answer_len, sample_temperature = net.top_k, net.max_answer_len, net.sample_temperature
    seeds = EvaluationSeeds.from_run_seed(seed)
    m, m_fail = suite.num_views, failure_views or suite.num_views
    cal_inputs = cal_errors = None
    if suite.needs_alpha_fit or abstainer is not None:
        if not val_examples:
            raise ValueError("score.alpha=auto and the abstain rule need the validation (calibration) split")
        cal_inputs, cal_errors = _calibration_inputs(
            net, val_examples, perturbation, suite, seeds, top_k, max_answer_len, sample_temperature
        )
        suite = suite.fit_alpha(cal_inputs, cal_errors)
    grid, x_seen = view_grid([ex.question for ex in examples], perturbation, seeds, m, m_fail)
    natural = [ex for ex in examples if ex.natural_question is not None]
    if natural and len(natural) != len(examples):
        raise ValueError("either every test example has a natural_question or none does")
    if natural:  # x_nat and its own scoring neighbourhood (score seed stream, built from x_nat)
        nat_rows = scoring_rows([ex.natural_question for ex in examples], perturbation, m, seeds)
        grid = [row + nat for row, nat in zip(grid, nat_rows, strict=True)]
    fw = run_qa_forwards(net, examples, grid, top_k, max_answer_len)
    p_clean, p_fail = fw.probs[:, 0], fw.probs[:, 1 : 1 + m_fail]
    mc_clean = mc_seen = None
    if suite.mc_samples:
        mc_clean = core.sample_answers(p_clean, suite.mc_samples, seeds.mc, sample_temperature)
        mc_seen = core.sample_answers(p_fail[:, 0], suite.mc_samples, seeds.mc, sample_temperature)
    tensors = MCEvaluationTensors(
        labels=fw.labels,
        p_clean=p_clean,
        p_fail=p_fail,
        p_score_clean=fw.probs[:, 1 + m_fail : 1 + m_fail + m],
        p_score_seen=fw.probs[:, 1 + m_fail + m : 1 + m_fail + 2 * m],
        mc_clean=mc_clean,
        mc_seen=mc_seen,
        num_classes=fw.num_answers,
    )
    none = torch.zeros(len(examples), dtype=torch.bool)
    amb = AmbiguityLabels(ambiguous=none, unknown=torch.full((len(examples),), -1), conditioned=none)
    metrics = compute_mc_metrics(tensors, suite, amb, cert_t=cert_t)
    golds = [ex.answer_texts for ex in examples]
    metrics.update(_squad_metrics(fw.texts(0), golds, "clean"))
    metrics.update(_squad_metrics(fw.texts(1), golds, "perturbed"))
    if natural:
        start = 1 + m_fail + 2 * m
        metrics.update(_natural_metrics(fw, examples, suite, start, seeds.mc, sample_temperature))
    if abstainer is not None:
        metrics.update(abstention_metrics(abstainer, suite, cal_inputs, cal_errors, tensors))
    name = getattr(perturbation, "name", type(perturbation).__name__)
    rows = per_example_rows(examples, tensors, x_seen, suite, name, seeds)
    for row, ex, answers, n in zip(rows, examples, fw.answers, range(len(rows)), strict=True):
        row["num_choices"] = len(answers)
        row["answers"] = answers
        row["gold"] = ex.answer_texts
        for c, view in (("clean", 0), ("perturbed", 1)):
            row[c]["answer"] = answers[int(fw.probs[n, view].argmax())]
        if natural:
            row["natural"] = {"text": ex.natural_question, "probs": fw.probs[n, 1 + m_fail + 2 * m]}
    if rows_path is not None:
        write_jsonl_atomic(rows_path, rows)
    return metrics, rows


def is_span_qa_run(path: str | Path) -> bool:
    """Whether a per-example file was written by `evaluate_extractive_qa` (its rows carry each
    input's answers and gold answers); reads the first row only."""
    row = first_per_example_row(path)
    return "answers" in row and "gold" in row


def recompute_qa_metrics(path: str | Path, suite: ScoreSuite, cert_t: float = 0.1) -> dict[str, float]:
    """Every metric of a saved span-QA `per_example.jsonl` with new score settings, no model run:
    the padded answer sets keep their sizes (so `Hn` divides by log K(x)), and EM/F1 come from
    the stored top answers. The natural condition needs its scoring views and is not rebuilt."""
    rows = read_per_example(path)
    metrics = mc_metrics_from_rows(rows, suite, cert_t=cert_t)
    golds = [row["gold"] for row in rows]
    for condition in ("clean", "perturbed"):
        metrics.update(_squad_metrics([row[condition]["answer"] for row in rows], golds, condition))
    return metrics
