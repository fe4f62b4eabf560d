"""Failure scores built from predictive distributions (higher = more likely wrong)."""

from sua_exp.scores.suite import SCORE_NAMES, ScoreSuite, ScoringInputs, sua_scores

__all__ = ["SCORE_NAMES", "ScoreSuite", "ScoringInputs", "sua_scores"]
