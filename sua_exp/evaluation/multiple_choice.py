"""Evaluation of a causal LM on multiple-choice QA by option scoring, under perturbations of the
question (the context and the options are kept: DESIGN section 1).

Same conditions, seeds, tensors and metric keys as the classification runner
(`sua_exp.evaluation.runner`): the forwards produce `MCEvaluationTensors` (padded p(.|x) over the
options plus each example's K, so `Hn` divides by log K(x)), and `compute_metrics` turns them
into every `task/ fd/ cal/ sc/ rob/ sua/ cert/` key. Self-consistency samples are answers drawn
at the model's `sample_temperature` from its option distribution (temperature sampling; no extra
forward pass).

Ambiguity (DESIGN section 1, "Ambiguity collapse"), on the ambiguous inputs of the data (BBQ
ambiguous contexts, disambiguation_qa ambiguous rows; see `ambiguity_info`): the correct answer is
the unknown option and the valid readings `V` are the other options (the two people of BBQ). The
model *collapses* when it puts >= `tau_c` of its mass on one answer of `V`. Keys (clean input;
`/perturbed` for x'): `amb/collapse_rate`, `amb/mass_on_unknown`, `amb/mass_on_valid` (mass on
`V`), `amb/entropy_gap` (mean `log|V| - H`, nats), `amb/num_examples`, `amb/tau_c`, plus
`task/acc/ambig`, `task/acc/disambig` and `fd/.../ambiguous` (failure detection on the ambiguous
inputs alone; failure = not choosing the unknown option). Data without ambiguity annotations gets
none of these keys.

Relation to `sua_exp.evaluation.ambiguity` (mixtures of classification inputs): same key names and
the same `mass_on_valid` / `entropy_gap = log|V| - H` formulas. Two deliberate differences for
these data: a collapse is counted on `V` only (a confident "unknown" is the correct answer, not a
collapse onto one reading), and there is no `amb/js_to_human`, since BBQ has no human label
distribution (DESIGN: "JS(q, p) where q exists").
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
from sua_exp.data.multiple_choice import MultipleChoiceExample, ambiguity_info, format_prompt
from sua_exp.data.sources import project_root
from sua_exp.evaluation.runner import (
    EvaluationSeeds,
    EvaluationTensors,
    _condition_metrics,
    abstention_metrics,
    compute_metrics,
    per_example_rows,
    read_per_example,
    require_numeric_alpha,
    scoring_rows,
    tensors_from_rows,
    view_grid,
)
from sua_exp.scores import ScoreSuite, ScoringInputs
from sua_exp.utils.io import write_json_atomic, write_jsonl_atomic

log = logging.getLogger("sua_exp")
CONF_DIR = str(project_root() / "conf")

PromptFn = Callable[[MultipleChoiceExample, str], str]


@dataclass(frozen=True)
class MCEvaluationTensors(EvaluationTensors):
    """`EvaluationTensors` over options padded to Kmax, with each example's K (`num_classes` [N])."""

    num_classes: Tensor | None = None

    def inputs(self, condition: str) -> ScoringInputs:
        return dataclasses.replace(super().inputs(condition), num_classes=self.num_classes)


@dataclass(frozen=True)
class AmbiguityLabels:
    """Per-example ambiguity annotations: ambiguous flag [N] bool, unknown option [N] (-1: none),
    and whether the data annotates ambiguity at all (`conditioned` [N] bool)."""

    ambiguous: Tensor
    unknown: Tensor
    conditioned: Tensor

    @classmethod
    def from_examples(cls, examples: Sequence[MultipleChoiceExample]) -> AmbiguityLabels:
        info = [ambiguity_info(ex) for ex in examples]
        conditioned = [
            ("context_condition" in ex.meta) or ("label_is_ambiguous" in ex.meta) for ex in examples
        ]
        return cls(
            ambiguous=torch.tensor([a for a, _ in info], dtype=torch.bool),
            unknown=torch.tensor([-1 if u is None else u for _, u in info], dtype=torch.long),
            conditioned=torch.tensor(conditioned, dtype=torch.bool),
        )


