"""Multiple-choice QA examples (BBQ, TruthfulQA MC, MMLU, ...) in the shared `qa_mc` schema.

Schema (one JSON object per line): ``{"id", "question", "context" (may be ""), "choices": [str],
"label" (int index), optional "valid_choices": [int], optional "meta": {...}}``.

Choice order. TruthfulQA lists the correct answer first on every row; a model shown a lettered
or bulleted list could learn "pick the first one". With ``shuffle_choices`` the choices of each
example are permuted by a hash of ``(shuffle_seed, id)``: the same example always gets the same
order, whatever the file order, the split or the process. ``label``, ``valid_choices`` and the
index-valued meta fields (``unknown_choice`` of BBQ, ``ambiguous_choice`` of disambiguation_qa)
are remapped; ``meta["choice_order"]`` keeps the source index of each shown choice.

Ambiguity. :func:`ambiguity_info` says whether an example is ambiguous and which option is the
"unknown"/"ambiguous" answer: BBQ rows with ``meta.context_condition == "ambig"`` (the correct
answer is the unknown option; the two people are the answers the context does not decide
between), and disambiguation_qa rows with ``meta.label_is_ambiguous``.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from sua_exp.data.classification import SplitDataModule, _meta_matches, _plain, _unit_hash
from sua_exp.data.sources import DataError, iter_jsonl, resolve_data_file

log = logging.getLogger("sua_exp")

MAX_CHARS = 20_000  # questions/contexts are clipped here (as classification texts are)

#: meta keys holding a choice index; remapped when the choices are shuffled
INDEX_META_KEYS = ("unknown_choice", "ambiguous_choice")

#: The user turn of the chat prompt. `{context}` renders as the context plus a blank line (or
#: nothing when the context is empty); `{choices}` as one line per choice in `choice_format`
#: (`{choice}` = its text, `{letter}` = A, B, ...; MMLU options refer to letters: "Both A and B").
DEFAULT_PROMPT_TEMPLATE = "{context}{question}\n\nOptions:\n{choices}\n\nAnswer with one of the options."
DEFAULT_CHOICE_FORMAT = "- {choice}"


@dataclass(frozen=True)
class MultipleChoiceExample:
    id: str
    question: str
    context: str
    choices: tuple[str, ...]
    label: int
    meta: Mapping[str, Any] = field(default_factory=dict)
    valid_choices: tuple[int, ...] | None = None

    @property
    def num_choices(self) -> int:
        return len(self.choices)


def _clean_text(value: Any, where: str, field_name: str) -> str:
    if not isinstance(value, str):
        raise DataError(f"{where}: field '{field_name}' must be a string, got {type(value).__name__}")
    return "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in value[:MAX_CHARS])


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def choice_permutation(example_id: str, num_choices: int, seed: int = 0) -> list[int]:
    """Source indices in shown order, a function of (seed, id) only."""
    order = list(range(num_choices))
    rng = random.Random(int(_unit_hash(f"choices:{seed}:{example_id}") * 2**62))
    rng.shuffle(order)
    return order


def shuffle_choices(example: MultipleChoiceExample, seed: int = 0) -> MultipleChoiceExample:
    """The example with its choices permuted deterministically by (seed, id); indices remapped."""
    order = choice_permutation(example.id, example.num_choices, seed)
    new_index = {src: pos for pos, src in enumerate(order)}
    meta = dict(example.meta)
    for key in INDEX_META_KEYS:
        if _is_index(meta.get(key)) and 0 <= meta[key] < example.num_choices:
            meta[key] = new_index[meta[key]]
    meta["choice_order"] = order
    valid = tuple(sorted(new_index[v] for v in example.valid_choices)) if example.valid_choices else None
    return MultipleChoiceExample(
        id=example.id,
        question=example.question,
        context=example.context,
        choices=tuple(example.choices[src] for src in order),
        label=new_index[example.label],
        meta=meta,
        valid_choices=valid,
    )


def parse_example(obj: Mapping[str, Any], where: str) -> MultipleChoiceExample:
    """One qa_mc row -> example; every problem is a DataError naming `where` (file:line)."""
    for key in ("id", "question", "choices", "label"):
        if key not in obj:
            raise DataError(f"{where}: missing field '{key}'")
    choices = obj["choices"]
    if not isinstance(choices, list) or len(choices) < 2:
        raise DataError(f"{where}: field 'choices' must be a list of at least 2 strings")
    clean_choices = []
    for i, choice in enumerate(choices):
        text = _clean_text(choice, where, f"choices[{i}]").strip()
        if not text:
            raise DataError(f"{where}: choices[{i}] is empty")
        clean_choices.append(text)
    label = obj["label"]
    if not _is_index(label) or not 0 <= label < len(choices):
        raise DataError(f"{where}: label {label!r} is not an index into the {len(choices)} choices")
    valid = obj.get("valid_choices")
    if valid is not None:
        if not isinstance(valid, list) or not all(_is_index(v) and 0 <= v < len(choices) for v in valid):
            raise DataError(
                f"{where}: valid_choices {valid!r} must be indices into the {len(choices)} choices"
            )
        valid = tuple(sorted(set(valid)))
    meta = obj.get("meta") or {}
    if not isinstance(meta, Mapping):
        raise DataError(f"{where}: field 'meta' must be an object")
    context = obj.get("context") or ""
    return MultipleChoiceExample(
        id=str(obj["id"]),
        question=_clean_text(obj["question"], where, "question"),
        context=_clean_text(context, where, "context"),
        choices=tuple(clean_choices),
        label=int(label),
        meta=dict(meta),
        valid_choices=valid,
    )


def load_multiple_choice_file(
    path: str | os.PathLike,
    meta_filter: Mapping[str, Any] | None = None,
    shuffle: bool = False,
    shuffle_seed: int = 0,
) -> list[MultipleChoiceExample]:
    """Read one qa_mc JSONL file; rows whose meta does not match `meta_filter` (key -> value or list
    of values) are skipped; `shuffle` permutes each example's choices by (shuffle_seed, id)."""
    examples = []
    seen: dict[str, str] = {}
    for lineno, obj in iter_jsonl(path):
        where = f"{path}:{lineno}"
        ex = parse_example(obj, where)
        if ex.id in seen:
            raise DataError(f"{where}: duplicate id '{ex.id}' (first at {seen[ex.id]})")
        seen[ex.id] = where
        if meta_filter and not _meta_matches(ex.meta, meta_filter):
            continue
        examples.append(shuffle_choices(ex, shuffle_seed) if shuffle else ex)
    if not examples:
        raise DataError(f"{path}: no examples (after meta_filter={dict(meta_filter or {})})")
    return examples


