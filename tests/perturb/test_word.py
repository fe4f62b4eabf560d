"""Word perturbations: the declared edit happens at the configured rate; WordNet synonyms are real."""

from __future__ import annotations

from collections import Counter

import pytest

from sua_exp.perturb import (
    WORD_RE,
    LocalShuffle,
    SynonymSwap,
    WordDeletion,
    WordRepetition,
    load_spelling_dict,
    num_edits,
)
from sua_exp.perturb.word import NEGATIONS
from sua_exp.perturb.wordnet import LEXNAMES, add_ed, add_ing, add_s, prepare_wordnet_dir

RATE = 0.2


def _words(text: str) -> list[str]:
    return [m.group() for m in WORD_RE.finditer(text)]


def _is_subsequence(short: list[str], long: list[str]) -> bool:
    it = iter(long)
    return all(w in it for w in short)


def test_word_deletion_rate(build, sentences):
    p = build("word_deletion", rate=RATE)
    for s in sentences:
        w_in = _words(s)
        out = p([s])[0]
        w_out = _words(out)
        n = p.count_eligible(s)
        assert len(w_in) - len(w_out) == num_edits(RATE, n)
        assert _is_subsequence(w_out, w_in)
        assert out.count("  ") <= s.count("  ") and out == out.strip()  # whitespace merged


@pytest.mark.parametrize(
    ("text", "drop", "expected"),
    [
        ("the big dog", {1}, "the dog"),
        ("the big dog", {0}, "big dog"),
        ("the big dog", {2}, "the big"),
        ("the big dog.", {2}, "the big."),
        ("the dog, runs", {1}, "the, runs"),
        ("  a b c  ", {0, 1}, "  c  "),
        ("a b c d", {1, 2}, "a d"),
        ("a b c d", {1, 3}, "a c"),
        ('"The dog" said', {0}, '"dog" said'),
    ],
)
def test_word_deletion_whitespace(text, drop, expected, monkeypatch):
    p = WordDeletion(rate=len(drop) / len(_words(text)))
    monkeypatch.setattr("random.Random.sample", lambda self, pop, k: sorted(drop))
    assert p([text])[0] == expected


def test_word_deletion_keeps_negations_and_one_word():
    p = WordDeletion(rate=1.0)
    assert p(["single"])[0] == "single"
    assert p.count_eligible("single") == 0
    out = p(["this is not a good movie and I don't like it"])[0]
    assert "not" in _words(out) and "don't" in _words(out)
    assert len(_words(p(["alpha beta gamma"])[0])) == 1
    assert WordDeletion(rate=1.0, protect_negations=False).count_eligible("is not good") == 3


def test_word_repetition_rate(build, sentences):
    p = build("word_repetition", rate=RATE)
    for s in sentences:
        w_in, out = _words(s), p([s])[0]
        w_out = _words(out)
        assert len(w_out) - len(w_in) == num_edits(RATE, len(w_in))
        assert _is_subsequence(w_in, w_out)
        assert sum(a == b for a, b in zip(w_out, w_out[1:], strict=False)) >= num_edits(RATE, len(w_in))


def test_local_shuffle_rate(build, sentences):
    p = build("local_shuffle", rate=RATE)
    for s in sentences:
        w_in, out = _words(s), p([s])[0]
        w_out = _words(out)
        assert Counter(w_in) == Counter(w_out)
        moved = [i for i, (a, b) in enumerate(zip(w_in, w_out, strict=True)) if a != b]
        k = num_edits(RATE / 2, len(w_in))
        assert len(moved) == 2 * k, (s, out)
        for i in moved:  # window=1: every word moved by one position
            assert w_out[i] in (w_in[i - 1] if i else None, w_in[i + 1] if i + 1 < len(w_in) else None)
        # punctuation and whitespace skeleton unchanged
        assert WORD_RE.sub("", out) == WORD_RE.sub("", s)


def test_local_shuffle_window():
    p = LocalShuffle(rate=1.0, window=3)
    text = "one two three four five six seven eight nine ten"
    outs = {p([text], view=v)[0] for v in range(30)}
    dists = set()
    for out in outs:
        for i, w in enumerate(_words(out)):
            dists.add(abs(_words(text).index(w) - i))
    assert max(dists) <= 3 and max(dists) >= 2
    with pytest.raises(ValueError):
        LocalShuffle(window=0)