def ambiguity_metrics(
    probs: Tensor,
    labels: Tensor,
    num_classes: Tensor,
    amb: AmbiguityLabels,
    tau_c: float = 0.9,
    suffix: str = "",
) -> dict[str, float]:
    """`amb/*` and `task/acc/{ambig,disambig}` for padded probs [N, K] (see the module docstring)."""
    if not 0.0 < tau_c <= 1.0:
        raise ValueError(f"tau_c must lie in (0, 1], got {tau_c}")
    out: dict[str, float] = {}
    correct = probs.argmax(-1) == labels
    if amb.conditioned.any():
        for name, rows in (
            ("ambig", amb.ambiguous & amb.conditioned),
            ("disambig", ~amb.ambiguous & amb.conditioned),
        ):
            if rows.any():
                out[f"task/acc/{name}{suffix}"] = correct[rows].double().mean().item()
    rows = amb.ambiguous & (amb.unknown >= 0)
    if not rows.any():
        return out
    p, k, unknown = probs[rows].double(), num_classes[rows], amb.unknown[rows]
    cols = torch.arange(p.shape[-1]).unsqueeze(0)
    in_v = (cols < k.unsqueeze(1)) & (cols != unknown.unsqueeze(1))  # the valid readings V
    mass_v = torch.where(in_v, p, torch.zeros_like(p))
    size_v = in_v.sum(-1).double()
    out[f"amb/collapse_rate{suffix}"] = (mass_v.amax(-1) >= tau_c).double().mean().item()
    out[f"amb/mass_on_unknown{suffix}"] = p.gather(1, unknown.unsqueeze(1)).mean().item()
    out[f"amb/mass_on_valid{suffix}"] = mass_v.sum(-1).mean().item()
    out[f"amb/entropy_gap{suffix}"] = (size_v.log() - core.entropy(p)).mean().item()
    if not suffix:
        out["amb/num_examples"] = float(rows.sum())
        out["amb/tau_c"] = float(tau_c)
    return out


def choice_ambiguity_metrics(
    examples: Sequence[MultipleChoiceExample], rows: Sequence[dict[str, Any]], tau_c: float = 0.9
) -> dict[str, float]:
    """`amb/*` and `task/acc/{ambig,disambig}` (clean; `/perturbed` on x') of an encoder run on
    multiple-choice data, from the per-example rows of the classification runner (matched by id).
    Data without ambiguity annotations (e.g. Social IQa) gets no keys."""
    amb = AmbiguityLabels.from_examples(examples)
    if not amb.conditioned.any():
        return {}
    by_id = {row["id"]: row for row in rows}
    missing = [ex.id for ex in examples if ex.id not in by_id]
    if missing:
        raise ValueError(f"no per-example row for {len(missing)} test examples (e.g. {missing[0]})")
    matched = [by_id[ex.id] for ex in examples]
    labels = torch.tensor([ex.label for ex in examples], dtype=torch.long)
    k = torch.tensor([ex.num_choices for ex in examples], dtype=torch.long)
    out = {}
    for condition, suffix in (("clean", ""), ("perturbed", "/perturbed")):
        probs = torch.tensor([row[condition]["probs"] for row in matched], dtype=torch.float32)
        out.update(ambiguity_metrics(probs, labels, k, amb, tau_c, suffix=suffix))
    return out


def _subset(inputs: ScoringInputs, rows: Tensor) -> ScoringInputs:
    values = {f.name: getattr(inputs, f.name) for f in dataclasses.fields(inputs)}
    return ScoringInputs(**{k: None if v is None else v[rows] for k, v in values.items()})


def compute_mc_metrics(
    t: MCEvaluationTensors, suite: ScoreSuite, amb: AmbiguityLabels, cert_t: float = 0.1, tau_c: float = 0.9
) -> dict[str, float]:
    """Every classification-runner metric plus the ambiguity metrics (no model needed)."""
    metrics = compute_metrics(t, suite, cert_t=cert_t)
    metrics["eval/mean_num_choices"] = t.num_classes.double().mean().item()
    metrics.update(ambiguity_metrics(t.p_clean, t.labels, t.num_classes, amb, tau_c))
    metrics.update(ambiguity_metrics(t.p_seen, t.labels, t.num_classes, amb, tau_c, suffix="/perturbed"))
    rows = amb.ambiguous
    if int(rows.sum()) >= 2:
        inputs = _subset(t.inputs("clean"), rows)
        metrics.update(_condition_metrics(suite, inputs, t.errors("clean")[rows], "ambiguous"))
    return metrics


def _score_grid(
    scorer: Any, examples: Sequence[MultipleChoiceExample], grid: list[list[str]], prompt: PromptFn
) -> Tensor:
    """p over the options for every (example, question variant) in one call -> [N, V, Kmax]."""
    n, v = len(grid), len(grid[0]) if grid else 0
    prompts = [prompt(ex, q) for ex, row in zip(examples, grid, strict=True) for q in row]
    options = [list(ex.choices) for ex in examples for _ in range(v)]
    return scorer.predict_proba(prompts, options).view(n, v, -1)


