"""Baseline objectives of table 2: label smoothing, R-Drop and the confidence penalty.

(Consistency-only and entropy-alignment-only are `SUATR` configs; temperature scaling is
`CrossEntropy(post_hoc="temperature")` plus the post-hoc `TemperatureScaling`.)
"""

from __future__ import annotations

import math

from torch import Tensor
from torch.nn import functional as F

from sua_exp.objectives._logit_math import DIVERGENCE_NAMES, logit_divergence, logit_entropy
from sua_exp.objectives.base import Objective, check_choice, check_int, check_nonneg, check_views, upcast


class LabelSmoothing(Objective):
    """Cross-entropy against `(1 - smoothing) * onehot(y) + smoothing / K` (Szegedy et al. 2016).

    Terms: `ce` (plain CE, for comparison with the other objectives) and `smooth`
    (`-mean_k log p_k`, the uniform-target part); `loss = (1 - smoothing) ce + smoothing smooth`.
    """

    def __init__(self, smoothing: float = 0.1) -> None:
        super().__init__()
        s = check_nonneg("smoothing", smoothing)
        if s >= 1:
            raise ValueError(f"loss.smoothing must be in [0, 1), got {smoothing}")
        self.smoothing = s

    def forward(
        self,
        logits: Tensor,
        labels: Tensor,
        view_logits: Tensor | None = None,
        *,
        valid_mask: Tensor | None = None,
    ) -> dict[str, Tensor]:
        logits = upcast(logits)
        ce = F.cross_entropy(logits, labels)
        if self.smoothing == 0:
            loss = ce
            smooth = -F.log_softmax(logits.detach(), dim=-1).mean(dim=-1).mean()
        else:
            loss = F.cross_entropy(logits, labels, label_smoothing=self.smoothing)
            smooth = -F.log_softmax(logits, dim=-1).mean(dim=-1).mean()
        return {"loss": loss, "ce": ce.detach(), "smooth": smooth.detach()}

    def extra_repr(self) -> str:
        return f"smoothing={self.smoothing}"


class RDrop(Objective):
    """R-Drop (Liang et al. 2021): CE on every dropout pass plus `alpha * D(p_1, p_2)`.

    The extra passes come through `view_logits [B, M, K]` (`M = num_views`, 1 = the paper's two
    passes): `needs_dropout_pass = True` tells the training step to fill the views with the
    *unchanged* clean texts, forwarded in train mode in the same batch as the clean pass (so each
    copy draws its own dropout mask; identical texts must not be deduplicated).

    `loss = mean over the M + 1 passes of CE + alpha * mean_m D(p_clean, p_m)` with `D` the
    symmetric KL of the paper by default. With `ce_on_all_passes: false` only the first pass gets
    CE. Terms: `ce` (first pass), `ce_passes` (mean over passes), `consistency`.
    """

    needs_dropout_pass = True

    def __init__(
        self,
        alpha: float = 1.0,
        num_views: int = 1,
        divergence: str = "sym_kl",
        ce_on_all_passes: bool = True,
    ) -> None:
        super().__init__()
        self.alpha = check_nonneg("alpha", alpha)
        self.num_views = check_int("num_views", num_views, 1)
        self.divergence = check_choice("divergence", divergence, DIVERGENCE_NAMES)
        if not isinstance(ce_on_all_passes, bool):
            raise ValueError(f"loss.ce_on_all_passes must be true or false, got {ce_on_all_passes!r}")
        self.ce_on_all_passes = ce_on_all_passes

    def forward(
        self,
        logits: Tensor,
        labels: Tensor,
        view_logits: Tensor | None = None,
        *,
        valid_mask: Tensor | None = None,
    ) -> dict[str, Tensor]:
        logits = upcast(logits)
        views = upcast(check_views(type(self).__name__, logits, view_logits)).to(logits.dtype)
        ce = F.cross_entropy(logits, labels)
        m = views.shape[1]
        ce_views = F.cross_entropy(views.reshape(-1, views.shape[-1]), labels.repeat_interleave(m))
        ce_passes = (ce + m * ce_views) / (m + 1)
        consistency = logit_divergence(logits.unsqueeze(-2), views, self.divergence).mean()
        loss = ce_passes if self.ce_on_all_passes else ce
        if self.alpha > 0:
            loss = loss + self.alpha * consistency
        return {
            "loss": loss,
            "ce": ce.detach(),
            "ce_passes": ce_passes.detach(),
            "consistency": consistency.detach(),
        }

    def extra_repr(self) -> str:
        return (
            f"alpha={self.alpha}, num_views={self.num_views}, divergence={self.divergence}, "
            f"ce_on_all_passes={self.ce_on_all_passes}"
        )


class ConfidencePenalty(Objective):
    """`CE - beta * H(p)` (Pereyra et al. 2017): penalizes low-entropy (over-confident) outputs.

    Terms: `ce` and `entropy` (`H(p)` in nats, batch mean); `entropy_norm` is `H / log K`.
    """

    def __init__(self, beta: float = 0.1) -> None:
        super().__init__()
        self.beta = check_nonneg("beta", beta)

    def forward(
        self,
        logits: Tensor,
        labels: Tensor,
        view_logits: Tensor | None = None,
        *,
        valid_mask: Tensor | None = None,
    ) -> dict[str, Tensor]:
        logits = upcast(logits)
        ce = F.cross_entropy(logits, labels)
        h = logit_entropy(logits).mean()
        loss = ce - self.beta * h if self.beta > 0 else ce
        k = logits.shape[-1]
        h_norm = h / math.log(k) if k > 1 else h * 0
        return {"loss": loss, "ce": ce.detach(), "entropy": h.detach(), "entropy_norm": h_norm.detach()}

    def extra_repr(self) -> str:
        return f"beta={self.beta}"