def test_misspelling_rate_and_table(build, sentences, pdata):
    p = build("misspelling", rate=RATE)
    table = load_spelling_dict(pdata / "lexicon" / "spelling_en.txt")
    assert "happy" in table and "heppy" in table["happy"]
    assert "was" not in table.get("is", ())  # real-word confusions dropped
    assert not any("?" in m for ms in table.values() for m in ms)
    # no negation is introduced (negations may be misspelled as negations: not -> n't)
    assert not any("n't" in m for w, ms in table.items() if "n't" not in w and w not in NEGATIONS for m in ms)
    edited = 0
    for s in sentences:
        w_in, out = _words(s), p([s])[0]
        w_out = [m.group() for m in WORD_RE.finditer(out)]
        n = sum(1 for w in w_in if len(w) >= 3 and w.lower() in table)
        assert p.count_eligible(s) == n
        if n == 0:
            assert out == s
            continue
        edited += 1
        # misspellings are single words: compare position-wise where the word count matches
        if len(w_out) == len(w_in):
            changed = [(a, b) for a, b in zip(w_in, w_out, strict=True) if a != b]
            assert len(changed) == num_edits(RATE, n)
            for a, b in changed:
                assert b.lower() in table[a.lower()]
    assert edited >= 180


def test_misspelling_keeps_case(pdata):
    from sua_exp.perturb import Misspelling

    p = Misspelling(spelling_file=str(pdata / "lexicon" / "spelling_en.txt"), rate=1.0)
    out = p(["Happy PEOPLE because"])[0].split()
    assert out[0][0].isupper() and out[0][1:].islower()
    assert out[1].isupper()
    assert out[2].islower()


# ---------------------------------------------------------------------------- WordNet
def test_wordnet_cache_copy_and_lexnames(pdata, tmp_path):
    src = pdata / "lexicon" / "wordnet"
    before = sorted(p.name for p in src.iterdir())
    d1 = prepare_wordnet_dir(src, cache_dir=tmp_path)
    d2 = prepare_wordnet_dir(src, cache_dir=tmp_path)
    assert d1 == d2 and d1.is_relative_to(tmp_path)
    lines = (d1 / "lexnames").read_text().splitlines()
    assert len(lines) == 45 == len(LEXNAMES)
    assert lines[0].split() == ["00", "adj.all", "3"] and lines[44].split() == ["44", "adj.ppl", "3"]
    assert sorted(p.name for p in src.iterdir()) == before  # nothing written into the data folder
    assert not (src / "lexnames").exists()
    with pytest.raises(FileNotFoundError):
        prepare_wordnet_dir(tmp_path / "nope", cache_dir=tmp_path)


def test_synonym_swap_uses_wordnet(build):
    p: SynonymSwap = build("synonym", rate=1.0)
    lex = p.lexicon
    # nltk's reader works on the copy (lexnames present) and agrees with the fast path
    wn = lex.wn
    happy = wn.synsets("happy", "a")
    assert any("glad" in s.lemma_names() for s in happy)
    for ss in happy[:3]:
        assert list(lex.synset_words("a", ss.offset())) == ss.lemma_names()
    assert {"glad", "felicitous"} & set(lex.synonyms("happy", common_only=False))
    assert "glad" in lex.synonyms("happy")
    assert _words(p(["a happy ending"])[0])[:2] == ["a", "glad"]
    assert p(["Happy"])[0] == "Glad"  # case kept
    assert p(["HAPPY"])[0] == "GLAD"


def test_synonym_inflection_and_pos():
    assert add_s("city") == "cities" and add_s("box") == "boxes" and add_s("day") == "days"
    assert add_ed("stop") == "stopped" and add_ed("bake") == "baked" and add_ed("carry") == "carried"
    assert add_ed("visit") == "visited"
    assert add_ing("make") == "making" and add_ing("die") == "dying" and add_ing("run") == "running"


