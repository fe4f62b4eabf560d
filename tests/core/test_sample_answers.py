"""core.sample_answers: self-consistency samples drawn from p(.|x) without another forward pass."""

from __future__ import annotations

import pytest
import torch

from sua_exp import core


def test_shape_one_hot_and_reproducible():
    p = torch.tensor([[0.7, 0.2, 0.1], [0.0, 0.0, 1.0]])
    a = core.sample_answers(p, 6, seed=3)
    assert a.shape == (2, 6, 3)
    assert torch.equal(a.sum(-1), torch.ones(2, 6))
    assert torch.equal(a, core.sample_answers(p, 6, seed=3))
    assert (a[1, :, 2] == 1).all()  # a certain answer is always drawn


def test_frequencies_follow_p_and_temperature_sharpens():
    p = torch.tensor([[0.6, 0.3, 0.1]])
    freq = core.sample_answers(p, 20_000, seed=0).mean(1)[0]
    torch.testing.assert_close(freq, p[0], atol=0.015, rtol=0)
    cold = core.sample_answers(p, 2_000, seed=0, temperature=0.05).mean(1)[0]
    assert cold[0] > 0.999  # p^(1/0.05): the mode takes all the mass
    # p^(1/T) renormalised: T = 0.5 squares the probabilities
    warm = core.sample_answers(p, 20_000, seed=1, temperature=0.5).mean(1)[0]
    torch.testing.assert_close(warm, p[0] ** 2 / (p[0] ** 2).sum(), atol=0.015, rtol=0)


def test_padded_answer_sets_never_draw_padding_and_bad_temperature_fails():
    p = torch.tensor([[0.5, 0.5, 0.0, 0.0]])
    assert core.sample_answers(p, 500, seed=2)[..., 2:].sum() == 0
    assert core.modal_frequency(core.sample_answers(p, 4, seed=2)).shape == (1,)
    with pytest.raises(ValueError, match="temperature"):
        core.sample_answers(p, 2, seed=0, temperature=0.0)
