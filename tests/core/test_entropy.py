"""Entropy, normalized entropy, MSP and margin (sua_exp.core.entropy)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sua_exp.core import entropy, margin, max_prob, normalized_entropy

DTYPES = [torch.float32, torch.float64]

# Weights with frequent exact zeros/ones and tiny values below the log floor.
_weight = st.one_of(st.just(0.0), st.just(1.0), st.floats(0.0, 1.0, allow_nan=False), st.floats(1e-30, 1e-6))


@st.composite
def prob_batch(draw, min_k: int = 1, max_k: int = 6, max_n: int = 5) -> torch.Tensor:
    """[N, K] float64 distributions built from lists of floats (all-zero rows become one-hot)."""
    k = draw(st.integers(min_k, max_k))
    n = draw(st.integers(1, max_n))
    rows = []
    for _ in range(n):
        w = draw(st.lists(_weight, min_size=k, max_size=k))
        if sum(w) == 0:
            w = [0.0] * k
            w[draw(st.integers(0, k - 1))] = 1.0
        s = sum(w)
        rows.append([x / s for x in w])
    return torch.tensor(rows, dtype=torch.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [2, 3, 5, 10, 1000])
def test_uniform_entropy_is_log_k(k: int, dtype: torch.dtype) -> None:
    p = torch.full((4, k), 1.0 / k, dtype=dtype)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(entropy(p), torch.full((4,), math.log(k), dtype=dtype), atol=tol, rtol=tol)
    hn = normalized_entropy(p)
    torch.testing.assert_close(hn, torch.ones(4, dtype=dtype), atol=tol, rtol=tol)
    assert (hn <= 1.0).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_hot_entropy_is_exactly_zero(dtype: torch.dtype) -> None:
    p = torch.eye(4, dtype=dtype)
    assert torch.equal(entropy(p), torch.zeros(4, dtype=dtype))
    assert torch.equal(normalized_entropy(p), torch.zeros(4, dtype=dtype))
    assert torch.equal(max_prob(p), torch.ones(4, dtype=dtype))
    assert torch.equal(margin(p), torch.ones(4, dtype=dtype))


def test_hand_computed_entropy() -> None:
    # H([.25, .75]) = -(.25 log .25 + .75 log .75) = 0.5623351446188083 nats
    p = torch.tensor([[0.25, 0.75], [0.5, 0.5]], dtype=torch.float64)
    torch.testing.assert_close(
        entropy(p), torch.tensor([0.5623351446188083, math.log(2)], dtype=torch.float64)
    )
    # Hn = H / log 2 = 0.8112781244591328 bits
    torch.testing.assert_close(
        normalized_entropy(p), torch.tensor([0.8112781244591328, 1.0], dtype=torch.float64)
    )
    # zeros contribute nothing: H([.5, .5, 0]) = log 2
    torch.testing.assert_close(entropy(torch.tensor([0.5, 0.5, 0.0])), torch.tensor(math.log(2)))


def test_entropy_float16_with_zeros_is_finite() -> None:
    # 1e-12 underflows in float16; the floor is raised to the dtype's smallest normal number.
    p = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], dtype=torch.float16)
    h = entropy(p)
    assert torch.isfinite(h).all()
    assert h[0].item() == 0.0


def test_single_class_gives_zero_entropy_and_unit_margin() -> None:
    p = torch.ones(3, 1)
    assert torch.equal(normalized_entropy(p), torch.zeros(3))
    assert torch.equal(margin(p), torch.ones(3))
    assert torch.equal(max_prob(p), torch.ones(3))


def test_normalized_entropy_per_row_k_for_padded_distributions() -> None:
    # Row 0 is uniform over 2 real answers padded to 4; row 1 uniform over 4; row 2 has one answer.
    p = torch.tensor([[0.5, 0.5, 0.0, 0.0], [0.25] * 4, [1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    hn = normalized_entropy(p, num_classes=torch.tensor([2, 4, 1]))
    torch.testing.assert_close(hn, torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64))
    # int K overrides the padded width
    torch.testing.assert_close(normalized_entropy(p[:1], num_classes=2), torch.ones(1, dtype=torch.float64))
    # default K = 4: uniform over 2 of 4 gives log 2 / log 4 = 0.5
    torch.testing.assert_close(normalized_entropy(p[:1]), torch.full((1,), 0.5, dtype=torch.float64))
    # K of 0 or 1 never divides by log 1 = 0
    out = normalized_entropy(p, num_classes=torch.tensor([0, 1, 1]))
    assert torch.equal(out, torch.zeros(3, dtype=torch.float64))


def test_margin_and_max_prob_values_and_batch_dims() -> None:
    p = torch.tensor([[0.2, 0.5, 0.3], [0.4, 0.4, 0.2]])
    torch.testing.assert_close(max_prob(p), torch.tensor([0.5, 0.4]))
    torch.testing.assert_close(margin(p), torch.tensor([0.2, 0.0]))
    q = torch.softmax(torch.randn(2, 3, 7, generator=torch.Generator().manual_seed(0)), dim=-1)
    for fn in (entropy, normalized_entropy, max_prob, margin):
        assert fn(q).shape == (2, 3)


def test_gradients_are_finite_at_the_simplex_boundary() -> None:
    p = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], requires_grad=True)
    (entropy(p).sum() + normalized_entropy(p).sum() + margin(p).sum()).backward()
    assert torch.isfinite(p.grad).all()


@settings(max_examples=80, deadline=None)
@given(prob_batch(), st.randoms(use_true_random=False))
def test_entropy_properties(p: torch.Tensor, rnd) -> None:
    k = p.shape[-1]
    h, hn = entropy(p), normalized_entropy(p)
    assert torch.isfinite(h).all() and torch.isfinite(hn).all()
    assert (h >= -1e-12).all() and (h <= math.log(k) + 1e-9).all()
    assert (hn >= 0).all() and (hn <= 1).all()
    m, mp = margin(p), max_prob(p)
    assert ((m >= 0) & (m <= 1)).all() and ((mp >= 1.0 / k - 1e-12) & (mp <= 1)).all()
    perm = list(range(k))
    rnd.shuffle(perm)
    torch.testing.assert_close(entropy(p[:, perm]), h)
    torch.testing.assert_close(margin(p[:, perm]), m)
