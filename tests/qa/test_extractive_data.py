"""The extractive-QA loader on real SQuAD rows, malformed rows, and the deterministic split."""

from __future__ import annotations

import json

import pytest

from sua_exp.data.extractive_qa import (
    ExtractiveQAExample,
    load_extractive_qa,
    load_extractive_qa_file,
)
from sua_exp.data.sources import DataError


def test_real_rows_load_and_answers_sit_in_context(squad_rows):
    assert len(squad_rows) == 40
    first = squad_rows[0]
    assert isinstance(first, ExtractiveQAExample)
    assert first.id == "56be4db0acb8001400a502ec"
    assert first.question == "Which NFL team represented the AFC at Super Bowl 50?"
    assert first.answers[0] == ("Denver Broncos", 177)
    assert first.title == "Super_Bowl_50"
    for ex in squad_rows:
        assert ex.answers
        for text, start in ex.answers:
            assert ex.context[start : start + len(text)] == text


def _write(tmp_path, rows):
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _raw_rows(squad_file, n):
    with open(squad_file, encoding="utf-8") as fh:
        return [json.loads(next(fh)) for _ in range(n)]


def test_malformed_answer_start_names_file_and_line(tmp_path, squad_file):
    rows = _raw_rows(squad_file, 3)
    rows[2]["answers"][0]["answer_start"] += 1  # shift one real answer by a character
    path = _write(tmp_path, rows)
    with pytest.raises(DataError, match=rf"{path}:3: answers\[0\] .* is not at answer_start="):
        load_extractive_qa_file(path)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"answers": []}, "non-empty list"),
        ({"question": 3}, "field 'question' must be a string"),
        ({"answers": [{"text": "x"}]}, "'text' and 'answer_start'"),
        ({"answers": [{"text": "Super", "answer_start": -1}]}, "non-negative integer"),
    ],
)
def test_other_malformed_rows(tmp_path, squad_file, patch, message):
    rows = _raw_rows(squad_file, 2)
    rows[1].update(patch)
    path = _write(tmp_path, rows)
    with pytest.raises(DataError, match=rf"{path}:2: .*{message}"):
        load_extractive_qa_file(path)


def test_duplicate_id_is_an_error(tmp_path, squad_file):
    rows = _raw_rows(squad_file, 1) * 2
    with pytest.raises(DataError, match=r":2: duplicate id"):
        load_extractive_qa_file(_write(tmp_path, rows))


def test_split_is_deterministic_by_id(tmp_path, squad_file):
    rows = _raw_rows(squad_file, 60)
    fractions = {"train": 0.6, "val": 0.2, "test": 0.2}
    a = load_extractive_qa(_write(tmp_path, rows), fractions=fractions, seed=3)
    (tmp_path / "rev").mkdir()
    b = load_extractive_qa(_write(tmp_path / "rev", rows[::-1]), fractions=fractions, seed=3)
    for name in fractions:
        assert {ex.id for ex in a[name]} == {ex.id for ex in b[name]}
    assert sum(len(v) for v in a.values()) == 60
    assert all(a[name] for name in fractions)
    limited = load_extractive_qa(_write(tmp_path, rows), fractions=fractions, seed=3, limits={"train": 5})
    assert len(limited["train"]) == 5
    assert {ex.id for ex in limited["train"]} <= {ex.id for ex in a["train"]}


def test_relative_path_resolves_under_data_dir(qa_data_dir):
    with pytest.raises(DataError, match="does not exist"):
        load_extractive_qa("qa_extractive/nope.jsonl", data_dir=qa_data_dir)
