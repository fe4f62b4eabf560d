"""Abstention: "answer iff score(x) <= tau", tau fitted for a target coverage or a target
selective risk with a finite-sample guarantee (Learn-then-Test)."""

from sua_exp.abstain.abstainer import MODES, Abstainer
from sua_exp.abstain.rule import fit_tau_for_coverage, fit_tau_for_risk, risk_pvalues, selective_stats

__all__ = [
    "MODES",
    "Abstainer",
    "fit_tau_for_coverage",
    "fit_tau_for_risk",
    "risk_pvalues",
    "selective_stats",
]
