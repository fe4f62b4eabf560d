"""Evaluation metrics over tensors: failure detection (``fd/``), calibration (``cal/``), selective
prediction (``sc/``) and robustness (``rob/``). All return Python floats and flat log keys."""

from sua_exp.evaluation.calibration import adaptive_ece, brier, calibration_metrics, ece, nll
from sua_exp.evaluation.failure_detection import (
    augrc,
    auprc,
    aurc,
    auroc,
    failure_detection_metrics,
    prr,
    risk_coverage_curve,
)
from sua_exp.evaluation.robustness import attack_success_rate, robustness_metrics
from sua_exp.evaluation.selective import coverage_at_risk, risk_at_coverage, selective_metrics

__all__ = [
    "adaptive_ece",
    "attack_success_rate",
    "augrc",
    "auprc",
    "aurc",
    "auroc",
    "brier",
    "calibration_metrics",
    "coverage_at_risk",
    "ece",
    "failure_detection_metrics",
    "nll",
    "prr",
    "risk_at_coverage",
    "risk_coverage_curve",
    "robustness_metrics",
    "selective_metrics",
]
