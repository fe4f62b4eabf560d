"""Properties every perturbation must have: determinism, seed and view sensitivity, batch-order
independence, protected words, edge inputs, linear time, pickling, process independence."""

from __future__ import annotations

import json
import os
import pickle
import random
import subprocess
import sys
import time
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sua_exp.perturb import WORD_RE, Perturbation

# rate used for the generic properties: high enough that short headlines get edited
RATE = 0.15


def test_determinism_and_seed(build, sentences, pname):
    p: Perturbation = build(pname, rate=RATE)
    a = p(sentences, seed=1)
    assert a == p(sentences, seed=1)
    assert a == build(pname, rate=RATE)(sentences, seed=1)  # a fresh instance too
    assert all(isinstance(x, str) for x in a) and len(a) == len(sentences)
    assert sum(x != s for x, s in zip(a, sentences, strict=True)) >= 0.9 * len(sentences)
    b = p(sentences, seed=2)
    differ = sum(x != y for x, y in zip(a, b, strict=True))
    limit = 0.3 if pname == "distractor" else 0.6  # 40 distractor sentences: ~1/40 collide
    assert differ >= limit * len(sentences), f"{pname}: only {differ} of 200 differ across seeds"
    # the default seed is the instance seed
    assert p(sentences) == p(sentences, seed=p.seed)


def test_batch_order_and_composition_independence(build, sentences, pname):
    p = build(pname, rate=RATE)
    ref = dict(zip(sentences, p(sentences, seed=3, view=1), strict=True))
    shuffled = sentences[:]
    random.Random(0).shuffle(shuffled)
    assert p(shuffled, seed=3, view=1) == [ref[s] for s in shuffled]
    assert [p([s], seed=3, view=1)[0] for s in sentences[:20]] == [ref[s] for s in sentences[:20]]
    assert p.perturb_text(sentences[5], view=1, seed=3) == ref[sentences[5]]
    # views differ
    v0 = p(sentences, seed=3, view=0)
    assert sum(x != y for x, y in zip(v0, p(sentences, seed=3, view=1), strict=True)) >= 0.3 * len(sentences)


def test_neighbourhood_shape(build, sentences, pname):
    p = build(pname, rate=RATE)
    nb = p.neighbourhood(sentences[:7], num_views=4, seed=5)
    assert len(nb) == 7 and all(len(row) == 4 for row in nb)
    for m in range(4):
        assert [row[m] for row in nb] == p(sentences[:7], view=m, seed=5)
    assert p.neighbourhood([], 3) == []
    assert p.neighbourhood(sentences[:2], 0) == [[], []]


def _counts(text: str) -> Counter:
    return Counter(m.group().lower() for m in WORD_RE.finditer(text))


def test_protected_words_survive(build, sentences, pname):
    checked = 0
    for s in sentences[:60]:
        words = [m.group() for m in WORD_RE.finditer(s) if len(m.group()) >= 3]
        if len(words) < 3:
            continue
        prot = words[:2] + [words[-1]]
        p = build(pname, rate=1.0, protected_words=[w.upper() for w in prot])  # case-insensitive
        before = _counts(s)
        for view in range(3):
            out = p([s], view=view, seed=7)[0]
            after = _counts(out)
            for w in prot:
                assert after[w.lower()] >= before[w.lower()], (pname, s, out, w)
        checked += 1
    assert checked >= 40


EDGE = [
    "",
    " ",
    "\t\n  \r\n",
    "😀😀😀 🎉",
    "\x00\x01\x02\x1b[31m\x7f\x85\u2028",
    "a",
    "ab",
    "the",
    "don't",
    "\ud800 lone surrogate",
    "e\u0301te\u0301 cafe\u0301 ﬁnance",
    "İstanbul ß Straße ǅemal",
    "שלום עולם مرحبا بالعالم",
    "日本語のテキスト 中文文本",
    "123 456.78 -- !!! ???",
    "word\u200bjoined\u00adsoft",
    "UPPER CASE WORDS HERE",
    "o'neill's rock'n'roll",
]


def test_edge_inputs(build, pname):
    p = build(pname, rate=0.5)
    outs = p(EDGE, seed=0)
    assert len(outs) == len(EDGE) and all(isinstance(o, str) for o in outs)
    for text, out in zip(EDGE, outs, strict=True):
        if not any(ch.isalnum() for ch in text):
            assert out == text, (pname, text, out)  # nothing eligible: unchanged
    assert outs == p(EDGE, seed=0)
    assert p.neighbourhood(EDGE, 2)[0] == ["", ""]
    with pytest.raises(TypeError):
        p("a single string")
    with pytest.raises(TypeError):
        p([None])


def test_rate_zero_is_identity(build, sentences, pname):
    p = build(pname, rate=0.0)
    assert p(sentences[:50]) == sentences[:50]


def test_long_text_linear_time(build, sentences, pname):
    p = build(pname, rate=0.1)
    p(sentences[:5])  # warm-up: lexicon loading is not the perturbation's cost
    real = ". ".join(sentences)
    real = (real * (100_000 // len(real) + 1))[:100_000]
    one_word = "a" * 100_000
    noise = "".join(random.Random(0).choice("ab cd\u00e9\n😀.,") for _ in range(100_000))
    for text in (real, one_word, noise):
        t0 = time.perf_counter()
        out = p([text])[0]
        dt = time.perf_counter() - t0
        assert isinstance(out, str)
        assert dt < 1.0, f"{pname}: {dt:.2f}s on a 100k-character text"


def test_pickle_roundtrip(build, sentences, pname):
    p = build(pname, rate=RATE)
    q = pickle.loads(pickle.dumps(p))
    assert q(sentences[:30], seed=4, view=2) == p(sentences[:30], seed=4, view=2)
    assert q.name == p.name


_CHILD = """
import importlib.util, json, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("perturb_conftest", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
b = mod._builders(Path(sys.argv[2]), sys.argv[3])
texts = json.loads(sys.stdin.read())
print(json.dumps({n: b[n](rate=0.15)(texts, seed=11, view=3) for n in mod.ALL_NAMES}))
"""


def test_same_output_in_another_process(build, sentences, pdata, wn_cache):
    """Different PYTHONHASHSEED, fresh interpreter: identical outputs (no salted hash())."""
    texts = list(reversed(sentences[:25]))
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    conftest = os.path.join(os.path.dirname(__file__), "conftest.py")
    res = subprocess.run(
        [sys.executable, "-c", _CHILD, conftest, str(pdata), wn_cache],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    child = json.loads(res.stdout)
    assert len(child) >= 15
    for name, outs in child.items():
        assert outs == build(name, rate=0.15)(texts, seed=11, view=3), name


_FAST = ["keyboard_typo", "char_swap", "ocr", "case", "word_deletion", "local_shuffle", "disfluency"]


@pytest.mark.parametrize("name", _FAST)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_arbitrary_unicode(build, name, text):
    p = build(name, rate=0.3)
    out = p([text], seed=0)[0]
    assert isinstance(out, str)
    assert out == p([text], seed=0)[0]
    if WORD_RE.search(text) is None:
        assert out == text  # no word: nothing to edit
