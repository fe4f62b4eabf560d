"""Base class and shared helpers of the text perturbation library.

Every perturbation is a pure function of ``(seed, name, view, text)``: the random generator used
for one text is ``random.Random(stable_key(seed, name, view, text))`` where :func:`stable_key`
hashes its arguments with BLAKE2b (never Python's salted ``hash()``). The output for a text does
therefore not depend on the batch it is in, its position in the batch, the process, the number of
DataLoader workers or ``PYTHONHASHSEED``. (Python guarantees the stream of ``Random.random()`` for a
given seed; the helpers built on it, ``choice``/``sample``/``shuffle``, have been stable since 3.2
but are not formally guaranteed across Python minor versions.)

Words. A *word* is a maximal run of letters (any script; strictly, word characters other than
decimal digits and ``_``, which also admits numeric symbols such as ``²``) with optional inner
apostrophes (``don't``, ``O'Neill``): :data:`WORD_RE`. Digits, punctuation, whitespace, emoji and
control characters are never edited and keep their place; a text without words comes back
unchanged (:class:`~sua_exp.perturb.sentence.Distractor` also accepts a text of digits).

Rate. ``rate`` is the fraction of the *eligible* positions of a text that are edited (each class
documents what is eligible: characters, words, insertion slots ...). The number of edits is
:func:`num_edits`: ``round(rate * n_eligible)`` (half up), at least 1 when ``rate > 0`` and the
text has an eligible position, at most ``n_eligible``. ``rate == 0`` is the identity.

Protected words (case-insensitive, matched per word as defined above; an entry with several words,
e.g. ``"New York"``, protects each of its words) are never edited, deleted, moved or repeated.
"""

from __future__ import annotations

import copy
import hashlib
import math
import random
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence

__all__ = [
    "WORD_RE",
    "Perturbation",
    "match_case",
    "normalize_word",
    "num_edits",
    "stable_key",
]

#: A word: letters of any script with optional inner apostrophes (straight or typographic).
WORD_RE = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")


def stable_key(seed: int, name: str, view: int, text: str) -> int:
    """64-bit seed for the generator of one text: BLAKE2b of (seed, name, view, text).

    Deterministic across processes and platforms (no ``PYTHONHASHSEED`` dependence). Lone
    surrogates in ``text`` are encoded with ``surrogatepass`` so that any ``str`` is accepted.
    """
    h = hashlib.blake2b(digest_size=8, person=b"sua-perturb")
    h.update(f"{int(seed)}\x1f{name}\x1f{int(view)}\x1f".encode())
    h.update(text.encode("utf-8", "surrogatepass"))
    return int.from_bytes(h.digest(), "big")


def num_edits(rate: float, n_eligible: int) -> int:
    """Number of edits for ``n_eligible`` eligible positions: round half up, >= 1, <= n_eligible."""
    if n_eligible <= 0 or rate <= 0:
        return 0
    return min(n_eligible, max(1, math.floor(rate * n_eligible + 0.5)))


def normalize_word(word: str) -> str:
    """Case- and apostrophe-insensitive form used for protected words and lexicon look-ups."""
    return word.lower().replace("\u2019", "'")


def match_case(template: str, word: str) -> str:
    """Give ``word`` the case pattern of ``template`` (UPPER, Title or unchanged)."""
    if len(template) > 1 and template.isupper():
        return word.upper()
    if template[:1].isupper() and (len(template) == 1 or template[1:].islower()):
        return word[:1].upper() + word[1:]
    return word


def _check_rate(rate: float) -> float:
    rate = float(rate)
    if not (0.0 <= rate <= 1.0) or math.isnan(rate):
        raise ValueError(f"rate must lie in [0, 1], got {rate}")
    return rate


def _normalize_protected(words: Iterable[str] | None) -> frozenset[str]:
    if words is None:
        return frozenset()
    if isinstance(words, str):
        words = [words]
    out: set[str] = set()
    for entry in words:
        out.update(normalize_word(m.group()) for m in WORD_RE.finditer(str(entry)))
    return frozenset(out)


