"""Adversarial search: a greedy word-substitution attack (TextFooler-style) on WordNet synonyms.

:class:`GreedyWordSubstitution` attacks any classifier given as ``predict_proba(texts) -> [N, K]``
probabilities (a :class:`~sua_exp.models.TextClassifier`'s ``predict_proba``, a bag-of-words model,
an API ...):

1. Query the original text. If it is already misclassified (``argmax != label``) the input is
   *skipped*: not attacked, as in TextAttack.
2. Candidates: the words :class:`~sua_exp.perturb.word.SynonymSwap` would edit (not stop words,
   not protected, at least ``min_word_len`` letters, ASCII) and their WordNet synonyms with the
   POS heuristic and inflection of :mod:`sua_exp.perturb.wordnet`, restricted to synonyms that
   are one :data:`~sua_exp.perturb.base.WORD_RE` word (no hyphen), the first ``max_candidates``
   in WordNet order.
3. Saliency by deletion: the importance of a candidate word is the drop in the true-label
   probability when the word is deleted (one batched call, one query per deleted variant).
4. Greedy substitution in decreasing importance (ties: earlier word first): all synonyms of the
   word are scored in one batched call; a synonym that flips the prediction wins at once (the
   one with the lowest true-label probability), otherwise the synonym with the lowest true-label
   probability is kept if it lowers it. The search stops on success (``argmax != label``).

Budgets, never exceeded: ``max_queries`` texts evaluated per input (every text in a batched call
counts as one query, the first call on the original text included; a batch is cut to what is
left) and ``max_modification_rate``: at most ``floor(rate * n_words)`` words changed, ``n_words``
counting every :data:`~sua_exp.perturb.base.WORD_RE` word of the original text. When the
saliency pass would not fit, it scores as many words as half the remaining budget allows (in
text order) and the rest follow them in text order.

Everything is deterministic: no randomness, ties broken by word position, then by the order of
the synonyms in WordNet. :func:`attack_summary` gives the statistics as TextAttack reports them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from sua_exp.perturb.base import WORD_RE, match_case
from sua_exp.perturb.word import SynonymSwap, _merge_gaps

__all__ = ["AttackResult", "GreedyWordSubstitution", "attack_summary"]

PredictProba = Callable[[list[str]], Any]


@dataclass(frozen=True)
class AttackResult:
    """The outcome of attacking one input.

    ``success``: the attacked text is misclassified (never true for skipped inputs);
    ``skipped``: the original text was already misclassified, so it was not attacked;
    ``queries``: texts evaluated by the model for this input (<= ``max_queries``);
    ``modified_words`` / ``modification_rate``: words substituted, over the original's word count.
    ``original_proba`` / ``attacked_proba``: true-label probability before and after;
    ``attacked_label``: the prediction on ``attacked``.
    """

    original: str
    attacked: str
    label: int
    success: bool
    skipped: bool
    queries: int
    modified_words: int
    modification_rate: float
    num_words: int = 0
    original_proba: float = float("nan")
    attacked_proba: float = float("nan")
    attacked_label: int = -1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _BudgetExhausted(Exception):
    pass


class _Oracle:
    """Counts queries (one per text) and enforces the budget; returns [N, K] float probabilities."""

    def __init__(self, predict_proba: PredictProba, max_queries: int, label: int) -> None:
        self.predict_proba = predict_proba
        self.max_queries = max_queries
        self.label = label
        self.queries = 0

    @property
    def left(self) -> int:
        return self.max_queries - self.queries

    def __call__(self, texts: list[str]) -> torch.Tensor:
        if not texts:
            return torch.empty(0, 0)
        if len(texts) > self.left:
            raise _BudgetExhausted
        out = self.predict_proba(list(texts))
        probs = torch.as_tensor(out).detach().to("cpu", torch.float64)
        if probs.ndim != 2 or probs.shape[0] != len(texts):
            raise ValueError(
                f"predict_proba must return [N, K] probabilities for N={len(texts)} texts, got shape "
                f"{tuple(probs.shape)}"
            )
        if not 0 <= self.label < probs.shape[1]:
            raise ValueError(f"label {self.label} is outside the model's {probs.shape[1]} classes")
        self.queries += len(texts)
        return probs


def _delete_word(gaps: list[str], words: list[str], i: int) -> str:
    """The text without word ``i``; its surrounding gaps merge as in WordDeletion."""
    merged = _merge_gaps([gaps[i], gaps[i + 1]], at_start=i == 0, at_end=i == len(words) - 1)
    return _join(gaps[:i] + [merged] + gaps[i + 2 :], words[:i] + words[i + 1 :])


def _join(gaps: list[str], words: list[str]) -> str:
    out = [gaps[0]]
    for w, g in zip(words, gaps[1:], strict=True):
        out.append(w)
        out.append(g)
    return "".join(out)


class GreedyWordSubstitution:
    """Greedy WordNet-synonym substitution attack with a deletion-saliency order (see module doc).

    ``max_modification_rate``: fraction of the words that may change (default 0.2);
    ``max_queries``: model evaluations per input, the original included (default 200);
    ``max_candidates``: synonyms tried per word (default 50, TextFooler's N);
    ``protected_words``, ``max_senses``, ``min_word_len``, ``use_context_pos``, ``common_only``,
    ``cache_dir``: passed to the :class:`~sua_exp.perturb.word.SynonymSwap` that proposes the
    candidates. ``synonyms``: an existing :class:`SynonymSwap` to use instead of building one.
    """

    name = "greedy_wordnet"

    def __init__(
        self,
        wordnet_dir: str | None = None,
        max_modification_rate: float = 0.2,
        max_queries: int = 200,
        max_candidates: int = 50,
        protected_words: Sequence[str] = (),
        max_senses: int | None = 3,
        min_word_len: int = 3,
        use_context_pos: bool = True,
        common_only: bool = True,
        cache_dir: str | None = None,
        synonyms: SynonymSwap | None = None,
    ) -> None:
        if not 0.0 <= float(max_modification_rate) <= 1.0:
            raise ValueError(f"max_modification_rate must lie in [0, 1], got {max_modification_rate}")
        if int(max_queries) < 1:
            raise ValueError(f"max_queries must be >= 1, got {max_queries}")
        if int(max_candidates) < 1:
            raise ValueError(f"max_candidates must be >= 1, got {max_candidates}")
        if synonyms is None:
            if wordnet_dir is None:
                raise ValueError("give wordnet_dir (or a SynonymSwap as synonyms)")
            synonyms = SynonymSwap(
                wordnet_dir=str(wordnet_dir),
                rate=0.0,
                protected_words=list(protected_words),
                max_senses=max_senses,
                min_word_len=min_word_len,
                use_context_pos=use_context_pos,
                multiword=False,
                common_only=common_only,
                cache_dir=cache_dir,
            )
        elif protected_words:
            synonyms = synonyms.with_protected(protected_words)  # type: ignore[assignment]
        self.synonyms: SynonymSwap = synonyms
        self.max_modification_rate = float(max_modification_rate)
        self.max_queries = int(max_queries)
        self.max_candidates = int(max_candidates)

    # ------------------------------------------------------------------ public API
    def max_modified(self, num_words: int) -> int:
        """Words that may change in a text of ``num_words`` words: floor(rate * n) (float-safe)."""
        return int(math.floor(self.max_modification_rate * num_words + 1e-9))

    def attack(
        self, texts: Sequence[str], labels: Sequence[int], predict_proba: PredictProba
    ) -> list[AttackResult]:
        """Attack each ``(text, label)``; ``predict_proba(list[str]) -> [N, K]`` probabilities."""
        if isinstance(texts, str):
            raise TypeError("pass a sequence of strings")
        labels = [int(y) for y in (labels.tolist() if hasattr(labels, "tolist") else labels)]
        if len(labels) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        return [self.attack_one(t, y, predict_proba) for t, y in zip(texts, labels, strict=True)]

    __call__ = attack

    def attack_one(self, text: str, label: int, predict_proba: PredictProba) -> AttackResult:
        label = int(label)
        oracle = _Oracle(predict_proba, self.max_queries, label)
        spans = [m.span() for m in WORD_RE.finditer(text)]
        words = [text[s:e] for s, e in spans]
        bounds = [0] + [x for s, e in spans for x in (s, e)] + [len(text)]
        gaps = [text[bounds[2 * i] : bounds[2 * i + 1]] for i in range(len(spans) + 1)]
        n_words = len(words)

        p0 = oracle([text])[0]
        orig_p = float(p0[label])
        if int(p0.argmax()) != label:
            return AttackResult(
                original=text,
                attacked=text,
                label=label,
                success=False,
                skipped=True,
                queries=oracle.queries,
                modified_words=0,
                modification_rate=0.0,
                num_words=n_words,
                original_proba=orig_p,
                attacked_proba=orig_p,
                attacked_label=int(p0.argmax()),
            )

        current = list(words)
        cur_p, cur_pred = orig_p, int(p0.argmax())
        modified: set[int] = set()
        budget_words = self.max_modified(n_words)
        try:
            if budget_words > 0:
                cands = self._candidates(text, spans)
                order = self._saliency_order(gaps, words, sorted(cands), oracle, orig_p)
                for i in order:
                    if len(modified) >= budget_words or oracle.left <= 0:
                        break
                    syns = cands[i][: oracle.left]
                    variants = []
                    for syn in syns:
                        trial = list(current)
                        trial[i] = match_case(words[i], syn)
                        variants.append(_join(gaps, trial))
                    probs = oracle(variants)
                    true_p = probs[:, label]
                    flipped = (probs.argmax(dim=1) != label).nonzero().flatten().tolist()
                    pool = flipped if flipped else range(len(syns))
                    best = min(pool, key=lambda j: (float(true_p[j]), j))
                    if flipped or float(true_p[best]) < cur_p:
                        current[i] = match_case(words[i], syns[best])
                        modified.add(i)
                        cur_p, cur_pred = float(true_p[best]), int(probs[best].argmax())
                    if cur_pred != label:
                        break
        except _BudgetExhausted:
            pass
        attacked = _join(gaps, current)
        n_mod = sum(1 for a, b in zip(current, words, strict=True) if a != b)
        return AttackResult(
            original=text,
            attacked=attacked,
            label=label,
            success=cur_pred != label,
            skipped=False,
            queries=oracle.queries,
            modified_words=n_mod,
            modification_rate=n_mod / n_words if n_words else 0.0,
            num_words=n_words,
            original_proba=orig_p,
            attacked_proba=cur_p,
            attacked_label=cur_pred,
        )

    # ------------------------------------------------------------------ steps
    def _candidates(self, text: str, spans: list[tuple[int, int]]) -> dict[int, list[str]]:
        """word index -> synonyms (at most ``max_candidates``), from SynonymSwap.candidates."""
        index = {s: i for i, (s, _) in enumerate(spans)}
        out: dict[int, list[str]] = {}
        for s, _e, syns in self.synonyms.candidates(text):
            i = index.get(s)
            # one-word synonyms only (no "good-looking"): the word count, and so the
            # modification rate, stays well defined
            keep = [w for w in syns if WORD_RE.fullmatch(w)][: self.max_candidates]
            if i is not None and keep:
                out[i] = keep
        return out

    def _saliency_order(
        self, gaps: list[str], words: list[str], idx: list[int], oracle: _Oracle, orig_p: float
    ) -> list[int]:
        """Candidate word indices by decreasing deletion importance (ties: text order)."""
        if not idx:
            return []
        n_score = len(idx) if len(idx) < oracle.left else max(0, oracle.left // 2)
        scored, rest = idx[:n_score], idx[n_score:]
        if not scored:
            return rest
        probs = oracle([_delete_word(gaps, words, i) for i in scored])
        drop = {i: orig_p - float(probs[k, oracle.label]) for k, i in enumerate(scored)}
        return sorted(scored, key=lambda i: (-drop[i], i)) + rest


def attack_summary(results: Sequence[AttackResult]) -> dict[str, float]:
    """TextAttack's attack statistics.

    ``attack_success_rate`` = successful / (successful + failed) (skipped inputs excluded);
    ``original_accuracy`` = not skipped / all; ``accuracy_under_attack`` = failed / all;
    ``avg_perturbed_word_pct`` = mean modification rate (in %) of the successful attacks;
    ``avg_num_queries`` = mean queries over the attacked (not skipped) inputs.
    """
    n = len(results)
    succ = [r for r in results if r.success]
    failed = [r for r in results if not r.success and not r.skipped]
    skipped = n - len(succ) - len(failed)
    attacked = succ + failed
    nan = float("nan")
    return {
        "num_successful": float(len(succ)),
        "num_failed": float(len(failed)),
        "num_skipped": float(skipped),
        "original_accuracy": (n - skipped) / n if n else nan,
        "accuracy_under_attack": len(failed) / n if n else nan,
        "attack_success_rate": len(succ) / len(attacked) if attacked else nan,
        "avg_perturbed_word_pct": 100 * sum(r.modification_rate for r in succ) / len(succ) if succ else nan,
        "avg_num_words": sum(r.num_words for r in results) / n if n else nan,
        "avg_num_queries": sum(r.queries for r in attacked) / len(attacked) if attacked else nan,
    }
