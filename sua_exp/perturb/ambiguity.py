"""Ambiguity builders: inputs whose correct answer is a *set* (DESIGN section 3).

* :func:`mix_pairs` joins two single-text inputs of different labels into one text whose valid
  label set is both labels (``label`` = the first one's, so accuracy-style metrics still work).
* :func:`strip_disambiguating` removes a marked sentence from a context;
  :func:`bbq_disambiguating_sentences` / :func:`strip_bbq_disambiguation` find BBQ's marked
  sentences (a disambiguated BBQ context is its ambiguous context plus the disambiguating text)
  and strip them, which turns the answer into the "unknown" choice.
* Readers of the ambiguous sets that exist in the data: multiemo ``ambivalent`` rows
  (:func:`ambivalent_examples`), BBQ ambiguous contexts (:func:`read_bbq_ambiguous`) and
  disambiguation_qa rows whose answer is "Ambiguous" (:func:`read_disambiguation_qa_ambiguous`).
  The QA readers return the JSONL rows as plain dicts (the QA data side is built later).

Everything is deterministic: :func:`mix_pairs` depends only on the seed and the set of input
examples (they are ordered by id first), not on their order.
"""

from __future__ import annotations

import os
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sua_exp.data.classification import ClassificationExample
from sua_exp.data.sources import DataError, default_data_dir, iter_jsonl
from sua_exp.perturb.base import stable_key

__all__ = [
    "ambivalent_examples",
    "bbq_disambiguating_sentences",
    "mix_pairs",
    "read_bbq_ambiguous",
    "read_disambiguation_qa_ambiguous",
    "strip_bbq_disambiguation",
    "strip_disambiguating",
]

BBQ_FILE = "qa_mc/bbq.jsonl"
DISAMBIGUATION_QA_FILE = "qa_mc/disambiguation_qa.jsonl"


# ----------------------------------------------------------------------------- mixing
def mix_pairs(
    examples: Sequence[ClassificationExample],
    num_pairs: int,
    seed: int = 0,
    joiner: str = " ",
) -> list[ClassificationExample]:
    """``num_pairs`` examples, each the join of two inputs with different labels.

    The first input is drawn uniformly, the second uniformly among the inputs of another label;
    no ordered pair is drawn twice. The result has ``text = a.text + joiner + b.text``,
    ``label = a.label``, ``valid_labels = (a.label, b.label)``, ``id = "mix-<a.id>+<b.id>"`` and
    ``meta = {"builder": "mix_pairs", "sources": [a.id, b.id], "source_labels": [...],
    "source_meta": [a.meta, b.meta], "seed": seed}``. Inputs with a ``text_pair`` are refused
    (joining two premise/hypothesis pairs has no single meaning). Raises ``ValueError`` when there
    are fewer than two labels or fewer distinct pairs than ``num_pairs``.
    """
    num_pairs = int(num_pairs)
    if num_pairs < 0:
        raise ValueError(f"num_pairs must be >= 0, got {num_pairs}")
    if any(ex.text_pair is not None for ex in examples):
        raise ValueError("mix_pairs joins single-text inputs; these examples have a text_pair")
    pool = sorted(examples, key=lambda ex: ex.id)
    by_label: dict[int, list[ClassificationExample]] = defaultdict(list)
    for ex in pool:
        by_label[int(ex.label)].append(ex)
    if num_pairs == 0:
        return []
    if len(by_label) < 2:
        raise ValueError(f"mix_pairs needs examples of at least two labels, got {sorted(by_label)}")
    n = len(pool)
    possible = sum(n - len(by_label[int(ex.label)]) for ex in pool)
    if num_pairs > possible:
        raise ValueError(f"only {possible} ordered pairs with different labels exist, asked for {num_pairs}")
    rng = random.Random(stable_key(seed, "mix_pairs", 0, ""))
    labels = sorted(by_label)
    if num_pairs * 2 > possible:  # dense: enumerate every pair and sample without replacement
        all_pairs = [(a, b) for a in pool for b in pool if a.label != b.label]
        chosen = rng.sample(all_pairs, num_pairs)
    else:  # sparse: rejection sampling, expected < 2 draws per pair
        seen: set[tuple[str, str]] = set()
        chosen = []
        while len(chosen) < num_pairs:
            a = pool[rng.randrange(n)]
            k = rng.randrange(n - len(by_label[int(a.label)]))
            for lab in labels:
                if lab == a.label:
                    continue
                if k < len(by_label[lab]):
                    b = by_label[lab][k]
                    break
                k -= len(by_label[lab])
            key = (a.id, b.id)
            if key in seen:
                continue
            seen.add(key)
            chosen.append((a, b))
    return [
        ClassificationExample(
            id=f"mix-{a.id}+{b.id}",
            text=f"{a.text}{joiner}{b.text}",
            label=int(a.label),
            valid_labels=(int(a.label), int(b.label)),
            meta={
                "builder": "mix_pairs",
                "sources": [a.id, b.id],
                "source_labels": [int(a.label), int(b.label)],
                "source_meta": [dict(a.meta), dict(b.meta)],
                "seed": int(seed),
            },
        )
        for a, b in chosen
    ]


