"""Failure scores as small estimators over shared statistics (higher = more likely wrong).

Each score reads the same `ScoringInputs` (p(.|x) and the scoring neighbourhood's p(.|x~_m)),
so adding a score costs no forward pass; `cost` says how many forwards per input it needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from sua_exp import core

DIVERGENCE_NAMES = ("tv", "js", "kl", "hellinger", "sym_kl")
AGGREGATIONS = ("mean", "max")


@dataclass(frozen=True)
class ScoringInputs:
    """p(.|x) [N, K] for the input the model sees, and its neighbourhood's p(.|x~) [N, M, K]."""

    probs: Tensor
    view_probs: Tensor | None = None


@dataclass(frozen=True)
class ScoreSuite:
    """All SUA scores and their single-pass baselines, with the divergence/aggregation of S(x)."""

    num_views: int = 4
    divergence: str = "tv"
    aggregation: str = "mean"
    lam: float = 1.0
    alpha: float = 1.0

    def __post_init__(self) -> None:
        if self.num_views < 1:
            raise ValueError(f"score.num_views must be >= 1, got {self.num_views}")
        if self.divergence not in DIVERGENCE_NAMES:
            raise ValueError(f"score.divergence '{self.divergence}' is not one of {DIVERGENCE_NAMES}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"score.aggregation '{self.aggregation}' is not one of {AGGREGATIONS}")
        if self.lam < 0 or self.alpha < 0:
            raise ValueError(f"score.lam and score.alpha must be >= 0, got {self.lam}, {self.alpha}")

    def cost(self, name: str) -> int:
        """Forward passes per input that the score needs."""
        return 1 if name in ("msp", "entropy", "margin") else 1 + self.num_views

    def statistics(self, inputs: ScoringInputs) -> dict[str, Tensor]:
        """The per-example quantities the scores are built from (also written per example)."""
        p = inputs.probs
        stats = {
            "H": core.entropy(p),
            "Hn": core.normalized_entropy(p),
            "msp": core.max_prob(p),
            "margin": core.margin(p),
        }
        if inputs.view_probs is not None:
            s = core.sensitivity(
                p, inputs.view_probs, divergence=self.divergence, aggregation=self.aggregation
            )
            stats["S"] = s
            stats["SUA"] = core.sua_score(s, stats["Hn"], lam=self.lam)
            stats["U_sua"] = core.u_sua(stats["Hn"], s, alpha=self.alpha)
        return stats

    def scores(self, inputs: ScoringInputs) -> dict[str, Tensor]:
        """Every score that the inputs allow: single-pass ones always, SUA ones with views."""
        st = self.statistics(inputs)
        out = {"msp": 1.0 - st["msp"], "entropy": st["Hn"], "margin": 1.0 - st["margin"]}
        if "S" in st:
            out["sensitivity"] = st["S"]
            out["sua"] = st["SUA"]
            out["sua_plus"] = st["SUA"].clamp(min=0.0)
            out["u_sua"] = st["U_sua"]
        return out
