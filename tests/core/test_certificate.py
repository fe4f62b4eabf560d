"""Flip certificate: r_worst <= bound <= markov_bound (sua_exp.core.certificate)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sua_exp.core import flip_certificate

KEYS = {"r_clean", "r_worst", "flip_term", "bound", "markov_term", "markov_bound"}


def _check(cert: dict[str, float]) -> None:
    assert set(cert) == KEYS
    assert all(isinstance(v, float) for v in cert.values())
    assert cert["r_worst"] <= cert["bound"] <= cert["markov_bound"]
    assert cert["r_clean"] <= cert["r_worst"]
    assert cert["bound"] == pytest.approx(cert["r_clean"] + cert["flip_term"], abs=1e-12)
    assert cert["markov_bound"] == pytest.approx(cert["r_clean"] + cert["markov_term"], abs=1e-12)


def test_constructed_flip() -> None:
    # Input 0: correct (label 0), view flips it: TV = .2, m = .2 -> S >= m/2, flip counted.
    # Input 1: wrong on the clean view already.  Input 2: correct, view stays correct, far margin.
    p = torch.tensor([[0.6, 0.4], [0.3, 0.7], [0.95, 0.05]])
    views = torch.tensor([[[0.6, 0.4], [0.4, 0.6]], [[0.3, 0.7], [0.3, 0.7]], [[0.9, 0.1], [0.95, 0.05]]])
    labels = torch.tensor([0, 0, 0])
    cert = flip_certificate(p, views, labels, t=0.1)
    _check(cert)
    assert cert["r_clean"] == pytest.approx(1 / 3)
    assert cert["r_worst"] == pytest.approx(2 / 3)
    assert cert["flip_term"] == pytest.approx(1 / 3)
    assert cert["bound"] == pytest.approx(2 / 3)
    # markov per input: [S - m/2 + t]+ / t with (S, m/2) = (.2, .1), (0, .2), (.05, .45):
    # (.2 - .1 + .1)/.1 = 2, [0 - .2 + .1]+ = 0, [.05 - .45 + .1]+ = 0 -> mean 2/3
    assert cert["markov_term"] == pytest.approx(2 / 3)
    assert cert["markov_bound"] == pytest.approx(1.0)


def test_flip_at_the_equality_case_and_ties() -> None:
    # p = [.4, .6] (label 1), view = [.5, .5]: torch.argmax breaks the tie to class 0, a flip with
    # TV = .1 = m/2 exactly (in real numbers); float32 rounding must not lose it.
    p = torch.tensor([[0.4, 0.6]], dtype=torch.float32)
    views = torch.tensor([[[0.5, 0.5]]], dtype=torch.float32)
    cert = flip_certificate(p, views, torch.tensor([1]))
    _check(cert)
    assert cert["r_worst"] == 1.0 and cert["flip_term"] == 1.0
    # tie on the clean side: m = 0, so any view counts as a potential flip
    cert = flip_certificate(torch.tensor([[0.5, 0.5]]), torch.tensor([[[0.5, 0.5]]]), torch.tensor([0]))
    _check(cert)
    assert cert["r_worst"] == 0.0 and cert["flip_term"] == 1.0


def test_no_perturbation_gives_clean_risk() -> None:
    p = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
    cert = flip_certificate(p, p.unsqueeze(1).repeat(1, 3, 1), torch.tensor([0, 0, 0]), t=0.1)
    _check(cert)
    assert cert["r_worst"] == cert["r_clean"] == pytest.approx(1 / 3)
    assert cert["flip_term"] == 0.0 and cert["markov_term"] == 0.0


def test_mask_ignores_invalid_views() -> None:
    p = torch.tensor([[0.9, 0.1]])
    views = torch.tensor([[[0.9, 0.1], [0.0, 1.0]]])
    labels = torch.tensor([0])
    assert flip_certificate(p, views, labels)["r_worst"] == 1.0
    cert = flip_certificate(p, views, labels, mask=torch.tensor([[True, False]]))
    _check(cert)
    assert cert["r_worst"] == 0.0 and cert["flip_term"] == 0.0


def test_errors() -> None:
    p, views, y = torch.tensor([[0.5, 0.5]]), torch.tensor([[[0.5, 0.5]]]), torch.tensor([0])
    with pytest.raises(ValueError):
        flip_certificate(p, views, y, t=0.0)
    with pytest.raises(ValueError):
        flip_certificate(p, torch.tensor([[[0.2, 0.3, 0.5]]]), y)
    with pytest.raises(ValueError):
        flip_certificate(p, views, torch.tensor([0, 1]))


@st.composite
def cert_batch(draw):
    """Random batches; weights from a small grid so ties and equality cases are frequent."""
    k = draw(st.integers(1, 5))
    n = draw(st.integers(1, 8))
    m = draw(st.integers(1, 4))
    grid = draw(st.booleans())
    weight = st.sampled_from([0.0, 1.0, 2.0, 3.0]) if grid else st.floats(0.0, 1.0, allow_nan=False)

    def dist() -> list[float]:
        w = draw(st.lists(weight, min_size=k, max_size=k))
        if sum(w) == 0:
            w[draw(st.integers(0, k - 1))] = 1.0
        return [x / sum(w) for x in w]

    p = [dist() for _ in range(n)]
    views = [[dist() for _ in range(m)] for _ in range(n)]
    labels = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    t = draw(st.sampled_from([1e-3, 0.05, 0.1, 0.5, 1.0]))
    return torch.tensor(p, dtype=dtype), torch.tensor(views, dtype=dtype), torch.tensor(labels), t


@settings(max_examples=150, deadline=None)
@given(cert_batch())
def test_certificate_inequality_holds_on_random_batches(batch) -> None:
    p, views, labels, t = batch
    _check(flip_certificate(p, views, labels, t=t))
