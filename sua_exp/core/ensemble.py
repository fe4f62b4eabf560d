"""Scores from M stochastic predictions per input (MC-dropout passes or sampled generations)."""

from __future__ import annotations

import torch
from torch import Tensor

from sua_exp.core.entropy import entropy


def modal_frequency(sample_probs: Tensor) -> Tensor:
    """Frequency of the most common argmax among the M samples [..., M, K] -> [...]."""
    k = sample_probs.shape[-1]
    votes = torch.nn.functional.one_hot(sample_probs.argmax(-1), k).sum(-2)
    return votes.max(-1).values.to(sample_probs.dtype) / sample_probs.shape[-2]


def self_consistency_score(sample_probs: Tensor) -> Tensor:
    """1 - freq(modal answer): 0 when every sample agrees (higher = more likely wrong)."""
    return 1.0 - modal_frequency(sample_probs)


def mutual_information(sample_probs: Tensor) -> Tensor:
    """BALD: H(mean_m p_m) - mean_m H(p_m), in nats; >= 0 up to rounding (clamped)."""
    mean = sample_probs.mean(-2)
    return (entropy(mean) - entropy(sample_probs).mean(-1)).clamp(min=0.0)
