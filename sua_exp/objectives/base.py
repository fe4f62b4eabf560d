"""The objective interface: task-agnostic, it sees logits over an answer set, never a model."""

from __future__ import annotations

from torch import Tensor, nn


class Objective(nn.Module):
    """Maps clean logits [B, K], labels [B] and optional perturbed-view logits [B, M, K] to a dict
    holding `loss` plus each named term (logged as `train/loss/<term>`).

    `num_views` is how many perturbed views per input the objective needs from the training step.
    """

    num_views: int = 0

    def forward(self, logits: Tensor, labels: Tensor, view_logits: Tensor | None = None) -> dict[str, Tensor]:
        raise NotImplementedError
