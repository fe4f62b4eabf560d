"""Base helpers: stable_key, num_edits, match_case, the Perturbation API contract."""

from __future__ import annotations

import random

import pytest

from sua_exp.perturb import WORD_RE, Perturbation, match_case, num_edits, stable_key


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