# ----------------------------------------------------------------------------- stripping
def strip_disambiguating(text: str, sentence: str) -> str:
    """``text`` without the marked ``sentence`` (its last occurrence).

    The whitespace on both sides of the removed sentence collapses into one separator (the one
    that preceded it, else the one that followed it); leading/trailing whitespace left by the
    removal is dropped. The match is exact, else on the whitespace-stripped sentence. Raises
    ``ValueError`` when the sentence is empty or not in the text.
    """
    target = sentence if sentence in text else sentence.strip()
    if not target.strip():
        raise ValueError("the sentence to strip is empty")
    i = text.rfind(target)
    if i < 0:
        raise ValueError(f"sentence not found in text: {sentence[:80]!r}")
    left, right = text[:i], text[i + len(target) :]
    left_core, right_core = left.rstrip(), right.lstrip()
    if not left_core:
        return right_core
    if not right_core:
        return left_core
    sep = left[len(left_core) :] or right[: len(right) - len(right_core)] or " "
    return left_core + sep + right_core


def bbq_disambiguating_sentences(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """For each disambiguated BBQ row: the marked text that disambiguates it.

    A disambiguated BBQ context is an ambiguous context of the same template (category and
    question index) followed by the disambiguating sentence(s); the longest ambiguous context
    that prefixes it gives the split. Returns ``{row id: {"sentence", "ambiguous_context",
    "ambiguous_id"}}`` (rows without a matching ambiguous context are left out).
    """
    rows = list(rows)
    ambig: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for r in rows:
        m = r.get("meta") or {}
        if m.get("context_condition") == "ambig":
            ambig[(str(m.get("category")), str(m.get("question_index")))].setdefault(r["context"], r["id"])
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        m = r.get("meta") or {}
        if m.get("context_condition") != "disambig":
            continue
        ctx = r["context"]
        group = ambig.get((str(m.get("category")), str(m.get("question_index"))), {})
        best = max((a for a in group if len(a) < len(ctx) and ctx.startswith(a)), key=len, default=None)
        if best is None or not ctx[len(best) :].strip():
            continue
        out[r["id"]] = {
            "sentence": ctx[len(best) :].strip(),
            "ambiguous_context": best,
            "ambiguous_id": group[best],
        }
    return out


def strip_bbq_disambiguation(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Disambiguated BBQ rows with the disambiguating sentence stripped (plain dicts).

    Each returned row is a copy with ``context`` stripped, ``label`` = the ``unknown_choice``
    (the answer of an ambiguous BBQ context), ``id`` suffixed ``-stripped`` and ``meta`` extended
    with ``context_condition="ambig_stripped"``, ``source_id``, ``source_label`` and
    ``stripped_sentence``.
    """
    rows = list(rows)
    marks = bbq_disambiguating_sentences(rows)
    out = []
    for r in rows:
        mark = marks.get(r["id"])
        if mark is None:
            continue
        meta = dict(r.get("meta") or {})
        new = dict(r)
        new["id"] = f"{r['id']}-stripped"
        new["context"] = strip_disambiguating(r["context"], mark["sentence"])
        new["label"] = int(meta["unknown_choice"])
        meta.update(
            context_condition="ambig_stripped",
            source_id=r["id"],
            source_label=r["label"],
            stripped_sentence=mark["sentence"],
        )
        new["meta"] = meta
        out.append(new)
    return out


# ----------------------------------------------------------------------------- readers
def ambivalent_examples(
    examples: Sequence[ClassificationExample], labels: Sequence[str], name: str = "ambivalent"
) -> list[ClassificationExample]:
    """The examples whose label name is ``name`` (multiemo's ``ambivalent``), unchanged.

    ``labels`` is the label list returned with the examples (index -> name). No ``valid_labels``
    are added: the data README explains that multiemo scores ``ambivalent`` as its own class.
    """
    try:
        idx = list(labels).index(name)
    except ValueError:
        raise ValueError(f"label {name!r} is not in the label set {list(labels)}") from None
    return [ex for ex in examples if int(ex.label) == idx]


def _qa_file(data_dir: str | os.PathLike | None, rel: str) -> Path:
    base = Path(data_dir) if data_dir is not None else default_data_dir()
    path = base / rel
    if not path.is_file():
        raise DataError(f"data file {path} does not exist: set SUA_DATA_DIR or pass data_dir")
    return path


def read_bbq_ambiguous(data_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Rows of ``qa_mc/bbq.jsonl`` with ``meta.context_condition == "ambig"`` (answer: unknown)."""
    path = _qa_file(data_dir, BBQ_FILE)
    return [o for _, o in iter_jsonl(path) if (o.get("meta") or {}).get("context_condition") == "ambig"]


def read_disambiguation_qa_ambiguous(data_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Rows of ``qa_mc/disambiguation_qa.jsonl`` with ``meta.label_is_ambiguous`` true."""
    path = _qa_file(data_dir, DISAMBIGUATION_QA_FILE)
    return [o for _, o in iter_jsonl(path) if (o.get("meta") or {}).get("label_is_ambiguous") is True]


class AmbiguousSet:
    """Builds the ambiguous evaluation inputs of a run from its datamodule's test split:
    `mixtures` joins of two inputs with different labels (valid set = both labels), plus the test
    examples that already carry `valid_labels`. Configured in `conf/ambiguity/`."""

    def __init__(self, mixtures: int = 300, seed: int = 0, joiner: str = " ") -> None:
        if mixtures < 0:
            raise ValueError(f"ambiguity.mixtures must be >= 0, got {mixtures}")
        self.mixtures, self.seed, self.joiner = int(mixtures), int(seed), joiner

    def __call__(self, datamodule) -> list[ClassificationExample]:
        test = datamodule.splits["test"]
        given = [ex for ex in test if ex.valid_labels and len(ex.valid_labels) >= 2]
        mixable = all(ex.text_pair is None for ex in test)  # claim/evidence pairs cannot be joined
        n = min(self.mixtures, len(test) // 2) if mixable else 0
        return given + (mix_pairs(test, n, seed=self.seed, joiner=self.joiner) if n else [])
