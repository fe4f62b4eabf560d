"""Training objectives (CE, SUA-TR and baselines) and post-hoc temperature scaling."""

from sua_exp.objectives.base import Objective
from sua_exp.objectives.baselines import ConfidencePenalty, LabelSmoothing, RDrop
from sua_exp.objectives.cross_entropy import CrossEntropy
from sua_exp.objectives.sua_tr import SUATR
from sua_exp.objectives.temperature import TemperatureScaling

__all__ = [
    "SUATR",
    "ConfidencePenalty",
    "CrossEntropy",
    "LabelSmoothing",
    "Objective",
    "RDrop",
    "TemperatureScaling",
]
