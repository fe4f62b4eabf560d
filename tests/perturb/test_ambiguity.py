"""Ambiguity builders: mixed pairs, stripped disambiguating sentences, the ambiguous sets in the data."""

from __future__ import annotations

from pathlib import Path

import pytest

from sua_exp.data.classification import ClassificationExample, load_classification_file
from sua_exp.perturb import (
    ambivalent_examples,
    bbq_disambiguating_sentences,
    mix_pairs,
    read_bbq_ambiguous,
    read_disambiguation_qa_ambiguous,
    strip_bbq_disambiguation,
    strip_disambiguating,
)
from sua_exp.perturb.ambiguity import BBQ_FILE, DISAMBIGUATION_QA_FILE

SARCASM = "classification/sarcasm_headlines.jsonl"
MULTIEMO = "classification/multiemo_en.jsonl"


@pytest.fixture(scope="module")
def sarcasm(pdata: Path) -> list[ClassificationExample]:
    examples, labels = load_classification_file(pdata / SARCASM, ["not_sarcastic", "sarcastic"])
    return examples[:300]


def _need(pdata: Path, rel: str) -> Path:
    path = pdata / rel
    if not path.is_file():
        pytest.skip(f"{rel} is not in {pdata}")
    return path


# ----------------------------------------------------------------------------- mix_pairs
def test_mix_pairs_joins_inputs_of_different_labels(sarcasm):
    by_id = {ex.id: ex for ex in sarcasm}
    mixed = mix_pairs(sarcasm, num_pairs=100, seed=3)
    assert len(mixed) == 100
    assert len({m.id for m in mixed}) == 100  # no pair twice
    for m in mixed:
        a, b = (by_id[i] for i in m.meta["sources"])
        assert a.label != b.label
        assert m.valid_labels == (a.label, b.label) and m.label == a.label
        assert set(m.valid_labels) == {0, 1}
        assert m.text == f"{a.text} {b.text}" and m.text_pair is None
        assert m.meta["source_labels"] == [a.label, b.label] and m.meta["builder"] == "mix_pairs"
    # both orders occur: the first input's label is not always the same
    assert {m.label for m in mixed} == {0, 1}


def test_mix_pairs_is_deterministic_and_order_independent(sarcasm):
    a = mix_pairs(sarcasm, 50, seed=1)
    assert mix_pairs(sarcasm, 50, seed=1) == a
    assert mix_pairs(list(reversed(sarcasm)), 50, seed=1) == a
    assert mix_pairs(sarcasm, 50, seed=2) != a
    joined = mix_pairs(sarcasm, 50, seed=1, joiner="\n")
    assert [m.id for m in joined] == [m.id for m in a]  # the joiner does not change the pairs
    by_id = {ex.id: ex for ex in sarcasm}
    assert all(m.text == "\n".join(by_id[i].text for i in m.meta["sources"]) for m in joined)


def test_mix_pairs_dense_and_errors():
    exs = [ClassificationExample(id=f"e{i}", text=f"text {i}", label=i % 3) for i in range(6)]
    possible = sum(sum(1 for b in exs if b.label != a.label) for a in exs)  # 24 ordered pairs
    all_pairs = mix_pairs(exs, possible, seed=0)
    assert len({m.id for m in all_pairs}) == possible
    assert all(m.valid_labels[0] != m.valid_labels[1] for m in all_pairs)
    with pytest.raises(ValueError, match="ordered pairs"):
        mix_pairs(exs, possible + 1)
    with pytest.raises(ValueError, match="two labels"):
        mix_pairs([ex for ex in exs if ex.label == 0], 1)
    with pytest.raises(ValueError, match="text_pair"):
        mix_pairs([ClassificationExample(id="p", text="a", label=0, text_pair="b"), exs[1]], 1)
    assert mix_pairs(exs, 0) == []


# ----------------------------------------------------------------------------- stripping
def test_strip_disambiguating():
    text = "Two friends met. The tall one was a doctor. They talked."
    assert strip_disambiguating(text, "The tall one was a doctor.") == "Two friends met. They talked."
    assert strip_disambiguating(text, " They talked. ") == "Two friends met. The tall one was a doctor."
    assert strip_disambiguating(text, "Two friends met.") == "The tall one was a doctor. They talked."
    assert strip_disambiguating("A.\nB.\nC.", "B.") == "A.\nC."
    assert strip_disambiguating("A. B. A.", "A.") == "A. B."  # the last occurrence
    with pytest.raises(ValueError, match="not found"):
        strip_disambiguating(text, "Nobody was a doctor.")
    with pytest.raises(ValueError, match="empty"):
        strip_disambiguating(text, "  ")


def test_bbq_stripped_contexts_are_the_ambiguous_ones(pdata):
    from sua_exp.data.sources import iter_jsonl

    rows = [o for _, o in iter_jsonl(_need(pdata, BBQ_FILE))]
    marks = bbq_disambiguating_sentences(rows)
    disambig = [r for r in rows if r["meta"]["context_condition"] == "disambig"]
    assert len(marks) == len(disambig)  # every disambiguated context extends an ambiguous one
    stripped = strip_bbq_disambiguation(rows)
    assert len(stripped) == len(marks)
    ambiguous_contexts = {r["context"] for r in rows if r["meta"]["context_condition"] == "ambig"}
    by_id = {r["id"]: r for r in rows}
    for s in stripped[:: max(1, len(stripped) // 500)]:
        src = by_id[s["meta"]["source_id"]]
        assert s["context"] in ambiguous_contexts and len(s["context"]) < len(src["context"])
        assert s["label"] == s["meta"]["unknown_choice"] and s["choices"] == src["choices"]
        assert s["meta"]["context_condition"] == "ambig_stripped"
        assert s["meta"]["stripped_sentence"] not in s["context"]
    assert strip_bbq_disambiguation(rows[:50]) == strip_bbq_disambiguation(rows[:50])


# ----------------------------------------------------------------------------- readers
def test_read_bbq_ambiguous(pdata):
    _need(pdata, BBQ_FILE)
    rows = read_bbq_ambiguous(pdata)
    assert len(rows) == 8038
    assert all(r["meta"]["context_condition"] == "ambig" for r in rows)
    assert all(r["label"] == r["meta"]["unknown_choice"] for r in rows)


def test_read_disambiguation_qa_ambiguous(pdata):
    _need(pdata, DISAMBIGUATION_QA_FILE)
    rows = read_disambiguation_qa_ambiguous(pdata)
    assert len(rows) == 78
    assert all(r["meta"]["label_is_ambiguous"] is True for r in rows)
    assert all(r["label"] == r["meta"]["ambiguous_choice"] for r in rows)


def test_readers_name_the_missing_file(tmp_path):
    from sua_exp.data.sources import DataError

    with pytest.raises(DataError, match="bbq.jsonl"):
        read_bbq_ambiguous(tmp_path)


def test_multiemo_ambivalent(pdata):
    examples, labels = load_classification_file(
        _need(pdata, MULTIEMO), None, meta_filter={"level": "text", "domain": "reviews"}
    )
    amb = ambivalent_examples(examples, labels)
    idx = labels.index("ambivalent")
    assert amb and all(ex.label == idx for ex in amb)
    assert len(amb) == sum(ex.label == idx for ex in examples) < len(examples)
    with pytest.raises(ValueError, match="not in the label set"):
        ambivalent_examples(examples, ["a", "b"])
