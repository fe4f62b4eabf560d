"""The objective interface: task-agnostic, it sees logits over an answer set, never a model."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn


class Objective(nn.Module):
    """Maps clean logits [B, K], labels [B] and optional perturbed-view logits [B, M, K] to a dict
    holding `loss` plus each named term (logged as `train/loss/<term>`; terms are detached).

    Contract with the training step (the LightningModule):

    * `num_views`: how many extra views per input the objective needs (0 = clean batch only).
      They arrive as `view_logits [B, M, K]` with `M == num_views`.
    * `needs_dropout_pass`: when True the views are *not* perturbations but extra stochastic
      (dropout) passes over the unchanged clean texts (R-Drop): the module repeats the clean texts
      `num_views` times in the same train-mode forward, without deduplicating identical texts.
    * `post_hoc`: `None`, or `"temperature"` when the objective's table row is the CE model plus
      post-hoc temperature scaling fitted on the validation split (`TemperatureScaling`).
    * `set_progress(step)`: called with the global step before each training loss, so objectives
      can warm their weights up. The default is a no-op.
    * `forward(..., valid_mask=[B, K] bool | None)`: True on the valid answers of ambiguous
      examples (rows with fewer than 2 True entries are non-ambiguous). Objectives without an
      ambiguity term ignore it.
    """

    num_views: int = 0
    needs_dropout_pass: bool = False
    post_hoc: str | None = None

    def set_progress(self, step: int) -> None:  # noqa: B027 (deliberately optional hook)
        """Tell the objective the current global training step (for warm-ups); no-op by default."""

    def forward(
        self,
        logits: Tensor,
        labels: Tensor,
        view_logits: Tensor | None = None,
        *,
        valid_mask: Tensor | None = None,
    ) -> dict[str, Tensor]:
        raise NotImplementedError


# --------------------------------------------------------------------------- helpers for subclasses

POST_HOC = (None, "temperature")


def upcast(x: Tensor) -> Tensor:
    """float16/bfloat16 (autocast) -> float32; float32 and float64 are kept as they are."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def check_nonneg(key: str, value: float) -> float:
    """`value >= 0` and finite, else ValueError naming the config key (`loss.<key>`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"loss.{key} must be a number >= 0, got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"loss.{key} must be >= 0, got {value}")
    return float(value)


def check_int(key: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"loss.{key} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_choice(key: str, value: str, choices: Iterable[str | None]) -> str | None:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"loss.{key}: unknown value {value!r}; valid: {', '.join(map(str, choices))}")
    return value


def check_views(name: str, logits: Tensor, view_logits: Tensor | None) -> Tensor:
    """`view_logits` must be [B, M >= 1, K] matching `logits [B, K]`."""
    if view_logits is None:
        raise ValueError(
            f"{name} needs view_logits [B, M, K] (its num_views > 0); the training step passed none"
        )
    b, k = logits.shape
    if (
        view_logits.dim() != 3
        or view_logits.shape[0] != b
        or view_logits.shape[2] != k
        or view_logits.shape[1] < 1
    ):
        raise ValueError(
            f"{name}: view_logits must have shape [B={b}, M>=1, K={k}], got {tuple(view_logits.shape)}"
        )
    return view_logits