def ambiguity_info(example: MultipleChoiceExample) -> tuple[bool, int | None]:
    """(is the input ambiguous, index of its unknown/ambiguous option or None)."""
    meta = example.meta
    if "context_condition" in meta:  # BBQ
        unknown = meta.get("unknown_choice")
        return meta["context_condition"] == "ambig", unknown if _is_index(unknown) else None
    if "label_is_ambiguous" in meta:  # disambiguation_qa
        unknown = meta.get("ambiguous_choice")
        return bool(meta["label_is_ambiguous"]), unknown if _is_index(unknown) else None
    return False, None


def format_choices(choices: Sequence[str], choice_format: str = DEFAULT_CHOICE_FORMAT) -> str:
    return "\n".join(
        choice_format.format(choice=c, letter=chr(ord("A") + i) if i < 26 else str(i + 1))
        for i, c in enumerate(choices)
    )


def format_prompt(
    example: MultipleChoiceExample,
    question: str | None = None,
    template: str = DEFAULT_PROMPT_TEMPLATE,
    choice_format: str = DEFAULT_CHOICE_FORMAT,
) -> str:
    """The user turn for `example`, with `question` (e.g. a perturbed one) in place of its own;
    the context is kept as is (DESIGN section 1: for QA the question is perturbed)."""
    context = example.context.strip()
    return template.format(
        context=f"{context}\n\n" if context else "",
        question=(example.question if question is None else question).strip(),
        choices=format_choices(example.choices, choice_format),
    ).strip()


