"""SQuAD v1.1 answer normalization, exact match and token F1 (DESIGN section 2, "Task quality").

Follows the official SQuAD v1.1 evaluation script: lowercase, drop punctuation, drop the
articles a/an/the, collapse whitespace; EM and F1 of a prediction are the maximum over all gold
answers.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

__all__ = ["exact_match", "f1", "normalize_answer", "squad_scores"]

_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", flags=re.UNICODE)


def normalize_answer(text: str) -> str:
    """Lowercase, remove punctuation, articles (a/an/the) and extra whitespace (as SQuAD v1.1)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _as_golds(golds: str | Sequence[str]) -> list[str]:
    gold_list = [golds] if isinstance(golds, str) else list(golds)
    if not gold_list:
        raise ValueError("at least one gold answer is needed")
    return gold_list


def _exact(pred: str, gold: str) -> float:
    return float(normalize_answer(pred) == normalize_answer(gold))


def _token_f1(pred: str, gold: str) -> float:
    pred_tokens = normalize_answer(pred).split()
    gold_tokens = normalize_answer(gold).split()
    common = Counter(pred_tokens) & Counter(gold_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred_tokens)
    recall = overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def exact_match(pred: str, golds: str | Sequence[str]) -> float:
    """1.0 if the normalized prediction equals any normalized gold answer, else 0.0."""
    return max(_exact(pred, g) for g in _as_golds(golds))


def f1(pred: str, golds: str | Sequence[str]) -> float:
    """Token-level F1 of the normalized texts, maximised over the gold answers."""
    return max(_token_f1(pred, g) for g in _as_golds(golds))


def squad_scores(preds: Sequence[str], golds: Sequence[Sequence[str]]) -> dict[str, float]:
    """Mean EM and F1 (as fractions in [0, 1]) over a set of predictions."""
    if len(preds) != len(golds):
        raise ValueError(f"{len(preds)} predictions but {len(golds)} gold answer lists")
    if not preds:
        raise ValueError("no predictions to score")
    n = len(preds)
    return {
        "em": sum(exact_match(p, g) for p, g in zip(preds, golds, strict=True)) / n,
        "f1": sum(f1(p, g) for p, g in zip(preds, golds, strict=True)) / n,
    }
