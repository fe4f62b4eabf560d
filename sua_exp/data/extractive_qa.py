"""Extractive QA examples (SQuAD schema) and a checked JSONL loader.

Schema (``../shared/data/README.md``): ``{"id", "question", "context",
"answers": [{"text", "answer_start"}], optional "title"}``. Every answer must sit in its context at
``answer_start`` (``context[start:start+len(text)] == text``); a row that breaks this is a
DataError naming the file and line, never silently dropped.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sua_exp.data.classification import SplitDataModule, _plain, split_by_id, subsample
from sua_exp.data.sources import DataError, iter_jsonl, resolve_data_file

__all__ = [
    "ExtractiveQADataModule",
    "ExtractiveQAExample",
    "attach_natural_questions",
    "as_batch",
    "load_extractive_qa",
    "load_extractive_qa_file",
    "parse_example",
    "split_by_id",
    "subsample",
]


@dataclass(frozen=True)
class ExtractiveQAExample:
    id: str
    question: str
    context: str
    answers: tuple[tuple[str, int], ...]  # (text, character start in context)
    title: str | None = None
    source_id: str | None = None  # Disfl-QA: the id of the SQuAD question it rewrites
    # a natural perturbation of `question` asked on the same context (Disfl-QA's disfluent form)
    natural_question: str | None = None

    @property
    def answer_texts(self) -> list[str]:
        return [text for text, _ in self.answers]


def _string(obj: Mapping[str, Any], key: str, where: str) -> str:
    if key not in obj:
        raise DataError(f"{where}: missing field '{key}'")
    value = obj[key]
    if not isinstance(value, str):
        raise DataError(f"{where}: field '{key}' must be a string, got {type(value).__name__}")
    return value


def parse_example(obj: Mapping[str, Any], where: str) -> ExtractiveQAExample:
    """One row of the extractive-QA schema; `where` ("file:line") prefixes every error."""
    if "id" not in obj:
        raise DataError(f"{where}: missing field 'id'")
    question = _string(obj, "question", where)
    context = _string(obj, "context", where)
    raw_answers = obj.get("answers")
    if not isinstance(raw_answers, list) or not raw_answers:
        raise DataError(f"{where}: field 'answers' must be a non-empty list")
    answers = []
    for j, ans in enumerate(raw_answers):
        if not isinstance(ans, Mapping) or "text" not in ans or "answer_start" not in ans:
            raise DataError(f"{where}: answers[{j}] must be an object with 'text' and 'answer_start'")
        text, start = ans["text"], ans["answer_start"]
        if not isinstance(text, str) or not text:
            raise DataError(f"{where}: answers[{j}].text must be a non-empty string")
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise DataError(f"{where}: answers[{j}].answer_start must be a non-negative integer")
        found = context[start : start + len(text)]
        if found != text:
            raise DataError(
                f"{where}: answers[{j}] {text!r} is not at answer_start={start} "
                f"(context there reads {found!r})"
            )
        answers.append((text, start))
    title, source_id = obj.get("title"), obj.get("source_id")
    return ExtractiveQAExample(
        id=str(obj["id"]),
        question=question,
        context=context,
        answers=tuple(answers),
        title=title if isinstance(title, str) else None,
        source_id=str(source_id) if source_id is not None else None,
    )


def load_extractive_qa_file(path: str | os.PathLike, limit: int | None = None) -> list[ExtractiveQAExample]:
    """All rows of one JSONL file (or the first `limit` rows, in file order), checked."""
    examples: list[ExtractiveQAExample] = []
    seen: dict[str, str] = {}
    for lineno, obj in iter_jsonl(path):
        where = f"{path}:{lineno}"
        ex = parse_example(obj, where)
        if ex.id in seen:
            raise DataError(f"{where}: duplicate id '{ex.id}' (first at {seen[ex.id]})")
        seen[ex.id] = where
        examples.append(ex)
        if limit is not None and len(examples) >= limit:
            break
    if not examples:
        raise DataError(f"{path}: no examples")
    return examples


def load_extractive_qa(
    path: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    fractions: Mapping[str, float] | None = None,
    seed: int = 0,
    limits: Mapping[str, int | None] | None = None,
) -> dict[str, list[ExtractiveQAExample]]:
    """Load a file (relative paths under `data_dir`) and split it deterministically by id.

    `fractions` (e.g. ``{"train": 0.8, "val": 0.1, "test": 0.1}``; default: everything in
    ``"test"``) and per-split `limits` reuse the classification helpers, so the same id always
    lands in the same split and a limit always keeps the same examples for a seed.
    """
    file = resolve_data_file(path, data_dir)
    examples = load_extractive_qa_file(file)
    splits = split_by_id(examples, fractions or {"test": 1.0}, seed=seed)
    limits = limits or {}
    return {name: subsample(exs, limits.get(name), seed=seed) for name, exs in splits.items()}


def as_batch(examples: Sequence[ExtractiveQAExample]) -> dict[str, list]:
    """Columns for a model adapter: questions, contexts, first gold answer (text, start), all golds."""
    return {
        "ids": [ex.id for ex in examples],
        "questions": [ex.question for ex in examples],
        "contexts": [ex.context for ex in examples],
        "answers": [ex.answers[0] for ex in examples],
        "gold_texts": [ex.answer_texts for ex in examples],
    }


def attach_natural_questions(
    originals: Sequence[ExtractiveQAExample], rewrites: Sequence[ExtractiveQAExample]
) -> list[ExtractiveQAExample]:
    """Natural-perturbation pairs: each rewrite (a Disfl-QA row, `source_id` = a SQuAD id) whose
    original is in `originals` becomes an example whose clean question is the SQuAD original and
    whose `natural_question` is the rewrite, on the rewrite's context and gold answers (Disfl-QA
    contexts are tokenised, so the original question is asked on that same text)."""
    by_id = {ex.id: ex for ex in originals}
    return [
        dataclasses.replace(rw, question=by_id[rw.source_id].question, natural_question=rw.question)
        for rw in rewrites
        if rw.source_id in by_id
    ]


def collate_qa(batch: Sequence[ExtractiveQAExample]) -> dict[str, list]:
    return as_batch(batch)


class ExtractiveQADataModule(SplitDataModule):
    """Extractive QA (SQuAD schema) for span models: train/val/test from files, or one file split
    deterministically by article title (`split_by: title`), so no paragraph is seen in training
    and in test. A `test_file` alone (e.g. SQuADShifts) replaces the test split.

    `natural_file` (Disfl-QA) turns the test split into natural-perturbation pairs: the rows of
    that file whose `source_id` is a test-split SQuAD question, asked as the SQuAD original
    (clean) and as the rewrite (`natural_question`); the evaluation reports them as the
    `natural` condition.
    """

    def __init__(
        self,
        train_file: str,
        val_file: str | None = None,
        test_file: str | None = None,
        natural_file: str | None = None,
        data_dir: str | None = None,
        split: Mapping[str, float] | None = None,
        split_by: str = "title",
        split_seed: int = 0,
        max_train_samples: int | None = None,
        max_val_samples: int | None = None,
        max_test_samples: int | None = None,
        batch_size: int = 16,
        eval_batch_size: int = 64,
        num_workers: int = 0,
        shuffle_seed: int = 0,
        name: str | None = None,
    ) -> None:
        super().__init__()
        split = _plain(split)
        if split_by not in ("title", "id"):
            raise ValueError(f"data.split_by must be 'title' or 'id', got {split_by!r}")
        self.save_hyperparameters(logger=False)
        self.name = name or os.path.splitext(os.path.basename(test_file or train_file))[0]
        self.splits: dict[str, list[ExtractiveQAExample]] = {}
        self.collate_fn = collate_qa
        if split_by == "title":
            self.split_key = lambda ex: ex.title or ex.id

    def load_files(self, files: Mapping[str, str]) -> dict[str, list[ExtractiveQAExample]]:
        hp = self.hparams
        return {
            name: load_extractive_qa_file(resolve_data_file(file, hp.data_dir))
            for name, file in files.items()
        }

    def prepare_splits(self, loaded: dict[str, list]) -> dict[str, list]:
        hp = self.hparams
        if hp.natural_file is None:
            return loaded
        rewrites = load_extractive_qa_file(resolve_data_file(hp.natural_file, hp.data_dir))
        pairs = attach_natural_questions(loaded["test"], rewrites)
        if not pairs:
            raise DataError(
                f"data.natural_file {hp.natural_file}: no row's source_id is a test-split question"
            )
        return {**loaded, "test": pairs}
