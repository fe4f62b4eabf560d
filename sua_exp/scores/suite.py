"""Failure scores as small estimators over shared statistics (higher = more likely wrong).

Every score reads the same `ScoringInputs` (p(.|x), the scoring neighbourhood's p(.|x~_m) and,
optionally, MC-dropout samples), so adding a score costs no forward pass; `cost` says how many
forwards per input a score needs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from sua_exp import core

DIVERGENCE_NAMES = tuple(core.DIVERGENCES)
AGGREGATIONS = ("mean", "max")
SINGLE_PASS = ("msp", "entropy", "margin")
NEIGHBOURHOOD = ("sensitivity", "sua", "sua_plus", "u_sua")
SAMPLING = ("self_consistency", "mutual_info")
SCORE_NAMES = SINGLE_PASS + SAMPLING + NEIGHBOURHOOD
DEFAULT_ALPHA_GRID = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


@dataclass(frozen=True)
class ScoringInputs:
    """p(.|x) [N, K] for the input the model sees, its neighbourhood's p(.|x~) [N, M, K], and
    T stochastic predictions [N, T, K] (MC-dropout) when sampling scores are wanted.

    `num_classes` [N] is the per-row answer-set size K(x) of padded distributions (e.g. multiple
    choice with 2-5 options padded with zeros to K); `Hn` then divides by log K(x), not log K."""

    probs: Tensor
    view_probs: Tensor | None = None
    sample_probs: Tensor | None = None
    num_classes: Tensor | None = None


@dataclass(frozen=True)
class ScoreSuite:
    """All scores of DESIGN section 1 with the divergence/aggregation of S(x).

    `alpha` is a number or "auto" (fitted on the validation split with `fit_alpha`, never on test).
    """

    num_views: int = 4
    divergence: str = "tv"
    aggregation: str = "mean"
    lam: float = 1.0
    alpha: float | str = 1.0
    mc_samples: int = 0
    alpha_grid: Sequence[float] = DEFAULT_ALPHA_GRID

    def __post_init__(self) -> None:
        if self.num_views < 1:
            raise ValueError(f"score.num_views must be >= 1, got {self.num_views}")
        if self.mc_samples < 0 or self.mc_samples == 1:
            raise ValueError(f"score.mc_samples must be 0 (off) or >= 2, got {self.mc_samples}")
        if self.divergence not in DIVERGENCE_NAMES:
            raise ValueError(f"score.divergence '{self.divergence}' is not one of {DIVERGENCE_NAMES}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"score.aggregation '{self.aggregation}' is not one of {AGGREGATIONS}")
        if self.lam < 0:
            raise ValueError(f"score.lam must be >= 0, got {self.lam}")
        if isinstance(self.alpha, str):
            if self.alpha != "auto":
                raise ValueError(f"score.alpha must be a number >= 0 or 'auto', got '{self.alpha}'")
        elif self.alpha < 0:
            raise ValueError(f"score.alpha must be >= 0, got {self.alpha}")
        object.__setattr__(self, "alpha_grid", tuple(float(a) for a in self.alpha_grid))

    @property
    def needs_alpha_fit(self) -> bool:
        return self.alpha == "auto"

    def cost(self, name: str) -> int:
        """Forward passes per input that the score needs."""
        if name in SINGLE_PASS:
            return 1
        if name in SAMPLING:
            return self.mc_samples
        return 1 + self.num_views

    def statistics(self, inputs: ScoringInputs) -> dict[str, Tensor]:
        """The per-example quantities the scores are built from (also written per example)."""
        p = inputs.probs
        stats = {
            "H": core.entropy(p),
            "Hn": core.normalized_entropy(p, inputs.num_classes),
            "msp": core.max_prob(p),
            "margin": core.margin(p),
        }
        if inputs.view_probs is not None:
            s = core.sensitivity(
                p, inputs.view_probs, divergence=self.divergence, aggregation=self.aggregation
            )
            stats["S"] = s
            stats["SUA"] = core.sua_score(s, stats["Hn"], lam=self.lam)
            if not self.needs_alpha_fit:
                stats["U_sua"] = core.u_sua(stats["Hn"], s, alpha=float(self.alpha))
        if inputs.sample_probs is not None:
            stats["modal_freq"] = core.modal_frequency(inputs.sample_probs)
            stats["MI"] = core.mutual_information(inputs.sample_probs)
        return stats

    def scores(self, inputs: ScoringInputs) -> dict[str, Tensor]:
        """Every score that the inputs allow: single-pass always, the others when their inputs exist."""
        if self.needs_alpha_fit:
            raise ValueError("score.alpha is 'auto': call fit_alpha on the validation split first")
        st = self.statistics(inputs)
        out = {"msp": 1.0 - st["msp"], "entropy": st["Hn"], "margin": 1.0 - st["margin"]}
        if "modal_freq" in st:
            out["self_consistency"] = 1.0 - st["modal_freq"]
            out["mutual_info"] = st["MI"]
        if "S" in st:
            out["sensitivity"] = st["S"]
            out["sua"] = st["SUA"]
            out["sua_plus"] = st["SUA"].clamp(min=0.0)
            out["u_sua"] = st["U_sua"]
        return out

    def fit_alpha(self, inputs: ScoringInputs, errors: Tensor) -> ScoreSuite:
        """The suite with `alpha` chosen on the grid by failure-detection AUROC on these (validation)
        inputs; ties go to the smallest alpha. Returns self unchanged when alpha is a number."""
        if not self.needs_alpha_fit:
            return self
        from sua_exp.evaluation.failure_detection import auroc

        if inputs.view_probs is None:
            raise ValueError("fitting score.alpha needs the scoring neighbourhood (view_probs)")
        hn = core.normalized_entropy(inputs.probs, inputs.num_classes)
        s = core.sensitivity(
            inputs.probs, inputs.view_probs, divergence=self.divergence, aggregation=self.aggregation
        )
        best_alpha, best_auc = self.alpha_grid[0], -1.0
        for a in self.alpha_grid:
            auc = auroc(core.u_sua(hn, s, alpha=a), errors)
            if auc == auc and auc > best_auc + 1e-12:  # nan (one class only) never wins
                best_alpha, best_auc = a, auc
        return dataclasses.replace(self, alpha=best_alpha)


def sua_scores(
    p_clean: Tensor,
    p_perturbed: Tensor,
    divergence: str = "tv",
    aggregation: str = "mean",
    lam: float = 1.0,
    alpha: float = 1.0,
) -> dict[str, Tensor]:
    """Low-level API: every score from p(.|x) [N, K] and its M perturbed views [N, M, K].

    For use inside your own inference loop; returns msp, entropy, margin, sensitivity, sua,
    sua_plus and u_sua as [N] tensors (higher = more likely wrong).
    """
    p_clean = torch.as_tensor(p_clean)
    p_perturbed = torch.as_tensor(p_perturbed)
    if p_perturbed.dim() == p_clean.dim():  # a single view [N, K]
        p_perturbed = p_perturbed.unsqueeze(-2)
    suite = ScoreSuite(
        num_views=p_perturbed.shape[-2], divergence=divergence, aggregation=aggregation, lam=lam, alpha=alpha
    )
    return suite.scores(ScoringInputs(p_clean, p_perturbed))
