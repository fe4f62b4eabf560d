"""Distributional sensitivity S(x) (sua_exp.core.sensitivity)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sua_exp.core import DIVERGENCES, kl_divergence, sensitivity


def _softmax(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(2 * torch.randn(*shape, generator=g, dtype=torch.float64), dim=-1)


def test_hand_computed_tv_mean_and_max() -> None:
    p = torch.tensor([[1.0, 0.0]])
    views = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]])
    # per-view TV: 0, 1, 0.5 -> mean 0.5, max 1
    torch.testing.assert_close(sensitivity(p, views), torch.tensor([0.5]))
    torch.testing.assert_close(sensitivity(p, views, aggregation="max"), torch.tensor([1.0]))
    # masking out the flipped view: mean over {0, .5} = .25, max = .5
    mask = torch.tensor([[True, False, True]])
    torch.testing.assert_close(sensitivity(p, views, mask=mask), torch.tensor([0.25]))
    torch.testing.assert_close(sensitivity(p, views, aggregation="max", mask=mask), torch.tensor([0.5]))


def test_kl_direction_is_clean_first() -> None:
    p, views = _softmax(4, 5), _softmax(4, 3, 5, seed=1)
    expected = kl_divergence(p.unsqueeze(1), views).mean(-1)
    torch.testing.assert_close(sensitivity(p, views, divergence="kl"), expected)


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
def test_mask_equals_subset_and_empty_rows_give_zero(name: str) -> None:
    p, views = _softmax(3, 4), _softmax(3, 5, 4, seed=2)
    mask = torch.tensor(
        [[True, False, True, False, False], [False] * 5, [True] * 5],
    )
    # garbage (but finite) values in padded views must not leak into the result
    views_padded = torch.where(mask.unsqueeze(-1), views, torch.full_like(views, 7.0))
    for agg in ("mean", "max"):
        out = sensitivity(p, views_padded, name, agg, mask=mask)
        row0 = sensitivity(p[:1], views[:1, [0, 2]], name, agg)
        row2 = sensitivity(p[2:], views[2:], name, agg)
        torch.testing.assert_close(out[0:1], row0)
        assert out[1].item() == 0.0
        torch.testing.assert_close(out[2:], row2)


def test_leading_batch_dims_broadcast() -> None:
    p, views = _softmax(2, 3, 4), _softmax(2, 3, 6, 4, seed=3)
    out = sensitivity(p, views, "js", "max")
    assert out.shape == (2, 3)
    torch.testing.assert_close(out[1, 2], sensitivity(p[1, 2], views[1, 2], "js", "max"))
    # a single clean distribution against a batch of view sets
    assert sensitivity(p[0, 0], views).shape == (2, 3)


def test_no_views_gives_zero() -> None:
    p = _softmax(3, 4)
    out = sensitivity(p, torch.empty(3, 0, 4, dtype=p.dtype), aggregation="max")
    assert torch.equal(out, torch.zeros(3, dtype=p.dtype))


def test_errors() -> None:
    p, views = _softmax(2, 3), _softmax(2, 4, 3)
    with pytest.raises(ValueError, match="mean"):
        sensitivity(p, views, aggregation="median")
    with pytest.raises(ValueError, match="tv"):
        sensitivity(p, views, divergence="l2")
    with pytest.raises(ValueError, match="class dims"):
        sensitivity(p, _softmax(2, 4, 5))


def test_finite_with_one_hots_and_gradients() -> None:
    p = torch.tensor([[1.0, 0.0, 0.0]], requires_grad=True)
    views = torch.tensor([[[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]], requires_grad=True)
    for name in DIVERGENCES:
        s = sensitivity(p, views, name, "mean") + sensitivity(p, views, name, "max")
        assert torch.isfinite(s).all()
        s.sum().backward()
        assert torch.isfinite(p.grad).all() and torch.isfinite(views.grad).all()


_weight = st.one_of(st.just(0.0), st.floats(0.0, 1.0, allow_nan=False))


@settings(max_examples=50, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda k: st.tuples(
            st.lists(st.lists(_weight, min_size=k, max_size=k), min_size=1, max_size=5),
            st.lists(st.booleans(), min_size=1, max_size=5),
        )
    ),
    st.sampled_from(sorted(DIVERGENCES)),
)
def test_mean_at_most_max_and_in_range(data, name: str) -> None:
    rows, mask_list = data
    k = len(rows[0])
    w = torch.tensor(rows, dtype=torch.float64) + 1e-3 * torch.eye(1, k, dtype=torch.float64)
    dists = w / w.sum(-1, keepdim=True)  # [M + 1, K]
    p, views = dists[0], dists[1:].unsqueeze(0).expand(2, -1, -1)
    m = views.shape[1]
    mask = torch.tensor((mask_list * m)[:m]).unsqueeze(0).expand(2, -1)
    for msk in (None, mask):
        mean = sensitivity(p, views, name, "mean", mask=msk)
        mx = sensitivity(p, views, name, "max", mask=msk)
        assert torch.isfinite(mean).all() and (mean >= 0).all()
        assert (mean <= mx + 1e-12).all()
        if name in ("tv", "js", "hellinger"):
            assert (mx <= 1).all()
