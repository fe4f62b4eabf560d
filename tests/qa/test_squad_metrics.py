"""SQuAD v1.1 normalization, EM and F1 against hand-computed values."""

from __future__ import annotations

import pytest

from sua_exp.evaluation.squad import exact_match, f1, normalize_answer, squad_scores


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("The Eiffel Tower", "eiffel tower"),
        ("  The  U.S.  ", "us"),
        ("an apple, a pear & the plum!", "apple pear plum"),
        ("Anthem theory", "anthem theory"),  # articles only as whole words
        ("Denver\tBroncos\n", "denver broncos"),
    ],
)
def test_normalize_answer(raw, expected):
    assert normalize_answer(raw) == expected


def test_exact_match_is_max_over_golds():
    assert exact_match("The Eiffel Tower", ["eiffel tower"]) == 1.0
    assert exact_match("Eiffel Tower!", ["Paris", "the eiffel tower"]) == 1.0
    assert exact_match("Eiffel", ["eiffel tower", "Paris"]) == 0.0
    assert exact_match("Denver Broncos", "Denver Broncos") == 1.0


def test_f1_hand_cases():
    # "cat sat on mat" vs "cat on mat": overlap 3, P = 3/4, R = 1 -> 6/7
    assert f1("the cat sat on the mat", ["a cat on a mat"]) == pytest.approx(6 / 7)
    # "eiffel" vs "eiffel tower": P = 1, R = 1/2 -> 2/3
    assert f1("Eiffel", ["eiffel tower"]) == pytest.approx(2 / 3)
    # repeated tokens count once per match: "x x y" vs "x y y" -> overlap 2, P = R = 2/3
    assert f1("x x y", ["x y y"]) == pytest.approx(2 / 3)
    # max over golds: "Broncos" gives P = 1/2, R = 1 -> 2/3; "Carolina Panthers" gives 0
    assert f1("Denver Broncos", ["Carolina Panthers", "Broncos"]) == pytest.approx(2 / 3)
    assert f1("Denver Broncos", ["Carolina Panthers", "Broncos", "denver broncos."]) == 1.0
    assert f1("Paris", ["London"]) == 0.0
    assert f1("the", ["a"]) == 0.0  # both normalize to empty: no tokens, F1 0 (as the official script)


def test_squad_scores_means():
    scores = squad_scores(["Eiffel", "Paris"], [["eiffel tower"], ["paris", "France"]])
    assert scores["em"] == pytest.approx(0.5)
    assert scores["f1"] == pytest.approx((2 / 3 + 1) / 2)
    with pytest.raises(ValueError):
        exact_match("x", [])