def collate_mc(batch: Sequence[MultipleChoiceExample]) -> dict[str, Any]:
    return {
        "ids": [ex.id for ex in batch],
        "questions": [ex.question for ex in batch],
        "contexts": [ex.context for ex in batch],
        "choices": [list(ex.choices) for ex in batch],
        "labels": torch.tensor([ex.label for ex in batch], dtype=torch.long),
        "valid_choices": [ex.valid_choices for ex in batch],
    }


class MultipleChoiceDataModule(SplitDataModule):
    """Multiple-choice QA from a qa_mc JSONL file (or separate train/val/test files).

    With only `train_file`, the splits are a deterministic function of each id (`split`
    fractions, `split_seed`); `max_*_samples` keep the same examples for a given `split_seed`.
    `prompt_template` and `choice_format` make the user turn shown to a chat LLM (`format_prompt`).
    `num_choices` keeps only the examples with exactly that many choices (an encoder with a
    multiple-choice head needs one K for all inputs; null keeps every example).
    """

    def __init__(
        self,
        train_file: str,
        val_file: str | None = None,
        test_file: str | None = None,
        data_dir: str | None = None,
        meta_filter: Mapping[str, Any] | None = None,
        shuffle_choices: bool = False,
        choice_seed: int = 0,
        num_choices: int | None = None,
        split: Mapping[str, float] | None = None,
        split_seed: int = 0,
        max_train_samples: int | None = None,
        max_val_samples: int | None = None,
        max_test_samples: int | None = None,
        prompt_template: str = DEFAULT_PROMPT_TEMPLATE,
        choice_format: str = DEFAULT_CHOICE_FORMAT,
        batch_size: int = 16,
        eval_batch_size: int = 64,
        num_workers: int = 0,
        shuffle_seed: int = 0,
        name: str | None = None,
    ) -> None:
        super().__init__()
        meta_filter, split = _plain(meta_filter), _plain(split)
        self.save_hyperparameters(logger=False)
        self.name = name or os.path.splitext(os.path.basename(train_file))[0]
        self.prompt_template = prompt_template
        self.choice_format = choice_format
        self.splits: dict[str, list[MultipleChoiceExample]] = {}
        self.collate_fn = collate_mc
        for key in ("{question}", "{choices}"):
            if key not in prompt_template:
                raise ValueError(f"data.prompt_template must contain {key}")
        if "{choice}" not in choice_format:
            raise ValueError("data.choice_format must contain {choice}")
        if num_choices is not None and num_choices < 2:
            raise ValueError(f"data.num_choices must be >= 2 or null, got {num_choices}")

    @property
    def num_labels(self) -> int:
        """The largest number of choices in any split (the padded answer-set size Kmax)."""
        self.setup()
        return max((ex.num_choices for split in self.splits.values() for ex in split), default=0)

    def load_files(self, files: Mapping[str, str]) -> dict[str, list[MultipleChoiceExample]]:
        hp = self.hparams
        loaded = {}
        for name, file in files.items():
            path = resolve_data_file(file, hp.data_dir)
            examples = load_multiple_choice_file(path, hp.meta_filter, hp.shuffle_choices, hp.choice_seed)
            k = hp.num_choices
            if k is not None:
                kept = [ex for ex in examples if ex.num_choices == k]
                if not kept:
                    raise DataError(f"{path}: no example has data.num_choices={k} choices")
                if len(kept) < len(examples):
                    log.info(
                        "%s: kept the %d of %d examples with %d choices", path, len(kept), len(examples), k
                    )
                examples = kept
            loaded[name] = examples
        return loaded

    def prompt(self, example: MultipleChoiceExample, question: str | None = None) -> str:
        return format_prompt(example, question, self.prompt_template, self.choice_format)