def run_mc_forwards(
    scorer: Any,
    examples: Sequence[MultipleChoiceExample],
    perturbation: Any,
    suite: ScoreSuite,
    seeds: EvaluationSeeds,
    prompt: PromptFn = format_prompt,
    failure_views: int | None = None,
) -> tuple[MCEvaluationTensors, list[str]]:
    """All forwards of an evaluation (the questions are perturbed, never the context or options);
    returns the tensors and the perturbed questions x'."""
    questions = [ex.question for ex in examples]
    m, m_fail = suite.num_views, failure_views or suite.num_views
    grid, x_seen = view_grid(questions, perturbation, seeds, m, m_fail)
    probs = _score_grid(scorer, examples, grid, prompt)
    p_clean, p_fail = probs[:, 0], probs[:, 1 : 1 + m_fail]
    mc_clean = mc_seen = None
    if suite.mc_samples:
        mc_clean = scorer.sample_from_proba(p_clean, suite.mc_samples, seeds.mc)
        mc_seen = scorer.sample_from_proba(p_fail[:, 0], suite.mc_samples, seeds.mc)
    tensors = MCEvaluationTensors(
        labels=torch.tensor([ex.label for ex in examples], dtype=torch.long),
        p_clean=p_clean,
        p_fail=p_fail,
        p_score_clean=probs[:, 1 + m_fail : 1 + m_fail + m],
        p_score_seen=probs[:, 1 + m_fail + m :],
        mc_clean=mc_clean,
        mc_seen=mc_seen,
        num_classes=torch.tensor([ex.num_choices for ex in examples], dtype=torch.long),
    )
    return tensors, x_seen


def _calibration_inputs(
    scorer: Any,
    examples: Sequence[MultipleChoiceExample],
    perturbation: Any,
    suite: ScoreSuite,
    seeds: EvaluationSeeds,
    prompt: PromptFn,
) -> tuple[ScoringInputs, Tensor]:
    """Clean-condition scoring inputs and errors on the calibration (validation) split."""
    labels = torch.tensor([ex.label for ex in examples], dtype=torch.long)
    questions = [ex.question for ex in examples]
    p = _score_grid(scorer, examples, scoring_rows(questions, perturbation, suite.num_views, seeds), prompt)
    mc = scorer.sample_from_proba(p[:, 0], suite.mc_samples, seeds.mc) if suite.mc_samples else None
    k = torch.tensor([ex.num_choices for ex in examples], dtype=torch.long)
    return ScoringInputs(p[:, 0], p[:, 1:], mc, k), p[:, 0].argmax(-1) != labels


def _mc_rows(
    examples: Sequence[MultipleChoiceExample],
    t: MCEvaluationTensors,
    x_seen: Sequence[str],
    suite: ScoreSuite,
    perturbation_name: str,
    seeds: EvaluationSeeds,
) -> list[dict[str, Any]]:
    rows = per_example_rows(examples, t, x_seen, suite, perturbation_name, seeds)
    for row, ex in zip(rows, examples, strict=True):
        ambiguous, unknown = ambiguity_info(ex)
        row["num_choices"] = ex.num_choices
        row["ambiguous"] = ambiguous
        row["unknown_choice"] = unknown
        row["condition"] = ex.meta.get("context_condition")
        if "label_is_ambiguous" in ex.meta:
            row["condition"] = "ambig" if ambiguous else "disambig"
        if "choice_order" in ex.meta:
            row["choice_order"] = ex.meta["choice_order"]
    return rows


