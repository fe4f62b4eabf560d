"""Base helpers: stable_key, num_edits, match_case, the Perturbation API contract."""

from __future__ import annotations

import random

import pytest

from sua_exp.perturb import WORD_RE, Perturbation, match_case, num_edits, stable_key
from sua_exp.perturb.base import DrawPerturbation, sample_with_draws


def test_stable_key_is_a_fixed_function():
    k = stable_key(0, "keyboard_typo", 0, "hello world")
    assert k == stable_key(0, "keyboard_typo", 0, "hello world")
    assert 0 <= k < 2**64
    # golden value: catches an accidental change of the key derivation (it would silently
    # change every stored neighbourhood)
    assert k == 0x877E4E9558067FCA
    others = {
        stable_key(1, "keyboard_typo", 0, "hello world"),
        stable_key(0, "char_swap", 0, "hello world"),
        stable_key(0, "keyboard_typo", 1, "hello world"),
        stable_key(0, "keyboard_typo", 0, "hello world "),
    }
    assert k not in others and len(others) == 4
    # no field confusion between name and text
    assert stable_key(0, "a", 0, "b") != stable_key(0, "a\x1f0\x1fb", 0, "")
    stable_key(0, "x", 0, "\ud800")  # lone surrogate: no error


@pytest.mark.parametrize(
    ("rate", "n", "expected"),
    [
        (0.1, 0, 0),
        (0.0, 50, 0),
        (0.1, 1, 1),
        (0.1, 4, 1),
        (0.1, 15, 2),
        (0.1, 25, 3),
        (0.1, 45, 5),
        (0.5, 3, 2),
        (1.0, 7, 7),
        (0.05, 100_000, 5000),
    ],
)
def test_num_edits(rate, n, expected):
    assert num_edits(rate, n) == expected


def test_match_case():
    assert match_case("Hello", "world") == "World"
    assert match_case("HELLO", "world") == "WORLD"
    assert match_case("hello", "world") == "world"
    assert match_case("I", "me") == "Me"
    assert match_case("iPhone", "phone") == "phone"


def test_word_re():
    words = [m.group() for m in WORD_RE.finditer("Don't stop-me, O'Neill’s 3rd café 42 ünïcödé_x")]
    assert words == ["Don't", "stop", "me", "O'Neill’s", "rd", "café", "ünïcödé", "x"]


class _Upper(Perturbation):
    name = "upper_test"

    def perturb_one(self, text, rng):
        return text.upper() + str(rng.randrange(10**6))


def test_api_contract():
    p = _Upper(rate=0.3, seed=5)
    out = p(["a", "b", "a"])
    assert out[0] == out[2] != out[1]
    expected = "A" + str(random.Random(stable_key(5, "upper_test", 0, "a")).randrange(10**6))
    assert out[0] == expected
    assert p(["a"], seed=6) != p(["a"], seed=5)
    assert p.rng_for("a").random() == p.rng_for("a").random()
    with pytest.raises(ValueError):
        _Upper(rate=1.5)
    with pytest.raises(ValueError):
        _Upper(rate=-0.1)
    with pytest.raises(ValueError):
        p.neighbourhood(["a"], -1)
    q = p.scaled(2.0)
    assert q.rate == pytest.approx(0.6) and p.rate == pytest.approx(0.3)
    assert p.scaled(10).rate == 1.0
    r = p.with_protected(["New York", "ÉCOLE"])
    assert r.protected_words == {"new", "york", "école"} and p.protected_words == frozenset()
    assert r.is_protected("NEW") and r.is_protected("école")


def test_text_draws_is_a_fixed_function():
    from sua_exp.perturb.base import draw_prefix, rng_draws, text_draws

    prefix = draw_prefix(0, "keyboard_typo", 0)
    u = text_draws(prefix, "hello world", 4)
    assert len(u) == 4 and all(0 <= x < 2**32 for x in u)
    # golden values: catches an accidental change of the draw derivation (little-endian SHAKE-128)
    assert u == (0x985EB27D, 0x0DDA246D, 0x59F0F975, 0x6C515675)
    assert text_draws(prefix, "hello world", 2) == u[:2]  # a prefix of the same stream
    assert text_draws(draw_prefix(0, "keyboard_typo", 1), "hello world", 4) != u
    assert text_draws(draw_prefix(1, "keyboard_typo", 0), "hello world", 4) != u
    assert text_draws(prefix, "\ud800", 3) == text_draws(prefix, "\ud800", 3)  # lone surrogate
    assert text_draws(prefix, "x", 0) == () and rng_draws(random.Random(0), 0) == ()
    assert rng_draws(random.Random(1), 5) == rng_draws(random.Random(1), 5)


class _PickTwo(DrawPerturbation):
    name = "pick_two_test"

    def perturb_draws(self, text, draws):
        u = draws(2)
        return text + str(sample_with_draws(list(range(10)), 2, u))


def test_draw_perturbation_contract():
    p = _PickTwo(seed=3)
    out = p(["a", "b", "a"], view=1)
    assert out[0] == out[2] != out[1]
    assert p.perturb_text("a", view=1) == out[0] and p(["a"], view=2) != [out[0]]
    picked = [int(c) for c in out[0][2:-1].split(", ")]
    assert len(set(picked)) == 2 and all(0 <= i < 10 for i in picked)
    # inside composites the draws come from the generator they hand over
    assert p.perturb_one("a", random.Random(5)) == p.perturb_one("a", random.Random(5))


def test_sample_with_draws_is_uniform_and_distinct():
    rng = random.Random(0)
    counts = [0] * 6
    for _ in range(3000):
        u = [rng.getrandbits(32) for _ in range(3)]
        picked = sample_with_draws(list(range(6)), 3, u)
        assert len(set(picked)) == 3
        for i in picked:
            counts[i] += 1
    assert all(1350 <= c <= 1650 for c in counts)  # 1500 expected each
