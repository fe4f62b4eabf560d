"""Divergences between distributions (sua_exp.core.divergences)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sua_exp.core import (
    DIVERGENCES,
    EPS,
    divergence,
    hellinger,
    js_divergence,
    kl_divergence,
    symmetric_kl,
    total_variation,
)

DTYPES = [torch.float32, torch.float64]
BOUNDED = ["tv", "js", "hellinger"]
SYMMETRIC = ["tv", "js", "hellinger", "sym_kl"]

_weight = st.one_of(st.just(0.0), st.just(1.0), st.floats(0.0, 1.0, allow_nan=False), st.floats(1e-30, 1e-6))


@st.composite
def prob_pair(draw, max_k: int = 6, max_n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Two [N, K] float64 distributions of the same shape (exact zeros and one-hots likely)."""
    k = draw(st.integers(1, max_k))
    n = draw(st.integers(1, max_n))

    def batch() -> torch.Tensor:
        rows = []
        for _ in range(n):
            w = draw(st.lists(_weight, min_size=k, max_size=k))
            if sum(w) == 0:
                w = [0.0] * k
                w[draw(st.integers(0, k - 1))] = 1.0
            s = sum(w)
            rows.append([x / s for x in w])
        return torch.tensor(rows, dtype=torch.float64)

    return batch(), batch()


def test_hand_computed_half_half_vs_one_hot() -> None:
    p = torch.tensor([0.5, 0.5], dtype=torch.float64)
    q = torch.tensor([1.0, 0.0], dtype=torch.float64)
    # TV = 0.5 * (|0.5 - 1| + |0.5 - 0|) = 0.5
    assert total_variation(p, q).item() == pytest.approx(0.5, abs=1e-15)
    # m = [.75, .25]; KL(p||m) = .5 log(.5/.75) + .5 log(.5/.25) = .5 log(4/3);
    # KL(q||m) = log(1/.75) = log(4/3); JS = .5 (.5 + 1) log(4/3) = .75 log(4/3) nats
    # = 0.21576155433883568 nats; / log 2 -> 0.75 log2(4/3) = 0.31127812445913283.
    assert js_divergence(p, q).item() == pytest.approx(0.31127812445913283, abs=1e-12)
    # Hellinger^2 = .5 ((sqrt .5 - 1)^2 + .5) = 1 - sqrt(2)/2 = 0.2928932188134524;
    # H = sqrt(that) = 0.5411961001461969.
    assert hellinger(p, q).item() == pytest.approx(0.5411961001461969, abs=1e-12)
    # KL(q||p) = 1 * log(1 / .5) = log 2 (no zero in p, the eps floor plays no role).
    assert kl_divergence(q, p).item() == pytest.approx(math.log(2), abs=1e-12)
    # KL(p||q) is +inf mathematically; with the log floor: .5 log(.5/1) + .5 log(.5/EPS)
    # = log .5 - .5 log EPS = -0.693147 + 13.815511 = 13.122363.
    kl_pq = 0.5 * math.log(0.5) + 0.5 * math.log(0.5 / EPS)
    assert kl_divergence(p, q).item() == pytest.approx(kl_pq, rel=1e-12)
    assert kl_pq == pytest.approx(13.122363377404328, rel=1e-12)
    assert symmetric_kl(p, q).item() == pytest.approx(0.5 * (kl_pq + math.log(2)), rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_disjoint_one_hots_are_finite_and_maximal(dtype: torch.dtype) -> None:
    p = torch.tensor([[1.0, 0.0, 0.0]], dtype=dtype)
    q = torch.tensor([[0.0, 1.0, 0.0]], dtype=dtype)
    for name in DIVERGENCES:
        d = divergence(p, q, name)
        assert torch.isfinite(d).all(), name
    tol = 1e-6
    for name in BOUNDED:
        assert divergence(p, q, name).item() == pytest.approx(1.0, abs=tol), name
    # KL = 1 * (log 1 - log EPS) = -log(1e-12) = 27.631021115928547
    assert kl_divergence(p, q).item() == pytest.approx(-math.log(EPS), rel=1e-6)
    assert symmetric_kl(p, q).item() == pytest.approx(-math.log(EPS), rel=1e-6)


def test_bounded_divergences_stay_in_range_when_rows_sum_to_one_plus_ulp() -> None:
    # Found by hypothesis: a normalized row can sum to 1 + ulp, which made TV = 1 + ulp.
    w = torch.tensor([0.0, 1.0, 5.354e-07], dtype=torch.float64)
    q = (w / w.sum()).unsqueeze(0)
    p = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    for name in BOUNDED:
        assert divergence(p, q, name).item() <= 1.0, name


@pytest.mark.parametrize("dtype", DTYPES)
def test_identical_one_hots_give_exact_zero(dtype: torch.dtype) -> None:
    p = torch.eye(3, dtype=dtype)
    for name in DIVERGENCES:
        assert torch.equal(divergence(p, p.clone(), name), torch.zeros(3, dtype=dtype)), name


def test_gradients_finite_at_zeros_and_identity() -> None:
    for name in DIVERGENCES:
        p = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], requires_grad=True)
        q = torch.tensor([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], requires_grad=True)
        divergence(p, q, name).sum().backward()
        assert torch.isfinite(p.grad).all() and torch.isfinite(q.grad).all(), name


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
def test_broadcast_clean_against_views(name: str) -> None:
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(5, 1, 4, generator=g), dim=-1)
    q = torch.softmax(torch.randn(5, 3, 4, generator=g), dim=-1)
    out = divergence(p, q, name)
    assert out.shape == (5, 3)
    loop = torch.stack([divergence(p[:, 0], q[:, m], name) for m in range(3)], dim=-1)
    torch.testing.assert_close(out, loop)