def evaluate_multiple_choice(
    scorer: Any,
    examples: Sequence[MultipleChoiceExample],
    perturbation: Any,
    suite: ScoreSuite,
    seed: int,
    prompt: PromptFn = format_prompt,
    failure_views: int | None = None,
    cert_t: float = 0.1,
    tau_c: float = 0.9,
    val_examples: Sequence[MultipleChoiceExample] | None = None,
    abstainer: Any | None = None,
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Score every example in the clean, perturbed and worst conditions (+ ambiguity metrics).

    `scorer` is an `OptionScorer` (or anything with `predict_proba(prompts, options)` and
    `sample_from_proba(probs, samples, seed)`); `prompt(example, question)` renders the user turn.
    `val_examples` is the calibration split for `score.alpha: auto` and the `abstainer`, as in
    `evaluate_classification`. Returns (flat metrics, per-example rows).
    """
    if not examples:
        raise ValueError("no examples to evaluate")
    seeds = EvaluationSeeds.from_run_seed(seed)
    cal_inputs = cal_errors = None
    if suite.needs_alpha_fit or abstainer is not None:
        if not val_examples:
            raise ValueError("score.alpha=auto and the abstain rule need the validation (calibration) split")
        cal_inputs, cal_errors = _calibration_inputs(scorer, val_examples, perturbation, suite, seeds, prompt)
        suite = suite.fit_alpha(cal_inputs, cal_errors)
    tensors, x_seen = run_mc_forwards(scorer, examples, perturbation, suite, seeds, prompt, failure_views)
    amb = AmbiguityLabels.from_examples(examples)
    metrics = compute_mc_metrics(tensors, suite, amb, cert_t=cert_t, tau_c=tau_c)
    if abstainer is not None:
        metrics.update(abstention_metrics(abstainer, suite, cal_inputs, cal_errors, tensors))
    name = getattr(perturbation, "name", type(perturbation).__name__)
    return metrics, _mc_rows(examples, tensors, x_seen, suite, name, seeds)


def recompute_mc_metrics(
    path: str | Path, suite: ScoreSuite, cert_t: float = 0.1, tau_c: float = 0.9
) -> dict[str, float]:
    """All metrics from a saved multiple-choice `per_example.jsonl`: no forward pass."""
    return mc_metrics_from_rows(read_per_example(path), suite, cert_t=cert_t, tau_c=tau_c)


def mc_metrics_from_rows(
    rows: Sequence[dict[str, Any]], suite: ScoreSuite, cert_t: float = 0.1, tau_c: float = 0.9
) -> dict[str, float]:
    """`recompute_mc_metrics` on rows already read (padded answer sets keep their sizes K(x))."""
    require_numeric_alpha(suite)
    base = tensors_from_rows(rows)
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(EvaluationTensors)}
    t = MCEvaluationTensors(**fields, num_classes=torch.tensor([r["num_choices"] for r in rows]))
    amb = AmbiguityLabels(
        ambiguous=torch.tensor([bool(r.get("ambiguous")) for r in rows], dtype=torch.bool),
        unknown=torch.tensor(
            [-1 if r.get("unknown_choice") is None else r["unknown_choice"] for r in rows], dtype=torch.long
        ),
        conditioned=torch.tensor([r.get("condition") is not None for r in rows], dtype=torch.bool),
    )
    return compute_mc_metrics(t, suite, amb, cert_t=cert_t, tau_c=tau_c)


# ---------------------------------------------------------------------- entry point (sua-llm-eval)
def evaluate_llm(cfg: DictConfig) -> dict[str, float]:
    """`sua-llm-eval`: the LLM on a multiple-choice data config; writes metrics.json and
    per_example.jsonl (atomically) in the run dir. `adapter=generative` runs generative QA
    instead (`sua_exp.evaluation.generative_qa`)."""
    from sua_exp.evaluation.generative_qa import evaluate_llm_generative, is_generative

    if is_generative(cfg):
        return evaluate_llm_generative(cfg)
    from sua_exp.utils.components import build_eval_components
    from sua_exp.utils.runtime import apply_extras, run_metadata

    apply_extras(cfg)
    out = Path(cfg.paths.output_dir)
    write_json_atomic(out / "run_info.json", run_metadata(cfg))
    cert_t, tau_c = float(cfg.get("cert_t", 0.1)), float(cfg.get("tau_c", 0.9))
    if not 0.0 < tau_c <= 1.0:
        raise ValueError(f"tau_c must lie in (0, 1], got {tau_c}")
    if cfg.get("recompute_from"):
        suite = hydra.utils.instantiate(cfg.score)
        metrics = recompute_mc_metrics(cfg.recompute_from, suite, cert_t=cert_t, tau_c=tau_c)
        write_json_atomic(out / "metrics.json", metrics)
        log.info("metrics recomputed from %s into %s", cfg.recompute_from, out / "metrics.json")
        return metrics
    components = build_eval_components(cfg)
    torch.manual_seed(cfg.seed)
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup()
    scorer = hydra.utils.instantiate(cfg.model.net)
    metrics, rows = evaluate_multiple_choice(
        scorer,
        datamodule.splits["test"],
        components.perturbation,
        components.suite,
        seed=cfg.seed,
        prompt=datamodule.prompt,
        failure_views=cfg.get("failure_views"),
        cert_t=cert_t,
        tau_c=tau_c,
        val_examples=datamodule.splits.get("val"),
        abstainer=components.abstainer,
    )
    write_jsonl_atomic(out / "per_example.jsonl", rows)
    write_json_atomic(out / "metrics.json", metrics)
    log.info(
        "%s: accuracy %.3f on %d examples; metrics in %s",
        datamodule.name,
        metrics["task/acc/clean"],
        len(rows),
        out / "metrics.json",
    )
    return metrics


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="llm_eval")
def main(cfg: DictConfig) -> None:
    evaluate_llm(cfg)


if __name__ == "__main__":
    main()
