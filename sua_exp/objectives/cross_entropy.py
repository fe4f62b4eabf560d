"""Plain cross-entropy: the baseline every other objective reduces to when its extra weights are 0."""

from __future__ import annotations

from torch import Tensor
from torch.nn import functional as F

from sua_exp.objectives.base import Objective


class CrossEntropy(Objective):
    def forward(self, logits: Tensor, labels: Tensor, view_logits: Tensor | None = None) -> dict[str, Tensor]:
        ce = F.cross_entropy(logits.float(), labels)
        return {"loss": ce, "ce": ce.detach()}
