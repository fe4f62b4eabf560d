"""Pipeline and Mixture: deterministic composition, probabilities, strength, per-view types."""

from __future__ import annotations

import pytest

from sua_exp.perturb import (
    WORD_RE,
    CaseChange,
    CharSwap,
    KeyboardTypo,
    Mixture,
    Perturbation,
    Pipeline,
    WordDeletion,
    num_edits,
)


def _n_words(text: str) -> int:
    return len(WORD_RE.findall(text))


def test_pipeline_applies_steps_in_order(sentences):
    p = Pipeline([CaseChange(rate=1.0), WordDeletion(rate=0.2)])
    assert p.name == "case+word_deletion"
    assert isinstance(p, Perturbation)
    for s in sentences[:50]:
        out = p([s])[0]
        assert _n_words(s) - _n_words(out) == num_edits(0.2, _n_words(s))
        assert out.lower() != out or not any(ch.isalpha() for ch in out)


def test_pipeline_probabilities(sentences):
    p = Pipeline([WordDeletion(rate=0.2), CaseChange(rate=0.5)], probs=[0.5, 0.0])
    fired = sum(_n_words(o) < _n_words(s) for s, o in zip(sentences, p(sentences), strict=True))
    assert 70 <= fired <= 130  # ~Binomial(200, 0.5)
    assert all(o == o.lower() for o in p(sentences))  # case step never fires
    never = Pipeline([WordDeletion(rate=0.2)], probs=[0.0])
    assert never(sentences) == sentences
    sure = Pipeline([WordDeletion(rate=0.2)], probs=[0.0], ensure_one=True)
    assert all(o != s for o, s in zip(sure(sentences), sentences, strict=True))
    with pytest.raises(ValueError):
        Pipeline([WordDeletion()], probs=[0.5, 0.5])
    with pytest.raises(ValueError):
        Pipeline([WordDeletion()], probs=[1.5])
    with pytest.raises(ValueError):
        Pipeline([])
    with pytest.raises(TypeError):
        Pipeline(["word_deletion"])


def test_pipeline_strength_scales_rates(sentences):
    base = KeyboardTypo(rate=0.05)
    p = Pipeline([base], strength=2.0)
    assert p.steps[0].rate == pytest.approx(0.1) and base.rate == 0.05  # step not mutated
    for s in sentences[:50]:
        out = p([s])[0]
        diff = sum(a != b for a, b in zip(s, out, strict=True))
        assert diff == num_edits(0.1, base.count_eligible(s))
    p.strength = 0.0
    assert p(sentences[:20]) == sentences[:20]
    assert p.scaled(3.0).strength == 0.0
    q = Pipeline([base], strength=0.5).scaled(4.0)
    assert q.strength == 2.0 and q.steps[0].rate == pytest.approx(0.1)


def test_pipeline_protected_words_propagate():
    p = Pipeline([CharSwap(rate=1.0), WordDeletion(rate=1.0)], protected_words=["elephant"])
    for v in range(5):
        assert "elephant" in p(["the big elephant walks slowly home"], view=v)[0]


def test_mixture_cycle_alternates(sentences):
    kt, wd = KeyboardTypo(rate=0.05), WordDeletion(rate=0.1)
    m = Mixture([kt, wd])
    assert m.name == "mix-keyboard_typo-word_deletion"
    nb = m.neighbourhood(sentences[:40], num_views=6, seed=3)
    for s, views in zip(sentences[:40], nb, strict=True):
        for v, out in enumerate(views):
            if v % 2 == 0:  # typo: same length, same word count
                assert len(out) == len(s) and out != s
            else:  # deletion: fewer words
                assert _n_words(out) < _n_words(s)
    assert m.step_for_view(4) is m.steps[0] and m.step_for_view(5) is m.steps[1]


def test_mixture_random_and_mapping(sentences):
    m = Mixture({"a": CaseChange(rate=0.3), "b": WordDeletion(rate=0.2)}, mode="random", weights=[1, 3])
    assert [s.name for s in m.steps] == ["case", "word_deletion"]
    outs = m(sentences)
    deleted = sum(_n_words(o) < _n_words(s) for s, o in zip(sentences, outs, strict=True))
    assert 120 <= deleted <= 180  # ~Binomial(200, 0.75)
    assert outs == m(list(sentences))
    with pytest.raises(ValueError):
        Mixture([CaseChange()], mode="sometimes")
    with pytest.raises(ValueError):
        Mixture([CaseChange()], weights=[0.0])


def test_nested_composition_passes_view(sentences):
    inner = Mixture([KeyboardTypo(rate=0.05), WordDeletion(rate=0.1)])
    p = Pipeline([inner, CaseChange(rate=0.0)], name="custom")
    assert p.name == "custom"
    nb = p.neighbourhood(sentences[:10], 2)
    for s, (v0, v1) in zip(sentences[:10], nb, strict=True):
        assert len(v0) == len(s) and _n_words(v1) < _n_words(s)
