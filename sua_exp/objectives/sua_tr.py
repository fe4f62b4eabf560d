"""SUA-TR (DESIGN section 1): cross-entropy plus consistency, entropy alignment and ambiguity terms.

    L = CE(p(x), y)
        + lambda_c * mean_m D_c(p(.|x), p(.|x~_m))          consistency (D_c default sym_kl)
        + lambda_e * [S(x) - Hn(x)]+                        entropy alignment
        + lambda_a * KL(q(x) || p(.|x)) on ambiguous x      ambiguity (q uniform over V(x))

every term averaged over the batch (the ambiguity term is 0 on non-ambiguous rows, so it is the
batch mean of the per-example objective). `S(x) = agg_m D(p(.|x), p(.|x~_m))` uses `divergence`
(default tv) and `aggregation` (default mean) over the M_train views; `Hn` is the normalized
entropy of the clean p. The consistency-only and entropy-alignment-only baselines are this class
with `lambda_e = 0` or `lambda_c = 0` (conf/loss/consistency.yaml, entropy_align.yaml).

Returned terms are *unweighted* (so runs with different lambdas compare on the same scale):
`ce`, `consistency`, `entropy_align`, `ambiguity`, and `sua_plus` = batch mean of
`[S_tv,mean - Hn]+` at the DESIGN defaults (tv, mean, lambda 1) whatever `divergence` is set to,
so that its epoch mean is the running `E[[SUA]+]` comparable with evaluation's `sua/mean_plus`.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from sua_exp import core
from sua_exp.objectives._logit_math import DIVERGENCE_NAMES, logit_divergence
from sua_exp.objectives.base import (
    Objective,
    check_choice,
    check_int,
    check_nonneg,
    check_views,
    upcast,
)


def ambiguity_kl(logits: Tensor, valid_mask: Tensor | None) -> Tensor:
    """Per-row `KL(q || p)` with `q` uniform over the valid labels; 0 on rows with < 2 valid labels.

    `KL(q || p) = -log|V| - mean_{y in V} log p(y|x)`, computed from `log_softmax`.
    """
    if valid_mask is None:
        return logits.new_zeros(logits.shape[0])
    mask = torch.as_tensor(valid_mask, device=logits.device).to(torch.bool)
    if mask.shape != logits.shape:
        raise ValueError(
            f"valid_mask must have the shape of logits {tuple(logits.shape)}, got {tuple(mask.shape)}"
        )
    count = mask.sum(dim=-1)
    ambiguous = count >= 2
    log_p = F.log_softmax(logits, dim=-1)
    sum_log_p = torch.where(mask, log_p, torch.zeros_like(log_p)).sum(dim=-1)
    n = count.clamp(min=1).to(log_p.dtype)
    kl = -torch.log(n) - sum_log_p / n
    return torch.where(ambiguous, kl, torch.zeros_like(kl))


class SUATR(Objective):
    """SUA-TR training objective (see the module docstring).

    Args:
        lambda_c: weight of the consistency term `mean_m D_c(p, p~_m)`.
        lambda_e: weight of the entropy-alignment term `[S - Hn]+`.
        lambda_a: weight of `KL(q || p)` on ambiguous rows (needs `valid_mask` in `forward`).
        num_views: perturbed views per input (M_train); must be >= 1 when lambda_c or lambda_e > 0.
        consistency_divergence: `D_c` (default `sym_kl`), any name of `sua_exp.core.DIVERGENCES`.
        divergence, aggregation: divergence and aggregation of `S` in the alignment term.
        stop_grad_clean: UDA style: the clean distribution is a fixed target in the consistency
            term (gradients flow only through the views there; CE, alignment and ambiguity terms
            still get gradients through the clean branch).
        warmup_steps: the three lambdas ramp linearly from 0 at step 0 to their value at
            `warmup_steps` (factor `min(1, step / warmup_steps)`; 0 = no warm-up). The step comes
            from `set_progress`; if it is never called, training-mode forward calls are counted.
    """

    def __init__(
        self,
        lambda_c: float = 1.0,
        lambda_e: float = 1.0,
        lambda_a: float = 0.0,
        num_views: int = 1,
        consistency_divergence: str = "sym_kl",
        divergence: str = "tv",
        aggregation: str = "mean",
        stop_grad_clean: bool = False,
        warmup_steps: int = 0,
    ) -> None:
        super().__init__()
        self.lambda_c = check_nonneg("lambda_c", lambda_c)
        self.lambda_e = check_nonneg("lambda_e", lambda_e)
        self.lambda_a = check_nonneg("lambda_a", lambda_a)
        needs_views = self.lambda_c > 0 or self.lambda_e > 0
        self.num_views = check_int("num_views", num_views, 1 if needs_views else 0)
        self.consistency_divergence = check_choice(
            "consistency_divergence", consistency_divergence, DIVERGENCE_NAMES
        )
        self.divergence = check_choice("divergence", divergence, DIVERGENCE_NAMES)
        self.aggregation = check_choice("aggregation", aggregation, core.AGGREGATIONS)
        if not isinstance(stop_grad_clean, bool):
            raise ValueError(f"loss.stop_grad_clean must be true or false, got {stop_grad_clean!r}")
        self.stop_grad_clean = stop_grad_clean
        self.warmup_steps = check_int("warmup_steps", warmup_steps, 0)
        self._step: int | None = None
        self._calls = 0

    def set_progress(self, step: int) -> None:
        self._step = int(step)

    def warmup_factor(self) -> float:
        """Current multiplier of the lambdas, in [0, 1]."""
        if self.warmup_steps == 0:
            return 1.0
        step = self._step if self._step is not None else self._calls
        return min(1.0, max(0, step) / self.warmup_steps)

    def forward(
        self,
        logits: Tensor,
        labels: Tensor,
        view_logits: Tensor | None = None,
        *,
        valid_mask: Tensor | None = None,
    ) -> dict[str, Tensor]:
        logits = upcast(logits)
        ramp = self.warmup_factor()
        if self.training and self._step is None:
            self._calls += 1
        ce = F.cross_entropy(logits, labels)
        zero = ce.new_zeros(())
        consistency = entropy_align = sua_plus = zero
        if view_logits is not None or self.lambda_c > 0 or self.lambda_e > 0:
            views = upcast(check_views(type(self).__name__, logits, view_logits)).to(logits.dtype)
            clean = logits.detach() if self.stop_grad_clean else logits
            consistency = logit_divergence(clean.unsqueeze(-2), views, self.consistency_divergence).mean()
            p, p_views = F.softmax(logits, dim=-1), F.softmax(views, dim=-1)
            hn = core.normalized_entropy(p)
            s = core.sensitivity(p, p_views, divergence=self.divergence, aggregation=self.aggregation)
            entropy_align = core.sua_plus(s, hn).mean()
            if self.divergence == "tv" and self.aggregation == "mean":
                sua_plus = entropy_align.detach()
            else:
                with torch.no_grad():
                    sua_plus = core.sua_plus(core.sensitivity(p, p_views, "tv", "mean"), hn).mean()
        ambiguity = ambiguity_kl(logits, valid_mask).mean()
        loss = ce
        for weight, term in (
            (self.lambda_c, consistency),
            (self.lambda_e, entropy_align),
            (self.lambda_a, ambiguity),
        ):
            if weight > 0:
                loss = loss + (ramp * weight) * term
        return {
            "loss": loss,
            "ce": ce.detach(),
            "consistency": consistency.detach(),
            "entropy_align": entropy_align.detach(),
            "ambiguity": ambiguity.detach(),
            "sua_plus": sua_plus.detach(),
        }

    def extra_repr(self) -> str:
        return (
            f"lambda_c={self.lambda_c}, lambda_e={self.lambda_e}, lambda_a={self.lambda_a}, "
            f"num_views={self.num_views}, consistency_divergence={self.consistency_divergence}, "
            f"divergence={self.divergence}, aggregation={self.aggregation}, "
            f"stop_grad_clean={self.stop_grad_clean}, warmup_steps={self.warmup_steps}"
        )


__all__ = ["SUATR", "ambiguity_kl"]
