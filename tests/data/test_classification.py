"""The classification datamodule on real data and on deliberately broken files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sua_exp.data import ClassificationDataModule, DataError, load_classification_file, split_by_id


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_sarcasm_real_split_is_deterministic_and_disjoint(data_dir):
    kw = dict(
        train_file="classification/sarcasm_headlines.jsonl",
        data_dir=str(data_dir),
        labels=["not_sarcastic", "sarcastic"],
        split={"train": 0.8, "val": 0.1, "test": 0.1},
    )
    a, b = ClassificationDataModule(**kw), ClassificationDataModule(**kw)
    a.setup()
    b.setup()
    sizes = {k: len(v) for k, v in a.splits.items()}
    assert sum(sizes.values()) == 28619
    assert 0.78 < sizes["train"] / 28619 < 0.82 and 0.08 < sizes["test"] / 28619 < 0.12
    ids = {k: {ex.id for ex in v} for k, v in a.splits.items()}
    assert not (ids["train"] & ids["test"]) and not (ids["val"] & ids["test"])
    assert [ex.id for ex in a.splits["test"]] == [ex.id for ex in b.splits["test"]]
    assert {ex.label for ex in a.splits["test"]} == {0, 1}


def test_split_by_id_does_not_depend_on_other_rows(data_dir):
    examples, _ = load_classification_file(data_dir / "classification/sarcasm_headlines.jsonl", None)
    full = split_by_id(examples, {"train": 0.8, "test": 0.2})
    half = split_by_id(examples[::2], {"train": 0.8, "test": 0.2})
    assert {ex.id for ex in half["test"]} == {ex.id for ex in full["test"]} & {ex.id for ex in examples[::2]}


def test_vitaminc_pairs_and_multiemo_filter(data_dir):
    dm = ClassificationDataModule(
        train_file="classification/vitaminc.jsonl",
        data_dir=str(data_dir),
        labels=["supports", "refutes", "not_enough_info"],
        pair_field="text_pair",
        split={"train": 0.8, "val": 0.1, "test": 0.1},
        max_test_samples=50,
    )
    dm.setup()
    batch = next(iter(dm.test_dataloader()))
    assert len(batch["text_pairs"]) == len(batch["texts"]) == 50
    assert batch["labels"].max() <= 2
    emo = ClassificationDataModule(
        train_file="classification/multiemo_en.jsonl",
        data_dir=str(data_dir),
        labels=["negative", "neutral", "positive", "ambivalent"],
        meta_filter={"level": "text"},
        split={"train": 0.8, "val": 0.1, "test": 0.1},
    )
    emo.setup()
    assert sum(len(v) for v in emo.splits.values()) == 8214  # text-level rows only (data README)


def test_explicit_files_and_inferred_labels(tmp_path):
    rows = [{"id": f"r{i}", "text": f"text {i}", "label": "b" if i % 2 else "a"} for i in range(10)]
    for name in ("train", "val", "test"):
        _write(tmp_path / f"{name}.jsonl", rows)
    dm = ClassificationDataModule(
        train_file=str(tmp_path / "train.jsonl"),
        val_file=str(tmp_path / "val.jsonl"),
        test_file=str(tmp_path / "test.jsonl"),
    )
    dm.setup()
    assert dm.labels == ["a", "b"] and dm.num_labels == 2
    assert [ex.label for ex in dm.splits["test"][:4]] == [0, 1, 0, 1]


def test_malformed_json_names_file_and_line(tmp_path):
    path = _write(
        tmp_path / "bad.jsonl", [{"id": "1", "text": "ok", "label": "a"}, '{"id": "2", "text": ', ""]
    )
    with pytest.raises(DataError, match=r"bad\.jsonl:2: malformed JSON"):
        load_classification_file(path, None)


def test_missing_field_and_unknown_label(tmp_path):
    path = _write(tmp_path / "x.jsonl", [{"id": "1", "text": "ok", "label": "a"}, {"id": "2", "label": "a"}])
    with pytest.raises(DataError, match=r"x\.jsonl:2: missing field 'text'"):
        load_classification_file(path, None)
    path = _write(
        tmp_path / "y.jsonl",
        [{"id": "1", "text": "ok", "label": "a"}, {"id": "2", "text": "t", "label": "zzz"}],
    )
    with pytest.raises(DataError, match=r"y\.jsonl:2: label 'zzz' is not in the label set"):
        load_classification_file(path, ["a", "b"])


def test_missing_data_folder_says_how_to_get_data(tmp_path):
    dm = ClassificationDataModule(
        train_file="classification/sarcasm_headlines.jsonl",
        data_dir=str(tmp_path / "nope"),
        split={"train": 0.8, "val": 0.1, "test": 0.1},
    )
    with pytest.raises(DataError, match="SUA_DATA_DIR"):
        dm.setup()


def test_odd_texts_are_kept_and_clipped(tmp_path):
    rows = [
        {"id": "e", "text": "", "label": "a"},
        {"id": "w", "text": "   ", "label": "a"},
        {"id": "emoji", "text": "🙂🙃", "label": "b"},
        {"id": "ctl", "text": "a\x00b\x07c", "label": "b"},
        {"id": "huge", "text": "x" * 100_000, "label": "a"},
    ]
    examples, labels = load_classification_file(_write(tmp_path / "odd.jsonl", rows), None)
    by_id = {ex.id: ex for ex in examples}
    assert by_id["emoji"].text == "🙂🙃"
    assert by_id["ctl"].text == "a b c"
    assert len(by_id["huge"].text) == 20_000