def test_unknown_divergence_lists_valid_names() -> None:
    p = torch.tensor([0.5, 0.5])
    with pytest.raises(ValueError) as err:
        divergence(p, p, "wasserstein")
    for name in ("tv", "js", "kl", "hellinger", "sym_kl"):
        assert name in str(err.value)
    assert set(DIVERGENCES) == {"tv", "js", "kl", "hellinger", "sym_kl"}


def test_integer_one_hot_inputs_are_accepted() -> None:
    p = torch.tensor([1, 0])
    q = torch.tensor([0.5, 0.5])
    assert total_variation(p, q).item() == pytest.approx(0.5)


def test_js_and_kl_match_scipy() -> None:
    scipy_distance = pytest.importorskip("scipy.spatial.distance")
    scipy_stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(1)
    p = torch.softmax(3 * torch.randn(50, 6, generator=g, dtype=torch.float64), dim=-1)
    q = torch.softmax(3 * torch.randn(50, 6, generator=g, dtype=torch.float64), dim=-1)
    p[:10, 0] = 0.0  # exact zeros on one side
    p = p / p.sum(-1, keepdim=True)
    # scipy returns sqrt(JS); base=2 gives JS in bits = JS in nats / log 2.
    ref_js = scipy_distance.jensenshannon(p.numpy(), q.numpy(), base=2, axis=-1) ** 2
    torch.testing.assert_close(js_divergence(p, q), torch.as_tensor(ref_js), atol=1e-10, rtol=1e-8)
    ref_kl = scipy_stats.entropy(p.numpy(), q.numpy(), axis=-1)  # q > 0, so no floor involved
    torch.testing.assert_close(kl_divergence(p, q), torch.as_tensor(ref_kl), atol=1e-10, rtol=1e-8)


@settings(max_examples=60, deadline=None)
@given(prob_pair(), st.randoms(use_true_random=False))
def test_divergence_properties(pq: tuple[torch.Tensor, torch.Tensor], rnd) -> None:
    p, q = pq
    perm = list(range(p.shape[-1]))
    rnd.shuffle(perm)
    for name in DIVERGENCES:
        d = divergence(p, q, name)
        assert torch.isfinite(d).all(), name
        assert (d >= 0).all(), name
        if name in BOUNDED:
            assert (d <= 1).all(), name
        if name in SYMMETRIC:
            torch.testing.assert_close(d, divergence(q, p, name), atol=1e-12, rtol=1e-9)
        # zero on identical inputs (copies, so no aliasing shortcut)
        same = divergence(p, p.clone(), name)
        assert (same.abs() <= 1e-12).all(), name
        # invariant to relabelling classes (same permutation on both)
        torch.testing.assert_close(divergence(p[:, perm], q[:, perm], name), d, atol=1e-9, rtol=1e-9)
    # standard inequalities linking them: H^2 <= TV <= sqrt(2) H; JS (bits) <= TV
    tv, he, js = total_variation(p, q), hellinger(p, q), js_divergence(p, q)
    assert (he**2 <= tv + 1e-9).all() and (tv <= math.sqrt(2) * he + 1e-9).all()
    assert (js <= tv + 1e-9).all()


@settings(max_examples=30, deadline=None)
@given(prob_pair())
def test_float32_matches_float64(pq: tuple[torch.Tensor, torch.Tensor]) -> None:
    p, q = pq
    for name in BOUNDED:
        d64 = divergence(p, q, name)
        d32 = divergence(p.float(), q.float(), name)
        assert torch.isfinite(d32).all()
        torch.testing.assert_close(d32.double(), d64, atol=2e-3, rtol=1e-3)
