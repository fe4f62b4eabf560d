"""Character perturbations: the declared edit happens, at the configured rate, on real headlines."""

from __future__ import annotations

import difflib
import json
import logging
import random

import pytest

from sua_exp.perturb import (
    QWERTY_NEIGHBOURS,
    WORD_RE,
    CharDelete,
    CharInsert,
    CharSwap,
    KeyboardTypo,
    OCRNoise,
    load_keyboard_map,
    num_edits,
)
from sua_exp.perturb.character import OCR_TABLE

RATE = 0.1


def _editable_chars(text: str, min_len: int = 3, keep_first: bool = True) -> list[int]:
    """Independent re-implementation of the character eligibility rule."""
    out = []
    for m in WORD_RE.finditer(text):
        if len(m.group()) >= min_len:
            out.extend(range(m.start() + (1 if keep_first else 0), m.end()))
    return out


def _is_subsequence(short: str, long: str) -> bool:
    it = iter(long)
    return all(ch in it for ch in short)


def test_keyboard_typo_rate_and_neighbours(build, sentences, pdata):
    p = build("keyboard_typo", rate=RATE)
    kmap = load_keyboard_map(pdata / "lexicon" / "keyboard_en.json")
    total_edits = total_elig = 0
    for s in sentences:
        elig = [i for i in _editable_chars(s) if s[i].isascii() and s[i].isalpha()]
        assert p.count_eligible(s) == len(elig)
        out = p([s])[0]
        assert len(out) == len(s)
        diff = [i for i in range(len(s)) if s[i] != out[i]]
        assert len(diff) == num_edits(RATE, len(elig)), (s, out)
        for i in diff:
            assert i in elig
            assert out[i].lower() in kmap[s[i].lower()]
            assert out[i].isupper() == s[i].isupper()
        total_edits += len(diff)
        total_elig += len(elig)
    # aggregate rate: per-text rounding and the at-least-one rule only push it up a little
    assert RATE <= total_edits / total_elig <= RATE + 0.03


def test_keyboard_map_loading(pdata, tmp_path, caplog):
    kmap = load_keyboard_map(pdata / "lexicon" / "keyboard_en.json")
    assert set(kmap) == set("abcdefghijklmnopqrstuvwxyz")
    assert "a" not in kmap["a"]  # the nlpaug file lists 'a' as its own neighbour
    assert all(v.isalpha() and len(v) == 1 for vs in kmap.values() for v in vs)  # " t" stripped
    assert "1" in load_keyboard_map(pdata / "lexicon" / "keyboard_en.json", letters_only=False)["q"]
    assert load_keyboard_map(None) == QWERTY_NEIGHBOURS
    with caplog.at_level(logging.WARNING):
        assert load_keyboard_map(tmp_path / "missing.json") == QWERTY_NEIGHBOURS
    assert "not found" in caplog.text
    assert set(QWERTY_NEIGHBOURS["g"]) == {"f", "h", "t", "y", "v", "b"}
    assert set(QWERTY_NEIGHBOURS["q"]) == {"w", "a"}
    custom = tmp_path / "kb.json"
    custom.write_text(json.dumps({"a": "b", "%": "$"}))
    assert load_keyboard_map(custom) == {"a": ["b"]}
    # the built-in map works without a file and preserves case
    out = KeyboardTypo(rate=1.0)(["HELLO world"])[0]
    assert out[0] == "H" and out[1:5].isupper() and out[6] == "w" and out[7:].islower()


def test_char_insert_rate(build, sentences):
    p = build("char_insert", rate=RATE)
    for s in sentences:
        # slots after every character of a word of >= 3 letters (never before the first one)
        n = sum(len(m.group()) for m in WORD_RE.finditer(s) if len(m.group()) >= 3)
        assert p.count_eligible(s) == n
        out = p([s])[0]
        assert len(out) - len(s) == num_edits(RATE, n)
        assert _is_subsequence(s, out)
        assert [m.group()[0] for m in WORD_RE.finditer(out)] == [m.group()[0] for m in WORD_RE.finditer(s)]


