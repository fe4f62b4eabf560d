"""Base class and shared helpers of the text perturbation library.

Every perturbation is a pure function of ``(seed, name, view, text)``, drawn from one of two
per-text sources of randomness (never Python's salted ``hash()``):

* the default: a generator ``random.Random(stable_key(seed, name, view, text))``, where
  :func:`stable_key` hashes its arguments with BLAKE2b (Python guarantees the stream of
  ``Random.random()`` for a given seed; ``choice``/``sample``/``shuffle`` have been stable since
  3.2 but are not formally guaranteed across Python minor versions);
* :class:`DrawPerturbation` (hot perturbations such as keyboard typos and synonym swaps): a block
  of 32-bit draws read from SHAKE-128 of the same fields (:func:`text_draws`). Seeding a Mersenne
  Twister costs more than a whole typo edit; one hash call per text is cheap and platform-free.

The output for a text does therefore not depend on the batch it is in, its position in the batch,
the process, the number of DataLoader workers or ``PYTHONHASHSEED``.

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
import functools
import hashlib
import math
import random
import re
import struct
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "WORD_RE",
    "DrawFn",
    "DrawPerturbation",
    "Perturbation",
    "draw_prefix",
    "match_case",
    "normalize_word",
    "num_edits",
    "rng_draws",
    "sample_with_draws",
    "stable_key",
    "text_draws",
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


#: Randomness of a :class:`DrawPerturbation`: ``draws(m)`` returns ``m`` independent uniform
#: 32-bit integers; ``u * n >> 32`` turns one into an index in ``range(n)`` (bias below n / 2**32).
DrawFn = Callable[[int], Sequence[int]]


@functools.lru_cache(maxsize=256)
def _uint32s(m: int) -> struct.Struct:
    return struct.Struct(f"<{m}I")  # little-endian: the same draws on every platform


def draw_prefix(seed: int, name: str, view: int) -> bytes:
    """The per-batch head of the :func:`text_draws` input (built once per batch, not per text)."""
    return f"sua-draws\x1f{int(seed)}\x1f{name}\x1f{int(view)}\x1f".encode()


def text_draws(prefix: bytes, text: str, m: int) -> tuple[int, ...]:
    """``m`` uniform 32-bit draws for ``text``: SHAKE-128 of ``prefix + text`` (an extendable-output
    hash, so one call yields any number of draws), read as little-endian uint32s."""
    if m <= 0:
        return ()
    data = prefix + text.encode("utf-8", "surrogatepass")
    return _uint32s(m).unpack(hashlib.shake_128(data).digest(4 * m))


def rng_draws(rng: random.Random, m: int) -> tuple[int, ...]:
    """``m`` uniform 32-bit draws from ``rng`` (composites hand each step a child generator)."""
    if m <= 0:
        return ()
    return _uint32s(m).unpack(rng.getrandbits(32 * m).to_bytes(4 * m, "little"))


def sample_with_draws(pool: list, k: int, u: Sequence[int]) -> list:
    """``k`` distinct items of ``pool`` picked by the draws ``u[:k]`` (a partial Fisher-Yates
    shuffle: ``pool`` is reordered in place; ``k <= len(pool)``)."""
    n = len(pool)
    for j in range(k):
        r = j + (u[j] * (n - j) >> 32)
        pool[j], pool[r] = pool[r], pool[j]
    return pool[:k]


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
        """The generator that :meth:`__call__` uses for ``text`` in view ``view`` (default path;
        a :class:`DrawPerturbation` reads :func:`text_draws` instead)."""
        return random.Random(stable_key(self.seed if seed is None else seed, self.name, view, text))

    def __call__(self, texts: Sequence[str], view: int = 0, seed: int | None = None) -> list[str]:
        """Perturb a batch; the output for a text depends only on (seed, name, view, text)."""
        if isinstance(texts, str):
            raise TypeError("pass a sequence of strings; use perturb_text() for a single string")
        seed = self.seed if seed is None else int(seed)
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] is {type(text).__name__}, expected str")
        return self._perturb_batch(texts, seed, int(view))

    def _perturb_batch(self, texts: list[str], seed: int, view: int) -> list[str]:
        """Perturb validated texts; the default seeds one ``random.Random`` per text."""
        name = self.name
        return [self.perturb_view(t, random.Random(stable_key(seed, name, view, t)), view) for t in texts]

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


class DrawPerturbation(Perturbation):
    """A leaf perturbation that takes its randomness as a block of 32-bit draws (:data:`DrawFn`).

    In a batch, the draws of a text come from :func:`text_draws` of ``(seed, name, view, text)``:
    one hash call instead of seeding a Mersenne Twister, which costs more than a whole typo edit.
    Inside composites, which hand a generator to their steps, :meth:`perturb_one` reads them from
    that generator (:func:`rng_draws`). ``view`` only enters through the draws.
    """

    @abstractmethod
    def perturb_draws(self, text: str, draws: DrawFn) -> str:
        """Perturb one text; call ``draws`` at most once, with the number of draws needed."""

    def perturb_one(self, text: str, rng: random.Random) -> str:
        return self.perturb_draws(text, functools.partial(rng_draws, rng))

    def _perturb_batch(self, texts: list[str], seed: int, view: int) -> list[str]:
        prefix = draw_prefix(seed, self.name, view)
        perturb, draws = self.perturb_draws, text_draws
        return [perturb(t, functools.partial(draws, prefix, t)) for t in texts]
