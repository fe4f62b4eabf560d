"""Failure scores built from predictive distributions (higher = more likely wrong)."""

from sua_exp.scores.suite import ScoreSuite, ScoringInputs

__all__ = ["ScoreSuite", "ScoringInputs"]
