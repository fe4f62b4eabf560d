"""Evaluation of a classifier under perturbations: forwards -> tensors -> scores -> metrics.

Conditions (DESIGN section 2):
* clean: the model sees x; failure = wrong on x.
* perturbed: the model sees x' (one perturbation of x); failure = wrong on x'.
* worst: the model sees x; failure = wrong on x or on any view of the failure neighbourhood.

Independence rule: the failure-defining views (x' and the worst-case neighbourhood) and the
scoring neighbourhood come from different seed streams, and the scoring neighbourhood is built
from the input the model actually sees (x' in the perturbed condition, never the clean x).

The forwards produce `EvaluationTensors`; everything after that (`compute_metrics`) is a pure
function of them, and the per-example file stores them, so `recompute_metrics` rebuilds every
metric from a saved run without a forward pass.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from sua_exp import core
from sua_exp.data.classification import ClassificationExample, text_pairs_of
from sua_exp.evaluation.ambiguity import ambiguity_metrics, collapse_errors
from sua_exp.evaluation.calibration import calibration_metrics
from sua_exp.evaluation.failure_detection import failure_detection_metrics
from sua_exp.evaluation.robustness import attack_success_rate, robustness_metrics
from sua_exp.evaluation.selective import selective_metrics
from sua_exp.scores import ScoreSuite, ScoringInputs
from sua_exp.utils.io import atomic_open, write_rows

ProbaFn = Callable[[list[str], list[str] | None], Tensor]
SampleFn = Callable[[list[str], list[str] | None, int, int], Tensor]


def derive_seed(seed: int, stream: str) -> int:
    """Independent 31-bit seeds per named stream ('failure', 'score', ...) from one run seed."""
    digest = hashlib.blake2b(f"{seed}:{stream}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class EvaluationSeeds:
    failure: int
    score: int
    mc: int

    @classmethod
    def from_run_seed(cls, seed: int) -> EvaluationSeeds:
        seeds = cls(
            failure=derive_seed(seed, "failure"), score=derive_seed(seed, "score"), mc=derive_seed(seed, "mc")
        )
        if seeds.failure == seeds.score:  # the independence rule; astronomically unlikely, never silent
            raise RuntimeError(f"seed {seed}: failure and scoring seed streams collide")
        return seeds


@dataclass(frozen=True)
class EvaluationTensors:
    """Everything the metrics are computed from (N inputs, K classes)."""

    labels: Tensor  # [N]
    p_clean: Tensor  # [N, K] p(.|x)
    p_fail: Tensor  # [N, Mf, K] failure neighbourhood of x; view 0 is x'
    p_score_clean: Tensor  # [N, M, K] scoring neighbourhood of x
    p_score_seen: Tensor  # [N, M, K] scoring neighbourhood of x'
    mc_clean: Tensor | None = None  # [N, T, K] MC-dropout samples on x
    mc_seen: Tensor | None = None  # [N, T, K] MC-dropout samples on x'
    p_adv: Tensor | None = None  # [N, K] on the attacked input x_adv (adversarial condition)
    p_score_adv: Tensor | None = None  # [N, M, K] scoring neighbourhood of x_adv
    attack_skipped: Tensor | None = None  # [N] bool: wrong before the attack, so not attacked

    @property
    def conditions(self) -> tuple[str, ...]:
        return ("clean", "perturbed", "worst") + (("adversarial",) if self.p_adv is not None else ())

    @property
    def p_seen(self) -> Tensor:
        return self.p_fail[:, 0]

    def inputs(self, condition: str) -> ScoringInputs:
        if condition == "perturbed":
            return ScoringInputs(self.p_seen, self.p_score_seen, self.mc_seen)
        if condition == "adversarial":
            return ScoringInputs(self.p_adv, self.p_score_adv)
        return ScoringInputs(self.p_clean, self.p_score_clean, self.mc_clean)

    def errors(self, condition: str) -> Tensor:
        if condition == "clean":
            return self.p_clean.argmax(-1) != self.labels
        if condition == "perturbed":
            return self.p_seen.argmax(-1) != self.labels
        if condition == "adversarial":
            return self.p_adv.argmax(-1) != self.labels
        if condition == "worst":
            wrong_view = (self.p_fail.argmax(-1) != self.labels.unsqueeze(1)).any(dim=1)
            return self.errors("clean") | wrong_view
        raise ValueError(f"unknown evaluation condition '{condition}'")


def _predict_grid(predict: ProbaFn, grid: list[list[str]], pairs: list[str] | None) -> Tensor:
    """p over a [N][V] grid of texts in one call (the adapter dedups and batches) -> [N, V, K]."""
    n, v = len(grid), len(grid[0]) if grid else 0
    flat = [text for row in grid for text in row]
    flat_pairs = [pairs[i] for i in range(n) for _ in range(v)] if pairs is not None else None
    return predict(flat, flat_pairs).view(n, v, -1)


def scoring_rows(
    texts: Sequence[str], perturbation: Any, num_views: int, seeds: EvaluationSeeds
) -> list[list[str]]:
    """Per input the row [x, its M scoring views] (score seed stream): what a condition whose
    failure is read off x itself (calibration, adversarial, ambiguous) needs scored."""
    nb = perturbation.neighbourhood(texts, num_views, seed=seeds.score)
    return [[t, *views] for t, views in zip(texts, nb, strict=True)]


def view_grid(
    texts: Sequence[str], perturbation: Any, seeds: EvaluationSeeds, num_views: int, failure_views: int
) -> tuple[list[list[str]], list[str]]:
    """The independence rule in one place. Per input, the row [x, failure views (view 0 = x'),
    scoring views of x, scoring views of x']: the failure views come from the failure seed stream,
    the scoring views from the score stream, and those of the perturbed condition are built from
    x', the input the model sees. Returns the rows and the x' texts."""
    failure_nb = perturbation.neighbourhood(texts, failure_views, seed=seeds.failure)
    x_seen = [views[0] for views in failure_nb]
    score_nb_clean = perturbation.neighbourhood(texts, num_views, seed=seeds.score)
    score_nb_seen = perturbation.neighbourhood(x_seen, num_views, seed=seeds.score)
    rows = zip(texts, failure_nb, score_nb_clean, score_nb_seen, strict=True)
    return [[t, *f, *sc, *sp] for t, f, sc, sp in rows], x_seen


def run_forwards(
    predict: ProbaFn,
    texts: Sequence[str],
    labels: Tensor,
    perturbation: Any,
    suite: ScoreSuite,
    seeds: EvaluationSeeds,
    text_pairs: Sequence[str] | None = None,
    failure_views: int | None = None,
    sample: SampleFn | None = None,
) -> tuple[EvaluationTensors, list[str]]:
    """All forwards of an evaluation; returns the tensors and the perturbed inputs x'."""
    texts, pairs = list(texts), list(text_pairs) if text_pairs is not None else None
    m, m_fail = suite.num_views, failure_views or suite.num_views
    grid, x_seen = view_grid(texts, perturbation, seeds, m, m_fail)
    probs = _predict_grid(predict, grid, pairs)
    mc_clean = mc_seen = None
    if suite.mc_samples:
        if sample is None:
            raise ValueError("score.mc_samples > 0 needs a model that can sample (MC-dropout)")
        mc_clean = sample(texts, pairs, suite.mc_samples, seeds.mc)
        mc_seen = sample(x_seen, pairs, suite.mc_samples, seeds.mc)
    tensors = EvaluationTensors(
        labels=labels,
        p_clean=probs[:, 0],
        p_fail=probs[:, 1 : 1 + m_fail],
        p_score_clean=probs[:, 1 + m_fail : 1 + m_fail + m],
        p_score_seen=probs[:, 1 + m_fail + m :],
        mc_clean=mc_clean,
        mc_seen=mc_seen,
    )
    return tensors, x_seen


def _condition_metrics(
    suite: ScoreSuite, inputs: ScoringInputs, errors: Tensor, condition: str
) -> dict[str, float]:
    metrics: dict[str, float] = {}
    scores = suite.scores(inputs)
    for name, values in scores.items():
        metrics.update(failure_detection_metrics(values, errors, name, condition))
        metrics.update(selective_metrics(values, errors, name, condition=condition))
    metrics[f"sua/mean_plus/{condition}"] = scores["sua_plus"].mean().item()
    metrics[f"sua/mean/{condition}"] = scores["sua"].mean().item()
    metrics[f"sua/mean_sensitivity/{condition}"] = scores["sensitivity"].mean().item()
    metrics[f"sua/mean_entropy/{condition}"] = scores["entropy"].mean().item()
    return metrics


def compute_metrics(t: EvaluationTensors, suite: ScoreSuite, cert_t: float = 0.1) -> dict[str, float]:
    """Every metric of DESIGN section 2 from the evaluation tensors (no model needed)."""
    metrics: dict[str, float] = {
        "task/acc/clean": 1.0 - t.errors("clean").double().mean().item(),
        "task/acc/perturbed": 1.0 - t.errors("perturbed").double().mean().item(),
        "eval/num_examples": float(t.labels.numel()),
        "eval/num_views": float(t.p_score_clean.shape[1]),
        "eval/failure_views": float(t.p_fail.shape[1]),
        "score/alpha": float(suite.alpha),
    }
    metrics.update(robustness_metrics(t.p_clean.argmax(-1), t.p_fail.argmax(-1), t.labels))
    metrics.update(calibration_metrics(t.p_clean, t.labels, "clean"))
    metrics.update(calibration_metrics(t.p_seen, t.labels, "perturbed"))
    if t.p_adv is not None:
        metrics["task/acc/adversarial"] = 1.0 - t.errors("adversarial").double().mean().item()
        attacked = ~t.attack_skipped
        metrics["rob/asr"] = attack_success_rate(
            ~t.errors("clean")[attacked], ~t.errors("adversarial")[attacked]
        )
    for condition in t.conditions:
        inputs = t.inputs("clean" if condition == "worst" else condition)
        cond_metrics = _condition_metrics(suite, inputs, t.errors(condition), condition)
        metrics.update(cond_metrics)
        if condition == "clean":  # the clean condition is also written without a suffix
            metrics.update(
                {
                    k.removesuffix("/clean"): v
                    for k, v in cond_metrics.items()
                    if k.startswith(("fd/", "sc/", "sua/mean_plus"))
                }
            )
    for name in suite.scores(t.inputs("clean")):
        metrics[f"cost/{name}"] = float(suite.cost(name))
    cert = core.flip_certificate(t.p_clean, t.p_score_clean, t.labels, t=cert_t)
    metrics.update({f"cert/{k}": float(v) for k, v in cert.items()})
    metrics["cert/t"] = cert_t
    return metrics


def abstention_metrics(
    abstainer: Any, suite: ScoreSuite, cal_inputs: ScoringInputs, cal_errors: Tensor, t: EvaluationTensors
) -> dict[str, float]:
    """Fit the abstention rule on the calibration split's scores and errors, then report it on
    the test inputs of the clean and perturbed conditions (keys suffixed /clean, /perturbed)."""
    abstainer.fit(suite.scores(cal_inputs)[abstainer.score], cal_errors)
    metrics: dict[str, float] = {}
    for condition in ("clean", "perturbed"):
        test_scores = suite.scores(t.inputs(condition))[abstainer.score]
        report = abstainer.report(test_scores, t.errors(condition))
        metrics.update({f"{k}/{condition}": v for k, v in report.items()})
    return metrics


def per_example_rows(
    examples: Sequence[ClassificationExample],
    t: EvaluationTensors,
    x_seen: Sequence[str],
    suite: ScoreSuite,
    perturbation_name: str,
    seeds: EvaluationSeeds,
    x_adv: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """One JSON row per example: the tensors (so metrics can be recomputed) plus readable stats."""
    stats = {c: suite.statistics(t.inputs(c)) for c in t.conditions if c != "worst"}
    probs = {"clean": t.p_clean, "perturbed": t.p_seen}
    views = {"clean": t.p_score_clean, "perturbed": t.p_score_seen}
    samples = {"clean": t.mc_clean, "perturbed": t.mc_seen}
    rows = []
    for i, ex in enumerate(examples):
        row: dict[str, Any] = {"id": ex.id, "label": int(t.labels[i])}
        for c in ("clean", "perturbed"):
            pred = int(probs[c][i].argmax())
            row[c] = {
                "probs": probs[c][i],
                "pred": pred,
                "correct": pred == int(t.labels[i]),
                "view_probs": views[c][i],
                **({"sample_probs": samples[c][i]} if samples[c] is not None else {}),
                **{k: float(v[i]) for k, v in stats[c].items()},
            }
        row["perturbed"]["text"] = x_seen[i]
        row["worst"] = {"correct": not bool(t.errors("worst")[i]), "failure_view_probs": t.p_fail[i]}
        row["perturbation"] = {
            "name": perturbation_name,
            "failure_seed": seeds.failure,
            "score_seed": seeds.score,
        }
        if t.p_adv is not None:
            pred = int(t.p_adv[i].argmax())
            row["adversarial"] = {
                "text": x_adv[i],
                "probs": t.p_adv[i],
                "pred": pred,
                "correct": pred == int(t.labels[i]),
                "skipped": bool(t.attack_skipped[i]),
                "view_probs": t.p_score_adv[i],
                **{k: float(v[i]) for k, v in stats["adversarial"].items()},
            }
        rows.append(row)
    return rows


def tensors_from_rows(rows: Sequence[dict[str, Any]]) -> EvaluationTensors:
    """Rebuild the evaluation tensors from per-example rows (the inverse of `per_example_rows`)."""
    if not rows:
        raise ValueError("no per-example rows")

    def stack(get) -> Tensor:
        return torch.stack([torch.as_tensor(get(r), dtype=torch.float32) for r in rows])

    has_mc = "sample_probs" in rows[0]["clean"]
    has_adv = "adversarial" in rows[0]
    p_seen = stack(lambda r: r["perturbed"]["probs"])
    p_fail = stack(lambda r: r["worst"]["failure_view_probs"])
    if not torch.allclose(p_fail[:, 0], p_seen):
        raise ValueError("per-example file is inconsistent: failure view 0 differs from the perturbed input")
    return EvaluationTensors(
        labels=torch.tensor([r["label"] for r in rows], dtype=torch.long),
        p_clean=stack(lambda r: r["clean"]["probs"]),
        p_fail=p_fail,
        p_score_clean=stack(lambda r: r["clean"]["view_probs"]),
        p_score_seen=stack(lambda r: r["perturbed"]["view_probs"]),
        mc_clean=stack(lambda r: r["clean"]["sample_probs"]) if has_mc else None,
        mc_seen=stack(lambda r: r["perturbed"]["sample_probs"]) if has_mc else None,
        p_adv=stack(lambda r: r["adversarial"]["probs"]) if has_adv else None,
        p_score_adv=stack(lambda r: r["adversarial"]["view_probs"]) if has_adv else None,
        attack_skipped=torch.tensor([r["adversarial"]["skipped"] for r in rows]) if has_adv else None,
    )


def read_per_example(path: str | os.PathLike) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def first_per_example_row(path: str | os.PathLike) -> dict[str, Any]:
    """The first row of a per-example file (enough to tell which evaluator wrote it)."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                return json.loads(line)
    raise ValueError(f"{path}: no per-example rows")


def require_numeric_alpha(suite: ScoreSuite) -> None:
    """Recomputing cannot refit alpha (no validation split is stored): it must be a number."""
    if suite.needs_alpha_fit:
        raise ValueError(
            "recompute needs a numeric score.alpha (the fitted value is in metrics.json: score/alpha)"
        )


def recompute_metrics(path: str | os.PathLike, suite: ScoreSuite, cert_t: float = 0.1) -> dict[str, float]:
    """All metrics from a saved `per_example.jsonl`, with any score settings: no forward pass."""
    require_numeric_alpha(suite)
    return compute_metrics(tensors_from_rows(read_per_example(path)), suite, cert_t=cert_t)


def _concatenate(parts: Sequence[EvaluationTensors]) -> EvaluationTensors:
    """Join the tensors of consecutive chunks (fields that are None stay None)."""
    fields = {}
    for f in dataclasses.fields(EvaluationTensors):
        values = [getattr(p, f.name) for p in parts]
        fields[f.name] = None if values[0] is None else torch.cat(values)
    return EvaluationTensors(**fields)


def _calibration_inputs(
    predict: ProbaFn,
    examples: Sequence[ClassificationExample],
    perturbation: Any,
    suite: ScoreSuite,
    seeds: EvaluationSeeds,
    sample: SampleFn | None,
) -> tuple[ScoringInputs, Tensor]:
    """Clean-condition scoring inputs and errors on the calibration (validation) split."""
    labels = torch.tensor([ex.label for ex in examples], dtype=torch.long)
    texts = [ex.text for ex in examples]
    pairs = text_pairs_of(examples)
    p = _predict_grid(predict, scoring_rows(texts, perturbation, suite.num_views, seeds), pairs)
    mc = sample(texts, pairs, suite.mc_samples, seeds.mc) if suite.mc_samples and sample is not None else None
    return ScoringInputs(p[:, 0], p[:, 1:], mc), p[:, 0].argmax(-1) != labels


def _attack_condition(
    predict: ProbaFn,
    examples: Sequence[ClassificationExample],
    tensors: EvaluationTensors,
    attack: Any,
    perturbation: Any,
    suite: ScoreSuite,
    seeds: EvaluationSeeds,
) -> tuple[EvaluationTensors, list[str]]:
    """The adversarial condition: the model sees x_adv found by the attack (x itself when the input
    was already wrong or the attack failed); the scoring neighbourhood is built from x_adv."""
    results = []
    for ex in tqdm(examples, desc="attacking", leave=False):  # a text pair stays fixed; its claim is attacked
        pair = ex.text_pair

        def proba(texts: list[str], pair: str | None = pair) -> Tensor:
            return predict(texts, [pair] * len(texts) if pair is not None else None)

        results.extend(attack.attack([ex.text], [ex.label], proba))
    x_adv = [r.attacked if r.success else r.original for r in results]
    pairs = text_pairs_of(examples)
    p = _predict_grid(predict, scoring_rows(x_adv, perturbation, suite.num_views, seeds), pairs)
    skipped = torch.tensor([r.skipped for r in results])
    return dataclasses.replace(tensors, p_adv=p[:, 0], p_score_adv=p[:, 1:], attack_skipped=skipped), x_adv


def _ambiguous_condition(
    predict: ProbaFn,
    examples: Sequence[ClassificationExample],
    perturbation: Any,
    suite: ScoreSuite,
    seeds: EvaluationSeeds,
    tau_c: float,
) -> dict[str, float]:
    """The ambiguous condition: inputs with >= 2 valid labels; failure = collapse or an answer
    outside the valid set. Reports `amb/...` and `fd/<metric>/<score>/ambiguous`."""
    texts = [ex.text for ex in examples]
    pairs = text_pairs_of(examples)
    p = _predict_grid(predict, scoring_rows(texts, perturbation, suite.num_views, seeds), pairs)
    valid = torch.zeros(len(examples), p.shape[-1], dtype=torch.bool)
    for i, ex in enumerate(examples):
        valid[i, list(ex.valid_labels or ())] = True
    errors = collapse_errors(p[:, 0], valid, tau_c)
    metrics = ambiguity_metrics(p[:, 0], valid, tau_c)
    metrics.update(_condition_metrics(suite, ScoringInputs(p[:, 0], p[:, 1:]), errors, "ambiguous"))
    metrics["amb/tau_c"] = tau_c
    return metrics


def evaluate_classification(
    predict: ProbaFn,
    examples: Sequence[ClassificationExample],
    perturbation: Any,
    suite: ScoreSuite,
    seed: int,
    failure_views: int | None = None,
    cert_t: float = 0.1,
    sample: SampleFn | None = None,
    val_examples: Sequence[ClassificationExample] | None = None,
    abstainer: Any | None = None,
    attack: Any | None = None,
    ambiguous_examples: Sequence[ClassificationExample] | None = None,
    tau_c: float = 0.9,
    rows_path: str | os.PathLike | None = None,
    chunk_size: int = 2048,
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Score every example in the clean, perturbed and worst conditions.

    Examples go through in chunks of `chunk_size`; with `rows_path` the per-example rows are
    streamed to that JSONL file (atomically, it appears when the evaluation completes) and the
    returned row list is empty. Results do not depend on the chunk size, except MC-dropout
    samples (one seeded dropout stream per chunk).

    `val_examples` is the calibration split: with `score.alpha: auto` alpha is fitted there, and
    an `abstainer` (sua_exp.abstain.Abstainer) fits its threshold there and reports realized
    coverage/risk on the test split (`abstain/...` keys). Returns (flat metrics, per-example rows).
    """
    seeds = EvaluationSeeds.from_run_seed(seed)
    cal_inputs = cal_errors = None
    if suite.needs_alpha_fit or abstainer is not None:
        if not val_examples:
            raise ValueError("score.alpha=auto and the abstain rule need the validation (calibration) split")
        cal_inputs, cal_errors = _calibration_inputs(
            predict, val_examples, perturbation, suite, seeds, sample
        )
        suite = suite.fit_alpha(cal_inputs, cal_errors)
    name = getattr(perturbation, "name", type(perturbation).__name__)
    parts, rows = [], []
    with ExitStack() as stack:
        fh = stack.enter_context(atomic_open(rows_path)) if rows_path is not None else None
        chunks = [examples[i : i + chunk_size] for i in range(0, len(examples), chunk_size)]
        for chunk in tqdm(chunks, desc="evaluating chunks", leave=False, disable=len(chunks) < 2):
            labels = torch.tensor([ex.label for ex in chunk], dtype=torch.long)
            pairs = text_pairs_of(chunk)
            texts = [ex.text for ex in chunk]
            t, x_seen = run_forwards(
                predict, texts, labels, perturbation, suite, seeds, pairs, failure_views, sample
            )
            x_adv = None
            if attack is not None:
                t, x_adv = _attack_condition(predict, chunk, t, attack, perturbation, suite, seeds)
            chunk_rows = per_example_rows(chunk, t, x_seen, suite, name, seeds, x_adv)
            if fh is not None:  # streamed: per-example memory does not grow with the dataset
                write_rows(fh, chunk_rows)
            else:
                rows.extend(chunk_rows)
            parts.append(t)
        tensors = _concatenate(parts)
    metrics = compute_metrics(tensors, suite, cert_t=cert_t)
    if abstainer is not None:
        metrics.update(abstention_metrics(abstainer, suite, cal_inputs, cal_errors, tensors))
    if ambiguous_examples:
        metrics.update(_ambiguous_condition(predict, ambiguous_examples, perturbation, suite, seeds, tau_c))
    return metrics, rows
