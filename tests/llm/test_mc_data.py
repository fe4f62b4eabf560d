"""The qa_mc loader: deterministic per-id choice shuffling, filters, splits, file:line errors."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from sua_exp.data.multiple_choice import (
    MultipleChoiceDataModule,
    MultipleChoiceExample,
    ambiguity_info,
    choice_permutation,
    format_prompt,
    load_multiple_choice_file,
    shuffle_choices,
)
from sua_exp.data.sources import DataError


def _write(path, rows):
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def _row(i, label=0, **kw):
    return {
        "id": f"q{i}",
        "question": f"Question {i}?",
        "context": "",
        "choices": ["a", "b", "c", "d"],
        "label": label,
        **kw,
    }


def test_shuffle_is_deterministic_and_moves_label(tmp_path):
    path = _write(tmp_path / "mc.jsonl", [_row(i) for i in range(40)])
    a = load_multiple_choice_file(path, shuffle=True)
    b = load_multiple_choice_file(path, shuffle=True)
    assert a == b
    assert Counter(ex.label for ex in a)[0] < 40 and len({ex.label for ex in a}) == 4
    for ex in a:
        assert ex.choices[ex.label] == "a"  # the correct text follows its index
        assert [("a", "b", "c", "d")[i] for i in ex.meta["choice_order"]] == list(ex.choices)
    # a function of the id only: another file order gives the same permutation
    rev = load_multiple_choice_file(
        _write(tmp_path / "rev.jsonl", [_row(i) for i in reversed(range(40))]), shuffle=True
    )
    assert {ex.id: ex.choices for ex in rev} == {ex.id: ex.choices for ex in a}
    assert load_multiple_choice_file(path, shuffle=True, shuffle_seed=1) != a
    assert choice_permutation("q1", 4) == choice_permutation("q1", 4)


def test_truthfulqa_label_leaves_index_zero(data_dir):
    raw = load_multiple_choice_file(data_dir / "qa_mc" / "truthfulqa_mc.jsonl")
    assert {ex.label for ex in raw} == {0}  # the source warning
    shuffled = load_multiple_choice_file(data_dir / "qa_mc" / "truthfulqa_mc.jsonl", shuffle=True)
    counts = Counter(ex.label for ex in shuffled)
    assert counts[0] < 0.5 * len(shuffled) and len(counts) == 5
    for r, s in zip(raw, shuffled, strict=True):
        assert s.choices[s.label] == r.choices[0] and sorted(s.choices) == sorted(r.choices)


def test_shuffle_remaps_index_meta_and_valid_choices():
    ex = MultipleChoiceExample(
        id="bbq-x",
        question="Who?",
        context="c",
        choices=("A", "Unknown", "B"),
        label=1,
        meta={"context_condition": "ambig", "unknown_choice": 1},
        valid_choices=(0, 2),
    )
    for seed in range(6):
        s = shuffle_choices(ex, seed)
        assert s.choices[s.meta["unknown_choice"]] == "Unknown" == s.choices[s.label]
        assert {s.choices[i] for i in s.valid_choices} == {"A", "B"}
        assert ambiguity_info(s) == (True, s.meta["unknown_choice"])


def test_bad_rows_name_file_and_line(tmp_path):
    cases = [
        ("{not json", "malformed JSON"),
        (_row(1, label=7), "label 7 is not an index"),
        (_row(1, label="a"), "label 'a'"),
        ({"id": "x", "question": "q", "label": 0}, "missing field 'choices'"),
        (_row(1, choices=["only one"]), "at least 2"),
        (_row(1, choices=["a", ""]), r"choices\[1\] is empty"),
        (_row(1, question=5), "'question' must be a string"),
        (_row(1, valid_choices=[9]), "valid_choices"),
    ]
    for bad, message in cases:
        path = _write(tmp_path / "bad.jsonl", [_row(0), "", bad])
        with pytest.raises(DataError, match=rf"bad\.jsonl:3: .*{message}"):
            load_multiple_choice_file(path)
    with pytest.raises(DataError, match=r"dup\.jsonl:2: duplicate id 'q0'"):
        load_multiple_choice_file(_write(tmp_path / "dup.jsonl", [_row(0), _row(0)]))


def test_meta_filter_split_and_prompt(tmp_path):
    rows = [_row(i, meta={"context_condition": "ambig" if i % 2 else "disambig"}) for i in range(60)]
    path = _write(tmp_path / "mc.jsonl", rows)
    amb = load_multiple_choice_file(path, meta_filter={"context_condition": "ambig"})
    assert len(amb) == 30 and all(ex.meta["context_condition"] == "ambig" for ex in amb)
    kw = dict(train_file=str(path), split={"val": 0.5, "test": 0.5}, max_test_samples=10)
    dm = MultipleChoiceDataModule(**kw)
    dm.setup()
    ids = [ex.id for ex in dm.splits["test"]]
    assert len(ids) == 10 and not set(ids) & {ex.id for ex in dm.splits["val"]}
    dm2 = MultipleChoiceDataModule(**kw)
    dm2.setup()
    assert [ex.id for ex in dm2.splits["test"]] == ids and dm.num_labels == 4
    ex = MultipleChoiceExample(id="1", question="Who?", context="Ctx.", choices=("x", "y"), label=0)
    assert (
        format_prompt(ex, "Who??") == "Ctx.\n\nWho??\n\nOptions:\n- x\n- y\n\nAnswer with one of the options."
    )
    assert (
        format_prompt(ex, template="{question}|{choices}", choice_format="{letter}. {choice}")
        == "Who?|A. x\nB. y"
    )
