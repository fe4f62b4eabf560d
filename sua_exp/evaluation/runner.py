"""Evaluation of a text classifier under perturbations: distributions -> scores -> metrics.

Conditions (DESIGN section 2):
* clean: the model sees x; failure = wrong on x.
* perturbed: the model sees x' (one perturbation of x); failure = wrong on x'.
* worst: the model sees x; failure = wrong on x or on any view of the failure neighbourhood.

Independence rule: the failure-defining views (x' and the worst-case neighbourhood) and the
scoring neighbourhood come from different seed streams, and the scoring neighbourhood is built
from the input the model actually sees (x' in the perturbed condition, never the clean x).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from sua_exp import core
from sua_exp.data.classification import ClassificationExample
from sua_exp.evaluation.calibration import calibration_metrics
from sua_exp.evaluation.failure_detection import failure_detection_metrics
from sua_exp.evaluation.robustness import robustness_metrics
from sua_exp.evaluation.selective import selective_metrics
from sua_exp.scores import ScoreSuite, ScoringInputs

ProbaFn = Callable[[list[str], list[str] | None], Tensor]


def derive_seed(seed: int, stream: str) -> int:
    """Independent 31-bit seeds per named stream ('failure', 'score') from one run seed."""
    digest = hashlib.blake2b(f"{seed}:{stream}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class EvaluationSeeds:
    failure: int
    score: int

    @classmethod
    def from_run_seed(cls, seed: int) -> EvaluationSeeds:
        seeds = cls(failure=derive_seed(seed, "failure"), score=derive_seed(seed, "score"))
        if seeds.failure == seeds.score:  # the independence rule; astronomically unlikely, never silent
            raise RuntimeError(f"seed {seed}: failure and scoring seed streams collide")
        return seeds


def _predict_views(predict: ProbaFn, views: list[list[str]], pairs: list[str] | None) -> Tensor:
    """p over a [N][M] grid of texts in one call (the adapter dedups and batches) -> [N, M, K]."""
    n, m = len(views), len(views[0]) if views else 0
    flat = [views[i][j] for i in range(n) for j in range(m)]
    flat_pairs = [pairs[i] for i in range(n) for _ in range(m)] if pairs is not None else None
    return predict(flat, flat_pairs).view(n, m, -1)


def _condition_metrics(
    suite: ScoreSuite, inputs: ScoringInputs, errors: Tensor, condition: str, labels: Tensor | None
) -> tuple[dict[str, float], dict[str, Tensor]]:
    scores = suite.scores(inputs)
    metrics: dict[str, float] = {}
    for name, values in scores.items():
        metrics.update(failure_detection_metrics(values, errors, name, condition))
        metrics.update(selective_metrics(values, errors, name, condition=condition))
    if labels is not None:
        metrics.update(calibration_metrics(inputs.probs, labels, condition))
    if "sua" in scores:
        metrics[f"sua/mean_plus/{condition}"] = scores["sua_plus"].mean().item()
        metrics[f"sua/mean/{condition}"] = scores["sua"].mean().item()
        metrics[f"sua/mean_sensitivity/{condition}"] = scores["sensitivity"].mean().item()
    metrics[f"sua/mean_entropy/{condition}"] = scores["entropy"].mean().item()
    return metrics, scores


def evaluate_classification(
    predict: ProbaFn,
    examples: Sequence[ClassificationExample],
    perturbation: Any,
    suite: ScoreSuite,
    seed: int,
    failure_views: int | None = None,
    cert_t: float = 0.1,
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Score every example in the clean, perturbed and worst conditions.

    Returns (metrics with flat `section/metric[/variant]` keys, per-example rows).
    """
    seeds = EvaluationSeeds.from_run_seed(seed)
    m = suite.num_views
    m_fail = failure_views or m
    texts = [ex.text for ex in examples]
    pairs = [ex.text_pair for ex in examples] if examples and examples[0].text_pair is not None else None
    labels = torch.tensor([ex.label for ex in examples], dtype=torch.long)

    failure_nb = perturbation.neighbourhood(texts, m_fail, seed=seeds.failure)  # defines failures
    x_seen = [views[0] for views in failure_nb]  # x' of the perturbed condition
    score_nb_clean = perturbation.neighbourhood(texts, m, seed=seeds.score)
    score_nb_seen = perturbation.neighbourhood(x_seen, m, seed=seeds.score)

    # One grid, one call: the adapter dedups identical texts and length-batches the forwards.
    grid = [
        [t, *f, *sc, *sp]
        for t, f, sc, sp in zip(texts, failure_nb, score_nb_clean, score_nb_seen, strict=True)
    ]
    probs_all = _predict_views(predict, grid, pairs)
    p_clean = probs_all[:, 0]
    p_fail = probs_all[:, 1 : 1 + m_fail]
    p_score_clean = probs_all[:, 1 + m_fail : 1 + m_fail + m]
    p_score_seen = probs_all[:, 1 + m_fail + m :]
    p_seen = p_fail[:, 0]

    pred_clean, pred_seen, pred_fail = p_clean.argmax(-1), p_seen.argmax(-1), p_fail.argmax(-1)
    err_clean = pred_clean != labels
    err_seen = pred_seen != labels
    err_worst = err_clean | (pred_fail != labels.unsqueeze(1)).any(dim=1)

    metrics: dict[str, float] = {
        "task/acc/clean": 1.0 - err_clean.float().mean().item(),
        "task/acc/perturbed": 1.0 - err_seen.float().mean().item(),
        "eval/num_examples": float(len(examples)),
        "eval/num_views": float(m),
        "eval/failure_views": float(m_fail),
    }
    metrics.update(robustness_metrics(pred_clean, pred_fail, labels))
    clean_in = ScoringInputs(p_clean, p_score_clean)
    seen_in = ScoringInputs(p_seen, p_score_seen)
    clean_metrics, clean_scores = _condition_metrics(suite, clean_in, err_clean, "clean", labels)
    seen_metrics, _ = _condition_metrics(suite, seen_in, err_seen, "perturbed", labels)
    worst_metrics, _ = _condition_metrics(suite, clean_in, err_worst, "worst", None)
    metrics.update(clean_metrics)
    metrics.update(seen_metrics)
    metrics.update(worst_metrics)
    # The clean condition is also written without a suffix (DESIGN section 2).
    for key, value in clean_metrics.items():
        if key.startswith(("fd/", "sc/", "sua/mean_plus")):
            metrics[key.removesuffix("/clean")] = value
    for name in clean_scores:
        metrics[f"cost/{name}"] = float(suite.cost(name))

    cert = core.flip_certificate(p_clean, p_score_clean, labels, t=cert_t)
    metrics.update({f"cert/{k}": float(v) for k, v in cert.items()})

    clean_stats = suite.statistics(clean_in)
    seen_stats = suite.statistics(seen_in)
    rows = []
    for i, ex in enumerate(examples):
        rows.append(
            {
                "id": ex.id,
                "label": int(labels[i]),
                "clean": {
                    "probs": p_clean[i],
                    "pred": int(pred_clean[i]),
                    "correct": not bool(err_clean[i]),
                    "view_probs": p_score_clean[i],
                    **{k: float(v[i]) for k, v in clean_stats.items()},
                },
                "perturbed": {
                    "text": x_seen[i],
                    "probs": p_seen[i],
                    "pred": int(pred_seen[i]),
                    "correct": not bool(err_seen[i]),
                    "view_probs": p_score_seen[i],
                    **{k: float(v[i]) for k, v in seen_stats.items()},
                },
                "worst": {"correct": not bool(err_worst[i]), "failure_view_probs": p_fail[i]},
                "perturbation": {
                    "name": getattr(perturbation, "name", type(perturbation).__name__),
                    "failure_seed": seeds.failure,
                    "score_seed": seeds.score,
                },
            }
        )
    return metrics, rows