class Perturbation(ABC):
    """A seeded, batched, meaning-preserving text perturbation.

    Subclasses implement :meth:`perturb_one` (one text, one generator) and set ``name``: a short
    id used in per-example files and metric keys (``rob/acc_keyboard_typo``...). Composites
    (:class:`~sua_exp.perturb.pipeline.Pipeline`, :class:`~sua_exp.perturb.pipeline.Mixture`)
    derive their name from their steps.
    """

    name: str = "perturbation"

    def __init__(self, rate: float = 0.1, seed: int = 0, protected_words: Sequence[str] = ()) -> None:
        self.rate = _check_rate(rate)
        self.seed = int(seed)
        self.protected_words: frozenset[str] = _normalize_protected(protected_words)

    # ------------------------------------------------------------------ to implement
    @abstractmethod
    def perturb_one(self, text: str, rng: random.Random) -> str:
        """Perturb one text with the given generator (all randomness must come from ``rng``)."""

    def perturb_view(self, text: str, rng: random.Random, view: int) -> str:
        """Perturb one text for neighbourhood view ``view``; composites that depend on the view
        (:class:`~sua_exp.perturb.pipeline.Mixture`) override this, leaves ignore ``view``."""
        return self.perturb_one(text, rng)

    def count_eligible(self, text: str) -> int:
        """Number of eligible positions of ``text`` (the denominator of ``rate``)."""
        raise NotImplementedError(f"{type(self).__name__} does not define eligible positions")

    # ------------------------------------------------------------------ public API
    def rng_for(self, text: str, view: int = 0, seed: int | None = None) -> random.Random:
        """The generator that :meth:`__call__` uses for ``text`` in view ``view``."""
        return random.Random(stable_key(self.seed if seed is None else seed, self.name, view, text))

    def __call__(self, texts: Sequence[str], view: int = 0, seed: int | None = None) -> list[str]:
        """Perturb a batch; the output for a text depends only on (seed, name, view, text)."""
        if isinstance(texts, str):
            raise TypeError("pass a sequence of strings; use perturb_text() for a single string")
        seed = self.seed if seed is None else int(seed)
        view = int(view)
        out = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] is {type(text).__name__}, expected str")
            out.append(self.perturb_view(text, random.Random(stable_key(seed, self.name, view, text)), view))
        return out

    def perturb_text(self, text: str, view: int = 0, seed: int | None = None) -> str:
        """Perturb a single string (same result as ``self([text], view, seed)[0]``)."""
        return self([text], view=view, seed=seed)[0]

    def neighbourhood(self, texts: Sequence[str], num_views: int, seed: int | None = None) -> list[list[str]]:
        """``num_views`` perturbed views of each text: a ``[N][M]`` nested list (view m = ``view=m``)."""
        if num_views < 0:
            raise ValueError(f"num_views must be >= 0, got {num_views}")
        views = [self(texts, view=m, seed=seed) for m in range(num_views)]
        return [[views[m][i] for m in range(num_views)] for i in range(len(texts))]

    # ------------------------------------------------------------------ variants
    def scaled(self, factor: float) -> Perturbation:
        """A copy whose rate is ``min(1, rate * factor)`` (used by ``Pipeline.strength``)."""
        if factor < 0:
            raise ValueError(f"factor must be >= 0, got {factor}")
        new = copy.copy(self)
        new.rate = min(1.0, self.rate * float(factor))
        return new

    def with_protected(self, words: Iterable[str]) -> Perturbation:
        """A copy that additionally protects ``words``."""
        new = copy.copy(self)
        new.protected_words = self.protected_words | _normalize_protected(words)
        return new

    # ------------------------------------------------------------------ helpers for subclasses
    def is_protected(self, word: str) -> bool:
        return bool(self.protected_words) and normalize_word(word) in self.protected_words

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, rate={self.rate}, seed={self.seed})"
