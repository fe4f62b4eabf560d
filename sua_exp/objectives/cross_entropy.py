"""Plain cross-entropy: the baseline every other objective reduces to when its extra weights are 0."""

from __future__ import annotations

from torch import Tensor
from torch.nn import functional as F

from sua_exp.objectives.base import POST_HOC, Objective, check_choice, upcast


class CrossEntropy(Objective):
    """`CE(p(x), y)`. With `post_hoc: temperature` it is the "temperature scaling" row of table 2:
    trained as CE, then calibrated by `TemperatureScaling` fitted on the validation split."""

    def __init__(self, post_hoc: str | None = None) -> None:
        super().__init__()
        self.post_hoc = check_choice("post_hoc", post_hoc, POST_HOC)

    def forward(
        self,
        logits: Tensor,
        labels: Tensor,
        view_logits: Tensor | None = None,
        *,
        valid_mask: Tensor | None = None,
    ) -> dict[str, Tensor]:
        ce = F.cross_entropy(upcast(logits), labels)
        return {"loss": ce, "ce": ce.detach()}
