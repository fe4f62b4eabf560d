"""Training objectives (CE, SUA-TR and baselines)."""

from sua_exp.objectives.base import Objective
from sua_exp.objectives.cross_entropy import CrossEntropy

__all__ = ["CrossEntropy", "Objective"]
