"""Sentence perturbations: disfluencies are inserted at the configured rate; distractors appended."""

from __future__ import annotations

import pytest

from sua_exp.perturb import NEUTRAL_FACTS, WORD_RE, Disfluency, Distractor, num_edits

RATE = 0.2


def _words(text: str) -> list[str]:
    return [m.group() for m in WORD_RE.finditer(text)]


def _is_subsequence(short: list[str], long: list[str]) -> bool:
    it = iter(long)
    return all(w in it for w in short)


def test_disfluency_rate(build, sentences):
    p = build("disfluency", rate=RATE)
    fillers = {"uh", "um", "I", "mean", "you", "know", "like"}
    kinds = {"filler": 0, "restart": 0}
    for s in sentences:
        w_in, out = _words(s), p([s])[0]
        w_out = _words(out)
        k = num_edits(RATE, len(w_in))
        assert p.count_eligible(s) == len(w_in)
        assert _is_subsequence(w_in, w_out)  # original words kept, in order
        assert len(w_out) - len(w_in) >= k  # every insertion adds at least one word
        kinds["filler"] += any(w in fillers for w in w_out) and not any(w in fillers for w in w_in)
        kinds["restart"] += (
            any(a == b for a, b in zip(w_out, w_out[1:], strict=False)) or len(w_out) - len(w_in) > 2 * k
        )
    assert kinds["filler"] > 50 and kinds["restart"] > 20


def test_disfluency_restart_and_protection():
    text = "what is the capital of france"
    p = Disfluency(rate=1.0, restart_prob=1.0, max_restart_len=1)
    assert p([text])[0] == "what what is is the the capital capital of of france france"
    q = Disfluency(rate=1.0, restart_prob=1.0, protected_words=["capital", "france", "of"])
    out = q([text])[0]
    assert "capital of france" in out  # no insertion inside a protected phrase
    assert _words(out).count("capital") == 1 and _words(out).count("france") == 1
    r = Disfluency(rate=1.0, restart_prob=0.0, fillers=["uh"])
    assert r(["a b"])[0] == "uh a uh b"
    with pytest.raises(ValueError):
        Disfluency(fillers=[])
    with pytest.raises(ValueError):
        Disfluency(restart_prob=2)


def test_distractor(build, sentences):
    p = build("distractor")
    for s in sentences:
        out = p([s])[0]
        assert out.startswith(s)
        tail = out[len(s) :]
        assert tail.startswith(". ") or (s.rstrip("\"')")[-1] in ".!?" and tail.startswith(" "))
        assert tail.lstrip(". ") in NEUTRAL_FACTS
    chosen = {p([s], view=v)[0][len(s) :] for s in sentences[:5] for v in range(10)}
    assert len(chosen) >= 10


def test_distractor_options(tmp_path):
    p = Distractor(sentences=["Grass is green."], position="start")
    assert p(["hello world"])[0] == "Grass is green. hello world"
    f = tmp_path / "facts.txt"
    f.write_text("One fact.\n\nTwo fact.\n")
    q = Distractor(sentences_file=str(f), num_sentences=2, terminate=False)
    out = q(["hi there  "])[0]
    assert out.startswith("hi there ") and out.endswith("  ")
    assert "One fact." in out and "Two fact." in out
    assert Distractor()(["Done!"])[0].startswith("Done! ")
    assert Distractor(rate=0.0)(["x"])[0] == "x"
    assert Distractor()(["  ", "🙂"]) == ["  ", "🙂"]
    with pytest.raises(ValueError):
        Distractor(position="middle")
    with pytest.raises(FileNotFoundError):
        Distractor(sentences_file=str(tmp_path / "missing.txt"))
