"""Training objectives: reduction to CE, finite gradients, hand-checked terms, warm-up, stop-grad,
validation errors naming the config key."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from sua_exp import core
from sua_exp.objectives import SUATR, ConfidencePenalty, CrossEntropy, LabelSmoothing, Objective, RDrop


def _batch(b: int = 6, k: int = 4, m: int = 2, seed: int = 0, scale: float = 2.0):
    g = torch.Generator().manual_seed(seed)
    logits = (scale * torch.randn(b, k, generator=g)).requires_grad_()
    views = (scale * torch.randn(b, m, k, generator=g)).requires_grad_()
    labels = torch.randint(0, k, (b,), generator=g)
    return logits, labels, views


def _zero_weight_objectives():
    return [
        CrossEntropy(),
        SUATR(lambda_c=0, lambda_e=0, lambda_a=0, num_views=2),
        SUATR(lambda_c=0, lambda_e=0, lambda_a=0, num_views=0),
        LabelSmoothing(smoothing=0.0),
        ConfidencePenalty(beta=0.0),
        RDrop(alpha=0.0, ce_on_all_passes=False),
    ]


@pytest.mark.parametrize("obj", _zero_weight_objectives(), ids=lambda o: type(o).__name__ + repr(o.num_views))
def test_reduces_to_cross_entropy_with_zero_weights(obj):
    logits, labels, views = _batch()
    view_arg = views if obj.num_views > 0 else None
    valid = torch.zeros(6, 4, dtype=torch.bool)
    valid[:3, :2] = True  # ambiguous rows: the ambiguity term has weight 0 here
    out = obj(logits, labels, view_arg, valid_mask=valid)
    expected = F.cross_entropy(logits, labels)
    assert torch.allclose(out["loss"], expected, atol=1e-6, rtol=0)
    assert torch.allclose(out["ce"], expected.detach(), atol=1e-6, rtol=0)
    g_obj = torch.autograd.grad(out["loss"], logits)[0]
    g_ce = torch.autograd.grad(expected, logits)[0]
    assert torch.allclose(g_obj, g_ce, atol=1e-6, rtol=0)


def test_rdrop_with_zero_alpha_and_identical_passes_is_cross_entropy():
    logits, labels, _ = _batch()
    out = RDrop(alpha=0.0)(logits, labels, logits.detach().clone().unsqueeze(1))
    assert torch.allclose(out["loss"], F.cross_entropy(logits, labels), atol=1e-6, rtol=0)


def test_rdrop_averages_ce_over_passes_and_adds_symmetric_kl():
    logits, labels, views = _batch(m=1)
    out = RDrop(alpha=0.5)(logits, labels, views)
    ce1, ce2 = F.cross_entropy(logits, labels), F.cross_entropy(views[:, 0], labels)
    p, q = F.softmax(logits, -1), F.softmax(views[:, 0], -1)
    skl = core.symmetric_kl(p, q).mean()
    assert torch.allclose(out["loss"], 0.5 * (ce1 + ce2) + 0.5 * skl, atol=1e-6)
    assert torch.allclose(out["consistency"], skl, atol=1e-6)


def _all_objectives():
    return [
        CrossEntropy(),
        SUATR(lambda_a=1.0, num_views=2),
        SUATR(lambda_a=1.0, num_views=2, consistency_divergence="kl", divergence="hellinger"),
        SUATR(num_views=2, consistency_divergence="js", divergence="js", aggregation="max"),
        SUATR(num_views=2, consistency_divergence="tv", divergence="sym_kl", stop_grad_clean=True),
        SUATR(lambda_c=1.0, lambda_e=0.0, num_views=2),
        SUATR(lambda_c=0.0, lambda_e=1.0, num_views=2),
        LabelSmoothing(0.1),
        ConfidencePenalty(0.5),
        RDrop(alpha=1.0, num_views=2),
    ]


def _valid_mask(b: int, k: int) -> torch.Tensor:
    valid = torch.zeros(b, k, dtype=torch.bool)
    valid[0, :2] = True  # ambiguous
    valid[1, 1:] = True  # ambiguous, K - 1 valid labels
    valid[2, 3] = True  # one valid label: not ambiguous
    return valid


@pytest.mark.parametrize("obj", _all_objectives(), ids=lambda o: type(o).__name__)
@pytest.mark.parametrize("case", ["extreme", "one_hot_agree", "identical_views", "huge"])
def test_gradients_finite_at_extreme_logits(obj, case):
    b, k, m = 5, 4, 2
    labels = torch.tensor([0, 1, 2, 3, 0])
    base = torch.full((b, k), -50.0)
    base[torch.arange(b), torch.tensor([1, 1, 0, 3, 2])] = 50.0  # confident, mostly wrong
    if case == "extreme":
        logits = base.clone()
        views = torch.flip(base, dims=[-1]).unsqueeze(1).repeat(1, m, 1)  # disjoint support
    elif case == "one_hot_agree":
        logits = base.clone()
        views = base.unsqueeze(1).repeat(1, m, 1) + torch.randn(b, m, k) * 0.01
    elif case == "identical_views":
        logits = base.clone() * 0.1
        views = logits.unsqueeze(1).repeat(1, m, 1)
    else:
        logits = base.clone() * 1e3
        views = -base.unsqueeze(1).repeat(1, m, 1) * 1e3
    logits.requires_grad_()
    views.requires_grad_()
    out = obj(logits, labels, views if obj.num_views else None, valid_mask=_valid_mask(b, k))
    assert all(torch.isfinite(v).all() for v in out.values()), out
    out["loss"].backward()
    assert torch.isfinite(logits.grad).all()
    if obj.num_views:
        assert torch.isfinite(views.grad).all()


@pytest.mark.parametrize("div", ["sym_kl", "kl", "tv", "js", "hellinger"])
def test_consistency_is_zero_for_identical_views(div):
    logits, labels, _ = _batch(scale=5.0)
    views = logits.detach().unsqueeze(1).repeat(1, 3, 1)
    out = SUATR(lambda_e=0, num_views=3, consistency_divergence=div)(logits, labels, views)
    assert out["consistency"].item() == pytest.approx(0.0, abs=1e-7)
    assert torch.allclose(out["loss"], F.cross_entropy(logits, labels), atol=1e-6)


def test_sua_tr_terms_match_core_by_hand():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [3.0, -2.0, 0.0]], dtype=torch.float64)
    views = torch.tensor(
        [
            [[0.5, 2.0, -1.0], [2.0, 0.4, -1.2]],
            [[0.1, 0.2, 0.3], [1.0, 0.0, 0.0]],
            [[-1.0, 2.0, 0.0], [3.0, -2.0, 0.5]],
        ],
        dtype=torch.float64,
    )
    labels = torch.tensor([0, 2, 1])
    valid = torch.tensor([[True, True, False], [False, False, True], [True, True, True]])
    lc, le, la = 0.7, 1.3, 0.4
    out = SUATR(lambda_c=lc, lambda_e=le, lambda_a=la, num_views=2)(logits, labels, views, valid_mask=valid)

    p, pv = logits.softmax(-1), views.softmax(-1)
    ce = -torch.log(p[torch.arange(3), labels]).mean()
    consistency = core.symmetric_kl(p.unsqueeze(1), pv).mean()  # mean over views and batch
    s = core.sensitivity(p, pv, "tv", "mean")
    hn = core.normalized_entropy(p)
    align = (s - hn).clamp(min=0).mean()
    # ambiguity: rows 0 (V = {0, 1}) and 2 (V = all): KL(uniform_V || p); row 1 has |V| = 1
    kl0 = sum(0.5 * (math.log(0.5) - math.log(p[0, y].item())) for y in (0, 1))
    kl2 = sum((1 / 3) * (math.log(1 / 3) - math.log(p[2, y].item())) for y in range(3))
    ambiguity = (kl0 + kl2) / 3

    assert out["ce"].item() == pytest.approx(ce.item(), abs=1e-10)
    assert out["consistency"].item() == pytest.approx(consistency.item(), abs=1e-10)
    assert out["entropy_align"].item() == pytest.approx(align.item(), abs=1e-10)
    assert out["sua_plus"].item() == pytest.approx(align.item(), abs=1e-10)
    assert out["ambiguity"].item() == pytest.approx(ambiguity, abs=1e-10)
    assert align.item() > 0 and consistency.item() > 0  # the example exercises every term
    expected = ce + lc * consistency + le * align + la * ambiguity
    assert out["loss"].item() == pytest.approx(expected.item(), abs=1e-10)


def test_sua_plus_term_uses_tv_mean_whatever_the_alignment_divergence():
    logits, labels, views = _batch(scale=3.0)
    out = SUATR(num_views=2, divergence="js", aggregation="max")(logits, labels, views)
    p, pv = logits.softmax(-1), views.softmax(-1)
    hn = core.normalized_entropy(p)
    assert out["sua_plus"].item() == pytest.approx(
        core.sua_plus(core.sensitivity(p, pv), hn).mean().item(), abs=1e-6
    )
    expected_align = core.sua_plus(core.sensitivity(p, pv, "js", "max"), hn).mean()
    assert out["entropy_align"].item() == pytest.approx(expected_align.item(), abs=1e-6)


def test_warmup_ramps_lambdas_linearly():
    logits, labels, views = _batch()
    obj = SUATR(lambda_c=2.0, lambda_e=0.5, num_views=2, warmup_steps=10)
    full = SUATR(lambda_c=2.0, lambda_e=0.5, num_views=2)(logits, labels, views)["loss"]
    ce = F.cross_entropy(logits, labels)
    for step, factor in [(0, 0.0), (3, 0.3), (10, 1.0), (25, 1.0)]:
        obj.set_progress(step)
        assert obj.warmup_factor() == pytest.approx(factor)
        loss = obj(logits, labels, views)["loss"]
        assert loss.item() == pytest.approx((ce + factor * (full - ce)).item(), abs=1e-6)


def test_warmup_counts_training_calls_when_progress_is_never_set():
    logits, labels, views = _batch()
    obj = SUATR(num_views=2, warmup_steps=4).train()
    factors = []
    for _ in range(6):
        factors.append(obj.warmup_factor())
        obj(logits, labels, views)
    assert factors == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    obj.set_progress(2)  # an explicit step wins over the call count
    assert obj.warmup_factor() == 0.5


def test_stop_grad_clean_blocks_the_clean_branch_of_consistency():
    logits, labels, views = _batch()
    # consistency only: the CE gradient on logits is the same with or without stop-grad,
    # so any difference is the consistency term's clean-branch gradient
    plain = SUATR(lambda_c=1.0, lambda_e=0.0, num_views=2)
    stop = SUATR(lambda_c=1.0, lambda_e=0.0, num_views=2, stop_grad_clean=True)
    g_plain = torch.autograd.grad(plain(logits, labels, views)["loss"], [logits, views])
    g_stop = torch.autograd.grad(stop(logits, labels, views)["loss"], [logits, views])
    g_ce = torch.autograd.grad(F.cross_entropy(logits, labels), logits)[0]
    assert torch.allclose(g_stop[0], g_ce, atol=1e-7)  # nothing from consistency reaches logits
    assert not torch.allclose(g_plain[0], g_ce, atol=1e-4)
    assert torch.allclose(g_stop[1], g_plain[1], atol=1e-7)  # the views still learn, identically
    assert g_stop[1].abs().sum() > 0


def test_stop_grad_clean_leaves_alignment_gradient_on_clean_branch():
    logits, labels, views = _batch()
    obj = SUATR(lambda_c=0.0, lambda_e=1.0, num_views=2, stop_grad_clean=True)
    g = torch.autograd.grad(obj(logits, labels, views)["loss"], logits)[0]
    g_ce = torch.autograd.grad(F.cross_entropy(logits, labels), logits)[0]
    assert not torch.allclose(g, g_ce)


def test_ambiguity_term_targets_uniform_over_valid_set():
    labels = torch.tensor([0])
    valid = torch.tensor([[True, True, False]])
    obj = SUATR(lambda_c=0, lambda_e=0, lambda_a=1.0, num_views=0)
    at_target = obj(torch.tensor([[0.0, 0.0, -30.0]]), labels, valid_mask=valid)["ambiguity"]
    collapsed = obj(torch.tensor([[5.0, 0.0, 0.0]]), labels, valid_mask=valid)["ambiguity"]
    assert at_target.item() == pytest.approx(0.0, abs=1e-6)
    assert collapsed.item() > 1.0
    assert obj(torch.tensor([[5.0, 0.0, 0.0]]), labels)["ambiguity"].item() == 0.0  # no valid_mask


def test_sua_tr_needs_views_when_weighted():
    logits, labels, _ = _batch()
    with pytest.raises(ValueError, match="view_logits"):
        SUATR(num_views=1)(logits, labels, None)
    with pytest.raises(ValueError, match=r"view_logits must have shape"):
        SUATR(num_views=1)(logits, labels, torch.zeros(6, 1, 3))
    with pytest.raises(ValueError, match="view_logits"):
        RDrop()(logits, labels, None)


def test_base_interface_defaults():
    assert Objective.num_views == 0 and Objective.needs_dropout_pass is False and Objective.post_hoc is None
    Objective().set_progress(5)  # no-op
    assert RDrop.needs_dropout_pass and RDrop().num_views == 1
    assert CrossEntropy(post_hoc="temperature").post_hoc == "temperature"
    assert SUATR().num_views == 1
    assert SUATR(lambda_c=0, lambda_e=0, num_views=0).num_views == 0


def test_confidence_penalty_and_label_smoothing_values():
    logits, labels, _ = _batch()
    ce = F.cross_entropy(logits, labels)
    h = core.entropy(logits.softmax(-1)).mean()
    assert ConfidencePenalty(0.3)(logits, labels)["loss"].item() == pytest.approx(
        (ce - 0.3 * h).item(), abs=1e-6
    )
    ls = LabelSmoothing(0.2)(logits, labels)
    manual = 0.8 * ce - 0.2 * logits.log_softmax(-1).mean(-1).mean()
    assert ls["loss"].item() == pytest.approx(manual.item(), abs=1e-6)


def test_half_precision_logits_are_upcast():
    logits, labels, views = _batch()
    out = SUATR(num_views=2)(logits.detach().bfloat16(), labels, views.detach().bfloat16())
    assert out["loss"].dtype == torch.float32 and torch.isfinite(out["loss"])


@pytest.mark.parametrize(
    ("factory", "key"),
    [
        (lambda: SUATR(lambda_c=-1), r"loss\.lambda_c must be >= 0, got -1"),
        (lambda: SUATR(lambda_e=-0.5), r"loss\.lambda_e must be >= 0"),
        (lambda: SUATR(lambda_a=float("nan")), r"loss\.lambda_a must be >= 0"),
        (lambda: SUATR(num_views=0), r"loss\.num_views must be an integer >= 1, got 0"),
        (lambda: SUATR(lambda_c=0, num_views=0), r"loss\.num_views"),
        (lambda: SUATR(num_views=-1, lambda_c=0, lambda_e=0), r"loss\.num_views"),
        (lambda: SUATR(consistency_divergence="wasserstein"), r"loss\.consistency_divergence: unknown"),
        (lambda: SUATR(divergence="l2"), r"loss\.divergence: unknown"),
        (lambda: SUATR(aggregation="median"), r"loss\.aggregation: unknown"),
        (lambda: SUATR(warmup_steps=-3), r"loss\.warmup_steps"),
        (lambda: SUATR(stop_grad_clean="yes"), r"loss\.stop_grad_clean"),
        (lambda: RDrop(alpha=-1), r"loss\.alpha must be >= 0"),
        (lambda: RDrop(num_views=0), r"loss\.num_views"),
        (lambda: RDrop(divergence="foo"), r"loss\.divergence: unknown"),
        (lambda: ConfidencePenalty(beta=-0.1), r"loss\.beta must be >= 0"),
        (lambda: LabelSmoothing(smoothing=-0.1), r"loss\.smoothing"),
        (lambda: LabelSmoothing(smoothing=1.0), r"loss\.smoothing must be in \[0, 1\)"),
        (lambda: CrossEntropy(post_hoc="platt"), r"loss\.post_hoc: unknown"),
    ],
)
def test_invalid_config_values_name_the_key(factory, key):
    with pytest.raises(ValueError, match=key):
        factory()
