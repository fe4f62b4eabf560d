"""Generative (free-text) QA examples: a question, an optional context, gold and false answers.

Two source schemas (``../shared/data/README.md``):

* ``schema: extractive`` (SQuAD rows: ``id, question, context, answers[{text, answer_start}]``,
  read by `sua_exp.data.extractive_qa.load_extractive_qa_file` with its answer checks): open-book
  generation; the gold answers are the annotated spans. No false answers.
* ``schema: multiple_choice`` (qa_mc rows: ``id, question, context, choices, label, meta``, read
  by `sua_exp.data.multiple_choice.load_multiple_choice_file`): the choices are never shown.
  True answers: ``meta.true_answers`` plus ``meta.best_answer`` (TruthfulQA), else the correct
  choice(s) (``label`` and ``valid_choices``); false answers: ``meta.false_answers``, else the
  other choices.

How a sampled answer is judged against these lives in `sua_exp.evaluation.generative_qa`
(``answer_correct``). The user turn is `prompt_template` with ``{context}`` (the context and a
blank line, or nothing) and ``{question}``; for QA the question is perturbed, the context kept.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sua_exp.data.classification import SplitDataModule, _plain
from sua_exp.data.extractive_qa import ExtractiveQAExample, load_extractive_qa_file
from sua_exp.data.multiple_choice import MultipleChoiceExample, load_multiple_choice_file
from sua_exp.data.sources import DataError, resolve_data_file

SCHEMAS = ("extractive", "multiple_choice")
#: how a generated answer is judged (`sua_exp.evaluation.generative_qa.answer_scores`)
CORRECTNESS_RULES = ("auto", "em", "contains", "f1_vs_false")
DEFAULT_PROMPT_TEMPLATE = "{context}Question: {question}\nAnswer with a short phrase."

__all__ = [
    "DEFAULT_PROMPT_TEMPLATE",
    "GenerativeQADataModule",
    "GenerativeQAExample",
    "format_generative_prompt",
    "from_extractive",
    "from_multiple_choice",
]


@dataclass(frozen=True)
class GenerativeQAExample:
    id: str
    question: str
    context: str
    answers: tuple[str, ...]  # gold (true) answers
    false_answers: tuple[str, ...] = ()  # known false answers (TruthfulQA); empty for SQuAD
    meta: Mapping[str, Any] = field(default_factory=dict)


def _unique(texts: Sequence[Any]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.strip() for t in texts if isinstance(t, str) and t.strip()))


def from_extractive(example: ExtractiveQAExample) -> GenerativeQAExample:
    """A SQuAD row as open-book generation: gold = the annotated answer texts."""
    meta = {"title": example.title} if example.title else {}
    return GenerativeQAExample(
        id=example.id,
        question=example.question,
        context=example.context,
        answers=_unique(example.answer_texts),
        meta=meta,
    )


def from_multiple_choice(example: MultipleChoiceExample) -> GenerativeQAExample:
    """A qa_mc row as free generation (see the module docstring for the true/false answers)."""
    meta = dict(example.meta)
    correct_idx = set(example.valid_choices or ()) | {example.label}
    true = list(meta.get("true_answers") or [])
    if isinstance(meta.get("best_answer"), str):
        true.insert(0, meta["best_answer"])
    if not true:
        true = [example.choices[i] for i in sorted(correct_idx)]
    false = list(meta.get("false_answers") or [])
    if not false:
        false = [c for i, c in enumerate(example.choices) if i not in correct_idx]
    answers = _unique(true)
    if not answers:
        raise DataError(f"example '{example.id}': no true answer")
    return GenerativeQAExample(
        id=example.id,
        question=example.question,
        context=example.context,
        answers=answers,
        false_answers=tuple(a for a in _unique(false) if a not in answers),
        meta=meta,
    )


def format_generative_prompt(
    example: GenerativeQAExample, question: str | None = None, template: str = DEFAULT_PROMPT_TEMPLATE
) -> str:
    """The user turn for `example`, with `question` (e.g. a perturbed one) in place of its own."""
    context = example.context.strip()
    return template.format(
        context=f"{context}\n\n" if context else "",
        question=(example.question if question is None else question).strip(),
    ).strip()


def collate_generative(batch: Sequence[GenerativeQAExample]) -> dict[str, Any]:
    return {
        "ids": [ex.id for ex in batch],
        "questions": [ex.question for ex in batch],
        "contexts": [ex.context for ex in batch],
        "answers": [list(ex.answers) for ex in batch],
        "false_answers": [list(ex.false_answers) for ex in batch],
    }


class GenerativeQADataModule(SplitDataModule):
    """Generative QA from a SQuAD-schema or qa_mc JSONL file (or separate train/val/test files).

    With only `train_file`, the splits are a deterministic function of each id (`split`
    fractions, `split_seed`); `max_*_samples` keep the same examples for a given `split_seed`.
    `meta_filter` applies to qa_mc rows only. `correctness` is the rule that judges an answer
    (auto: exact match for SQuAD, F1 vs true > F1 vs false answers for TruthfulQA; em; contains;
    f1_vs_false).
    """

    def __init__(
        self,
        train_file: str,
        schema: str = "extractive",
        val_file: str | None = None,
        test_file: str | None = None,
        data_dir: str | None = None,
        meta_filter: Mapping[str, Any] | None = None,
        split: Mapping[str, float] | None = None,
        split_seed: int = 0,
        max_train_samples: int | None = None,
        max_val_samples: int | None = None,
        max_test_samples: int | None = None,
        prompt_template: str = DEFAULT_PROMPT_TEMPLATE,
        correctness: str = "auto",
        batch_size: int = 16,
        eval_batch_size: int = 64,
        num_workers: int = 0,
        shuffle_seed: int = 0,
        name: str | None = None,
    ) -> None:
        super().__init__()
        meta_filter, split = _plain(meta_filter), _plain(split)
        self.save_hyperparameters(logger=False)
        if schema not in SCHEMAS:
            raise ValueError(f"data.schema '{schema}' is not one of {SCHEMAS}")
        if "{question}" not in prompt_template:
            raise ValueError("data.prompt_template must contain {question}")
        if correctness not in CORRECTNESS_RULES:
            raise ValueError(f"data.correctness '{correctness}' is not one of {CORRECTNESS_RULES}")
        if meta_filter and schema != "multiple_choice":
            raise ValueError("data.meta_filter applies to schema=multiple_choice only")
        self.name = name or os.path.splitext(os.path.basename(train_file))[0]
        self.schema = schema
        self.correctness = correctness
        self.prompt_template = prompt_template
        self.splits: dict[str, list[GenerativeQAExample]] = {}
        self.collate_fn = collate_generative

    def load_files(self, files: Mapping[str, str]) -> dict[str, list[GenerativeQAExample]]:
        hp = self.hparams
        loaded = {}
        for name, file in files.items():
            path = resolve_data_file(file, hp.data_dir)
            if self.schema == "extractive":
                loaded[name] = [from_extractive(ex) for ex in load_extractive_qa_file(path)]
            else:
                rows = load_multiple_choice_file(path, hp.meta_filter)
                loaded[name] = [from_multiple_choice(ex) for ex in rows]
        return loaded

    def prompt(self, example: GenerativeQAExample, question: str | None = None) -> str:
        return format_generative_prompt(example, question, self.prompt_template)
