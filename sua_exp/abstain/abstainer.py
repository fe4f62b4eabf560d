"""`Abstainer`: the configured abstention rule (`conf/abstain/*.yaml`), fitted on a calibration
split and applied/reported on another. Works with any score where higher = more likely wrong."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from sua_exp.abstain.rule import (
    _errors,
    _scores,
    fit_tau_for_coverage,
    fit_tau_for_risk,
)

MODES = ("coverage", "risk")


def _unit(key: str, value: float, closed_right: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"abstain.{key} must be a number, got {value!r}")
    ok = 0 < value <= 1 if closed_right else 0 < value < 1
    if not ok:
        raise ValueError(f"abstain.{key} must be in (0, 1{']' if closed_right else ')'}, got {value}")
    return float(value)


class Abstainer:
    """Answer iff `score(x) <= tau`, with `tau` fitted for a target coverage or a target risk.

    Args:
        mode: `coverage` (calibration coverage >= target_coverage) or `risk` (selective risk
            <= alpha with probability >= 1 - delta, Learn-then-Test; see `sua_exp.abstain.rule`).
        target_coverage: in (0, 1], used in `coverage` mode.
        alpha: target selective risk in (0, 1], used in `risk` mode.
        delta: failure probability in (0, 1), used in `risk` mode.
        score: name of the score the rule thresholds (e.g. `u_sua`, `msp`, `entropy`); the
            evaluation picks that column, this class only sees numbers.
        grid: thresholds for `risk` mode (default: the distinct calibration scores).
        multi_start: `risk` mode: Bonferroni-split fixed sequences from geometric start points
            (default) instead of one sequence at level delta (see `fit_tau_for_risk`).

    `fit(scores, errors)` returns `self` (errors are required in `risk` mode); `tau` is then set
    (`-inf` = abstain on everything, `+inf` = answer everything).
    """

    def __init__(
        self,
        mode: str = "coverage",
        target_coverage: float = 0.8,
        alpha: float = 0.1,
        delta: float = 0.1,
        score: str = "u_sua",
        grid: Sequence[float] | None = None,
        multi_start: bool = True,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"abstain.mode: unknown value {mode!r}; valid: {', '.join(MODES)}")
        self.mode = mode
        self.target_coverage = _unit("target_coverage", target_coverage, closed_right=True)
        self.alpha = _unit("alpha", alpha, closed_right=True)
        self.delta = _unit("delta", delta, closed_right=False)
        if not isinstance(score, str) or not score:
            raise ValueError(f"abstain.score must be a score name, got {score!r}")
        self.score = score
        self.grid = None if grid is None else [float(g) for g in grid]
        if not isinstance(multi_start, bool):
            raise ValueError(f"abstain.multi_start must be true or false, got {multi_start!r}")
        self.multi_start = multi_start
        self.tau: float | None = None
        self.cal_stats: dict[str, float] = {}

    @property
    def fitted(self) -> bool:
        return self.tau is not None

    def fit(self, scores, errors=None) -> Abstainer:
        """Fit `tau` on calibration scores `[N]` (and 0/1 errors `[N]`, required in risk mode)."""
        if self.mode == "coverage":
            self.tau = fit_tau_for_coverage(scores, self.target_coverage)
        else:
            if errors is None:
                raise ValueError("abstain.mode=risk needs the calibration errors to fit tau")
            self.tau = fit_tau_for_risk(
                scores, errors, self.alpha, self.delta, grid=self.grid, multi_start=self.multi_start
            )
        self.cal_stats = (
            self._stats(scores, errors) if errors is not None else {"coverage": self._coverage(scores)}
        )
        return self

    def _require_fit(self) -> float:
        if self.tau is None:
            raise RuntimeError("Abstainer.fit must be called before apply/report")
        return self.tau

    def apply(self, scores) -> np.ndarray:
        """Boolean accept mask `[N]`: True = answer (`score <= tau`); NaN scores abstain."""
        tau = self._require_fit()
        s = _scores(scores, allow_nan=True)
        return s <= tau

    def _coverage(self, scores) -> float:
        return float(self.apply(scores).mean())

    def _stats(self, scores, errors) -> dict[str, float]:
        accept = self.apply(scores)
        e = _errors(errors, accept.size)
        n_acc = int(accept.sum())
        return {
            "coverage": n_acc / accept.size,
            # selective risk; 0 when nothing is answered (no answer, no error)
            "risk": float(e[accept].sum()) / n_acc if n_acc else 0.0,
            "n_accepted": float(n_acc),
            "n": float(accept.size),
        }

    def report(self, scores, errors) -> dict[str, float]:
        """Realized coverage and selective risk of the fitted rule on a split (e.g. test).

        Keys: `abstain/tau`, `abstain/coverage`, `abstain/risk`, `abstain/n`,
        `abstain/n_accepted`, `abstain/cal_coverage` and `abstain/cal_risk` (on the calibration
        split, when fitted with errors), and the targets: `abstain/target_coverage` (coverage
        mode) or `abstain/target_alpha`, `abstain/delta` and `abstain/risk_violated` (1.0 when the
        realized risk exceeds alpha) in risk mode.
        """
        tau = self._require_fit()
        st = self._stats(scores, errors)
        out = {
            "abstain/tau": float(tau),
            "abstain/coverage": st["coverage"],
            "abstain/risk": st["risk"],
            "abstain/n": st["n"],
            "abstain/n_accepted": st["n_accepted"],
        }
        if "coverage" in self.cal_stats:
            out["abstain/cal_coverage"] = self.cal_stats["coverage"]
        if "risk" in self.cal_stats:
            out["abstain/cal_risk"] = self.cal_stats["risk"]
        if self.mode == "coverage":
            out["abstain/target_coverage"] = self.target_coverage
        else:
            out["abstain/target_alpha"] = self.alpha
            out["abstain/delta"] = self.delta
            out["abstain/risk_violated"] = float(st["risk"] > self.alpha)
        return out

    def __repr__(self) -> str:
        target = (
            f"target_coverage={self.target_coverage}"
            if self.mode == "coverage"
            else f"alpha={self.alpha}, delta={self.delta}"
        )
        return f"Abstainer(mode={self.mode}, {target}, score={self.score}, tau={self.tau})"


__all__ = ["MODES", "Abstainer"]