def test_synonym_inflected_forms(build):
    lex = build("synonym", rate=1.0).lexicon
    assert set(lex.synonyms("unveiled")) >= {"revealed"}
    assert all(c.endswith("s") for c in lex.synonyms("nails"))
    assert all(c.endswith("ing") for c in lex.synonyms("falling"))
    assert lex.synonyms("went") == ()  # irregular form: not substituted
    assert lex.choose_pos("quickly", None)[0] == "r"
    assert lex.choose_pos("run", "v") == ("v", "run")
    assert lex.choose_pos("run", "n") == ("n", "run")


_PUNCT = "\"'.,:;!?()[]"


def _tokens(text: str) -> list[str]:
    """Whitespace tokens without surrounding punctuation (synonyms may contain a hyphen)."""
    return [t.strip(_PUNCT) for t in text.split()]


def _changed_words(t_in: list[str], t_out: list[str]) -> list[tuple[str, str]]:
    """(original word, replacement) pairs; a hyphenated synonym replaces one whole word."""
    out = []
    for a, b in zip(t_in, t_out, strict=True):
        if a == b:
            continue
        wa, wb = _words(a), _words(b)
        if len(wa) == len(wb):
            out.extend((x, y) for x, y in zip(wa, wb, strict=True) if x != y)
        else:
            out.append((a, b))
    return out


def test_synonym_swap_rate(build, sentences):
    p = build("synonym", rate=RATE)
    lex = p.lexicon
    n_edited = 0
    for s in sentences:
        n = p.count_eligible(s)
        out = p([s])[0]
        if n == 0:
            assert out == s
            continue
        n_edited += out != s
        t_in, t_out = _tokens(s), _tokens(out)
        assert len(t_in) == len(t_out)  # one-word synonyms by default
        changed = _changed_words(t_in, t_out)
        assert len(changed) == num_edits(RATE, n), (s, out)
        for a, b in changed:
            allowed = set().union(*(lex.synonyms(a, h) for h in (None, "n", "v", "a")))
            assert b.lower() in allowed, (a, b)
    assert n_edited >= 190


def test_synonym_stop_words_never_swapped(build, sentences):
    from sua_exp.perturb import STOP_WORDS

    p = build("synonym", rate=1.0)
    for s in sentences[:100]:
        t_in, t_out = _tokens(s), _tokens(p([s])[0])
        assert len(t_in) == len(t_out)
        for a, b in zip(t_in, t_out, strict=True):
            if a.lower() in STOP_WORDS:
                assert a == b


def test_synonym_missing_dir(tmp_path):
    with pytest.raises(FileNotFoundError):
        SynonymSwap(wordnet_dir=str(tmp_path / "missing"))


def test_word_repetition_protected():
    p = WordRepetition(rate=1.0, protected_words=["dog"])
    assert p(["the dog barks"])[0] == "the the dog barks barks"


def _reference_candidates(p: SynonymSwap, text: str) -> list[tuple[int, int, tuple[str, ...]]]:
    """Uncached re-implementation of the eligibility rule (default options)."""
    from sua_exp.perturb import STOP_WORDS
    from sua_exp.perturb.wordnet import context_pos

    out, prev = [], None
    for m in WORD_RE.finditer(text):
        w = m.group()
        lw = w.lower().replace("\u2019", "'")
        hint, prev = context_pos(prev, lw), lw
        if len(w) >= 3 and lw not in STOP_WORDS and "'" not in lw and w.isascii():
            syns = p.lexicon.synonyms(lw, hint)
            if syns:
                out.append((m.start(), m.end(), syns))
    return out


def test_synonym_lookup_cache_and_protected_copies(build, sentences):
    p = build("synonym", rate=1.0)
    text = "A happy dog"
    assert "happy" not in p([text])[0].lower()  # fills the per-instance look-up cache
    q = p.with_protected(["HAPPY"])  # shares that cache: protection is checked outside it
    assert "happy" in q([text])[0]
    assert p.count_eligible(text) == len(p.candidates(text)) == q.count_eligible(text) + 1
    # cached look-ups (POS cue of the previous word included) agree with uncached ones, twice
    extra = ["they are falling", "The Happy DOG is very HAPPY", "don’t be sad, he’s running fast"]
    for _ in range(2):
        for s in sentences[:100] + extra:
            assert p.candidates(s) == _reference_candidates(p, s), s
            assert p.count_eligible(s) == len(p.candidates(s))
