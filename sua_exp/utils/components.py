"""The evaluation components of a run, built and cross-checked before any training starts.

A wrong score name or a negative lambda must fail in the first second of a run, naming the
config key, not after an hour of training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import hydra
from omegaconf import DictConfig

from sua_exp.scores import SCORE_NAMES, ScoreSuite


@dataclass
class EvalComponents:
    perturbation: Any
    suite: ScoreSuite
    abstainer: Any | None
    attack: Any | None = None
    ambiguity: Any | None = None

    def ambiguous(self, datamodule: Any) -> list | None:
        """The ambiguous evaluation inputs built by the `ambiguity` config from the test split."""
        return self.ambiguity(datamodule) if self.ambiguity is not None else None


def build_eval_components(cfg: DictConfig) -> EvalComponents:
    """Instantiate perturbation, score suite and abstention rule (each validates its own keys)."""
    perturbation = hydra.utils.instantiate(cfg.perturbation)
    suite = hydra.utils.instantiate(cfg.score)
    abstainer = hydra.utils.instantiate(cfg.abstain) if cfg.get("abstain") else None
    if abstainer is not None:
        if abstainer.score not in SCORE_NAMES:
            raise ValueError(f"abstain.score '{abstainer.score}' is not one of {SCORE_NAMES}")
        if abstainer.score in ("self_consistency", "mutual_info") and not suite.mc_samples:
            raise ValueError(f"abstain.score '{abstainer.score}' needs score.mc_samples >= 2")
    attack = hydra.utils.instantiate(cfg.attack) if cfg.get("attack") else None
    ambiguity = hydra.utils.instantiate(cfg.ambiguity) if cfg.get("ambiguity") else None
    return EvalComponents(perturbation, suite, abstainer, attack, ambiguity)
