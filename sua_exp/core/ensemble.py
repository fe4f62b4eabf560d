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


def sample_answers(probs: Tensor, samples: int, seed: int, temperature: float = 1.0) -> Tensor:
    """`samples` one-hot answers [N, T, K] drawn from p^(1/temperature) (renormalised),
    reproducible from `seed`: self-consistency samples without another forward pass."""
    if temperature <= 0:
        raise ValueError(f"sampling temperature must be > 0, got {temperature}")
    tempered = probs.clamp(min=0).pow(1.0 / temperature)
    tempered = tempered / tempered.sum(-1, keepdim=True)
    gen = torch.Generator().manual_seed(int(seed))
    draws = torch.multinomial(tempered.reshape(-1, probs.shape[-1]), samples, replacement=True, generator=gen)
    one_hot = torch.nn.functional.one_hot(draws, probs.shape[-1]).to(probs.dtype)
    return one_hot.reshape(*probs.shape[:-1], samples, probs.shape[-1])
