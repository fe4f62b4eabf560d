"""Learn-then-Test risk control on a real run's per-example scores (MiniLM, sarcasm headlines)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from scipy.stats import binom

from sua_exp.abstain import Abstainer

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sarcasm_minilm_seed42_scores.csv"


def _load(condition: str, score: str) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [r for r in csv.DictReader(FIXTURE.open()) if r["condition"] == condition]
    return torch.tensor([float(r[score]) for r in rows]), torch.tensor([r["error"] == "1" for r in rows])


@pytest.mark.parametrize(
    ("condition", "score"), [("clean", "u_sua"), ("perturbed", "u_sua"), ("clean", "sensitivity")]
)
def test_realized_risk_exceeds_alpha_in_at_most_about_delta_of_200_splits(condition, score):
    scores, errors = _load(condition, score)
    alpha, delta, repeats = 0.08, 0.1, 200
    assert errors.float().mean() > alpha  # answering everything would violate the target
    gen = torch.Generator().manual_seed(0)
    violations, coverages = 0, []
    for _ in range(repeats):
        perm = torch.randperm(len(scores), generator=gen)
        cal, test = perm[: len(perm) // 2], perm[len(perm) // 2 :]
        rule = Abstainer(mode="risk", alpha=alpha, delta=delta, score=score).fit(scores[cal], errors[cal])
        report = rule.report(scores[test], errors[test])
        violations += report["abstain/risk"] > alpha
        coverages.append(report["abstain/coverage"])
    tolerance = binom.ppf(0.999, repeats, delta)  # violations ~ Binomial(200, <= delta) under the guarantee
    assert violations <= tolerance, (violations, tolerance)
    assert sum(coverages) / repeats > 0.3  # the rule is useful, not abstaining on everything