def test_char_delete_rate(build, sentences):
    p = build("char_delete", rate=RATE)
    for s in sentences:
        n = len(_editable_chars(s))
        out = p([s])[0]
        assert len(s) - len(out) == num_edits(RATE, n)
        assert _is_subsequence(out, s)


def test_char_swap_rate(build, sentences):
    p = build("char_swap", rate=RATE)
    for s in sentences:
        n = p.count_eligible(s)
        out = p([s])[0]
        assert sorted(out) == sorted(s) and len(out) == len(s)
        diff = [i for i in range(len(s)) if s[i] != out[i]]
        assert len(diff) == 2 * num_edits(RATE, n), (s, out)
        for i in diff[::2]:  # non-overlapping adjacent transpositions
            assert out[i] == s[i + 1] and out[i + 1] == s[i]


def test_case_change_rate(build, sentences):
    p = build("case", rate=RATE)
    for s in sentences:
        n = len([i for i in _editable_chars(s, keep_first=False) if s[i].swapcase() != s[i]])
        assert p.count_eligible(s) == n
        out = p([s])[0]
        assert out.lower() == s.lower()
        assert sum(a != b for a, b in zip(s, out, strict=True)) == num_edits(RATE, n)


def test_ocr_rate(build, sentences):
    p = build("ocr", rate=RATE)
    changed = 0
    for s in sentences:
        n = p.count_eligible(s)
        out = p([s])[0]
        k = num_edits(RATE, n)
        ops = [
            op
            for op in difflib.SequenceMatcher(None, s, out, autojunk=False).get_opcodes()
            if op[0] != "equal"
        ]
        assert 1 <= len(ops) <= 2 * k if k else not ops
        changed += out != s
    assert changed >= 195


def test_ocr_sites_prefer_multichar():
    p = OCRNoise(rate=1.0, keep_first=False, table={"rn": ["m"], "r": ["x"], "n": ["h"]})
    assert p.count_eligible("corner") == 2  # "rn" then "r"
    assert p(["corner"])[0] == "comex"
    assert OCRNoise(rate=1.0)(["0000 1111"])[0] == "0000 1111"  # digits are not words
    assert all(k != v for k, vs in OCR_TABLE.items() for v in vs)


def test_first_char_and_short_words_kept(sentences):
    for cls in (KeyboardTypo, CharInsert, CharDelete, CharSwap, OCRNoise):
        p = cls(rate=1.0)
        for s in sentences[:50]:
            out = p([s])[0]
            w_in = [m.group() for m in WORD_RE.finditer(s)]
            short = {w for w in w_in if len(w) < 3}
            firsts_out = {m.group()[0] for m in WORD_RE.finditer(out)}
            assert {w[0] for w in w_in} <= firsts_out | {"1", "0", "5", "8", "2", "9", "6"}
            for w in short:
                assert w in out
    # keep_first=False does edit first letters
    p = CharDelete(rate=1.0, keep_first=False, min_word_len=1)
    assert p(["abc"])[0] == ""


def test_invalid_args():
    with pytest.raises(ValueError):
        CharSwap(min_word_len=0)
    with pytest.raises(ValueError):
        KeyboardTypo(rate=2.0)


@pytest.mark.parametrize(
    "kw", [{}, {"keep_first": False}, {"min_word_len": 1}, {"min_word_len": 5, "keep_first": False}]
)
def test_keyboard_typo_batch_path_matches_per_text_path(build, sentences, kw):
    """Batches of >= 32 ASCII texts take a vectorised path; it must give each text the output
    of the per-text path (composition independence), mixed with non-ASCII texts too."""
    rng = random.Random(0)
    noise = ["".join(rng.choice("ab'c Z\n.-x") for _ in range(rng.randrange(30))) for _ in range(300)]
    texts = sentences + noise + ["café don't", "’tis o'neill's", "", "a'", "'a'b'"]
    p = build("keyboard_typo", rate=0.3, **kw)
    batch = p(texts, seed=2, view=1)
    assert batch == [p([t], seed=2, view=1)[0] for t in texts]
    assert sum(b != t for b, t in zip(batch, texts, strict=True)) >= 0.8 * len(sentences)
